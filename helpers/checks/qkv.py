"""Checks for notebook 01 (queries, keys and values): ``project_qkv`` and ``dot_scores``.

Each check feeds small seeded inputs to the student's function and compares with numpy's
matrix product, which plays the role of a closed form here. Hints name the concept that
is off (which weight makes which matrix, which axes the product contracts), never code.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._framework import Checker, Report

__all__ = ["check_project_qkv", "check_dot_scores"]

QKV_BATCH = "works with any leading batch axes (X of shape (..., n, d_model))"
QKV_GRADIENT = "torch input stays differentiable: gradients flow back to X and the weights"
SCORES_GRADIENT = "torch input stays differentiable: gradients flow back to Q and K"


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _shape(x: Any) -> tuple:
    return tuple(getattr(x, "shape", ()))


def _as_numpy(x: Any) -> np.ndarray:
    """Any array-like (numpy, torch with or without grad) as a float64 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _unpack3(out: Any) -> tuple:
    assert isinstance(out, (tuple, list)) and len(out) == 3, (
        f"expected a tuple (Q, K, V) of three arrays; got {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return tuple(out)


def _qkv_inputs(seed: int = 0, batch: tuple = ()):
    """X (*batch, 3, 4) and weights W_q, W_k (4, 2), W_v (4, 5): d_k != d_v != d_model."""
    rng = _rng(seed)
    X = rng.standard_normal((*batch, 3, 4))
    W_q, W_k, W_v = (rng.standard_normal((4, 2)), rng.standard_normal((4, 2)),
                     rng.standard_normal((4, 5)))
    return X, W_q, W_k, W_v


def check_project_qkv(fn: Callable) -> Report:
    """Property checks for ``project_qkv(X, W_q, W_k, W_v) -> (Q, K, V)``."""
    checker = Checker("project_qkv")

    with checker.check("returns three matrices with the right shapes",
                       hint="Q and K have one row per token and d_k columns; V has d_v "
                            "columns. X is (n, d_model), each W is (d_model, d_out)."):
        X, W_q, W_k, W_v = _qkv_inputs()
        Q, K, V = _unpack3(fn(X, W_q, W_k, W_v))
        got = (_shape(Q), _shape(K), _shape(V))
        assert got == ((3, 2), (3, 2), (3, 5)), (
            f"for X (3, 4), W_q (4, 2), W_k (4, 2), W_v (4, 5) expected shapes "
            f"(3, 2), (3, 2), (3, 5); got {got[0]}, {got[1]}, {got[2]}")

    with checker.check("each of Q, K, V is X times its own weight matrix",
                       hint="every token's row of X is multiplied by the weight matrix: "
                            "queries use W_q, keys use W_k, values use W_v."):
        X, W_q, W_k, W_v = _qkv_inputs(seed=1)
        out = [_as_numpy(m) for m in _unpack3(fn(X, W_q, W_k, W_v))]
        names, weights = ("Q", "K", "V"), (W_q, W_k, W_v)
        for name, got, W in zip(names, out, weights):
            want = X @ W
            if got.shape != want.shape or not np.allclose(got, want):
                used = [n for n, W2 in zip(("W_q", "W_k", "W_v"), weights)
                        if (X @ W2).shape == got.shape and np.allclose(got, X @ W2)]
                extra = f" (it equals X projected with {used[0]})" if used else ""
                raise AssertionError(f"{name} does not match the projection of X{extra}")

    with checker.check(QKV_BATCH,
                       hint="the weights are shared by every sentence in the batch (and every "
                            "head); the projection acts on the last axis of X only."):
        for batch in ((2,), (2, 3)):          # (batch, n, d_model) and (batch, heads, n, d_model)
            X, W_q, W_k, W_v = _qkv_inputs(seed=2, batch=batch)
            Q, K, V = (_as_numpy(m) for m in _unpack3(fn(X, W_q, W_k, W_v)))
            want = (*batch, 3, 2), (*batch, 3, 5)
            assert (Q.shape, V.shape) == want, (
                f"for X {X.shape} expected Q {want[0]} and V {want[1]}; got {Q.shape}, {V.shape}")
            assert (np.allclose(Q, X @ W_q) and np.allclose(K, X @ W_k)
                    and np.allclose(V, X @ W_v)), (
                f"for X {X.shape} the result differs from projecting each sentence on its own")

    with checker.check("torch tensors in, torch tensors out (float32 stays float32)",
                       hint="use operations that work for both numpy arrays and torch "
                            "tensors, such as the @ operator, and do not convert types."):
        import torch
        X, W_q, W_k, W_v = (torch.tensor(a, dtype=torch.float32) for a in _qkv_inputs(3))
        out = _unpack3(fn(X, W_q, W_k, W_v))
        kinds = [type(m).__name__ for m in out]
        assert all(isinstance(m, torch.Tensor) for m in out), (
            f"expected three torch.Tensor; got {', '.join(kinds)}")
        dtypes = [str(m.dtype) for m in out]
        assert all(m.dtype == torch.float32 for m in out), (
            f"expected float32 outputs for float32 inputs; got {', '.join(dtypes)}")

    with checker.check("numpy arrays in, numpy arrays out (float32 stays float32)",
                       hint="keep the input's type and precision: no conversion needed."):
        X, W_q, W_k, W_v = (a.astype(np.float32) for a in _qkv_inputs(4))
        out = _unpack3(fn(X, W_q, W_k, W_v))
        kinds = [f"{type(m).__name__} {getattr(m, 'dtype', '')}" for m in out]
        assert all(isinstance(m, np.ndarray) and m.dtype == np.float32 for m in out), (
            f"expected three float32 numpy arrays; got {', '.join(kinds)}")

    with checker.check(QKV_GRADIENT,
                       hint="on torch tensors use torch operations only (the @ operator; no "
                            "numpy functions, .detach() or .numpy()), so autograd can follow "
                            "Q, K and V back to X and the weights."):
        import torch
        X, W_q, W_k, W_v = (torch.tensor(a, requires_grad=True) for a in _qkv_inputs(6))
        out = _unpack3(fn(X, W_q, W_k, W_v))
        assert all(isinstance(m, torch.Tensor) and m.requires_grad for m in out), (
            "Q, K and V of tensors that require grad should require grad: autograd lost track")
        sum(m.sum() for m in out).backward()
        # d(sum of Q)/dW_q[i, c] = sum of column i of X over the tokens
        col_sums = X.detach().sum(dim=0)[:, None]
        for name, W in (("W_q", W_q), ("W_k", W_k), ("W_v", W_v)):
            assert W.grad is not None and torch.allclose(W.grad, col_sums.expand_as(W)), (
                f"the gradient with respect to {name} is wrong")
        want_x = sum(W.detach().sum(dim=1) for W in (W_q, W_k, W_v)).expand_as(X)
        assert X.grad is not None and torch.allclose(X.grad, want_x), (
            "the gradient with respect to X is wrong")

    with checker.check("leaves its inputs unchanged",
                       hint="compute new arrays instead of writing into X or the weights."):
        inputs = _qkv_inputs(5)
        copies = [a.copy() for a in inputs]
        fn(*inputs)
        for name, a, c in zip(("X", "W_q", "W_k", "W_v"), inputs, copies):
            assert np.array_equal(a, c), f"{name} was modified"

    return checker.report()


def _scores_inputs(seed: int = 0, batch: tuple = (), n_q: int = 3, n_k: int = 5, d_k: int = 4):
    rng = _rng(seed)
    return rng.standard_normal((*batch, n_q, d_k)), rng.standard_normal((*batch, n_k, d_k))


def _diagnose_scores(Q: np.ndarray, K: np.ndarray, got: np.ndarray, want: np.ndarray) -> str:
    """Name a recognisable mistake in a score matrix, or return ""."""
    raw = Q @ K.T
    d_k, n_k = K.shape[-1], K.shape[0]
    known = [
        (want.T, "your result is transposed: rows should be queries, columns keys"),
        (raw, "your result is the unscaled Q K^T"),
        (raw / d_k, "your result is Q K^T divided by d_k (the same as dividing by "
                    "sqrt(d_k) * sqrt(d_q), since d_q = d_k)"),
        (raw / np.sqrt(n_k), "your result is Q K^T divided by the square root of the "
                             "number of keys"),
    ]
    for candidate, message in known:
        if got.shape == candidate.shape and np.allclose(got, candidate):
            return message
    return ""


def score_properties(fn: Callable, checker: Checker, scale: Callable[[int], float],
                     dtype_hint: str = "") -> None:
    """Shared properties of ``dot_scores`` (scale 1) and ``scaled_scores`` (1/sqrt(d_k)).

    ``dtype_hint`` replaces the generic hint of the type/dtype property (notebook 02 names
    the np.sqrt(d_k) cause there)."""
    with checker.check("shape is (n_q, n_k): one row per query, one column per key",
                       hint="each query is compared with every key, so the result has "
                            "a row per query and a column per key."):
        Q, K = _scores_inputs(0)
        out = fn(Q, K)
        assert _shape(out) == (3, 5), (
            f"for Q (3, 4) and K (5, 4) expected shape (3, 5); got {_shape(out)}")

    with checker.check("entry [i, j] is the dot product of query i with key j"
                       + ("" if scale(4) == 1 else ", divided by sqrt(d_k)"),
                       hint="the dot product runs over the feature axis (the last axis "
                            "of both Q and K)."):
        Q, K = _scores_inputs(1)
        got, want = _as_numpy(fn(Q, K)), (Q @ K.T) * scale(Q.shape[-1])
        if got.shape != want.shape or not np.allclose(got, want):
            why = _diagnose_scores(Q, K, got, want)
            what = (f"entry [0, 0] is {got[0, 0]:.4f}, expected {want[0, 0]:.4f}"
                    if got.shape == want.shape else
                    f"shape {got.shape}, expected {want.shape}")
            raise AssertionError(f"{what}{'; ' + why if why else ''}")

    with checker.check("works with leading batch dimensions (batch, heads, n, d_k)",
                       hint="transpose only the last two axes of K; reversing all axes "
                            "mixes up the batch and head dimensions."):
        for batch in ((2, 3), (4,)):          # (batch, heads) and a single batch axis
            Q, K = _scores_inputs(2, batch=batch)
            got = _as_numpy(fn(Q, K))
            want = np.einsum("...qd,...kd->...qk", Q, K) * scale(4)
            assert got.shape == want.shape, (
                f"for Q {Q.shape} and K {K.shape} expected {want.shape}; got {got.shape}")
            assert np.allclose(got, want), (
                f"for Q {Q.shape}: each batch slice should be scored on its own")

    with checker.check("torch in, torch out; numpy in, numpy out; float32 stays float32",
                       hint=dtype_hint or "the @ operator and swapping the last two axes "
                                          "work for both numpy and torch without converting types."):
        import torch
        Qn, Kn = (a.astype(np.float32) for a in _scores_inputs(3))
        out_np = fn(Qn, Kn)
        assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float32, (
            f"numpy float32 input gave {type(out_np).__name__} {getattr(out_np, 'dtype', '')}")
        out_t = fn(torch.from_numpy(Qn), torch.from_numpy(Kn))
        assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32, (
            f"torch float32 input gave {type(out_t).__name__} {getattr(out_t, 'dtype', '')}")

    with checker.check("leaves Q and K unchanged",
                       hint="compute a new array instead of updating Q or K in place."):
        Q, K = _scores_inputs(4)
        Q0, K0 = Q.copy(), K.copy()
        fn(Q, K)
        assert np.array_equal(Q, Q0), "Q was modified"
        assert np.array_equal(K, K0), "K was modified"


def check_dot_scores(fn: Callable) -> Report:
    """Property checks for ``dot_scores(Q, K) -> Q @ K^T`` over the last two axes."""
    checker = Checker("dot_scores")
    score_properties(fn, checker, lambda d_k: 1.0)
    with checker.check(SCORES_GRADIENT,
                       hint="on torch tensors use torch operations only (the @ operator, "
                            "swapaxes or transpose; no numpy functions, .detach() or "
                            ".numpy()), so autograd can follow the scores back to Q and K."):
        import torch

        gen = torch.Generator().manual_seed(5)
        Q = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        K = torch.randn(5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        out = fn(Q, K)
        assert isinstance(out, torch.Tensor) and out.requires_grad, (
            "the scores of tensors that require grad do not require grad: autograd lost track")
        out.sum().backward()
        # d(sum of scores)/dQ[i] = sum of the keys, d/dK[j] = sum of the queries
        want_q = K.detach().sum(0, keepdim=True).expand(3, 4)
        want_k = Q.detach().sum(0, keepdim=True).expand(5, 4)
        assert Q.grad is not None and torch.allclose(Q.grad, want_q), \
            "the gradient with respect to Q is wrong"
        assert K.grad is not None and torch.allclose(K.grad, want_k), \
            "the gradient with respect to K is wrong"
    return checker.report()
