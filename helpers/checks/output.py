"""Checks for notebook 04 (weighted output): ``scaled_dot_product_attention`` and
``AttentionLayer``.

Expected values come from ``torch.nn.functional.scaled_dot_product_attention`` (whose bool
``attn_mask`` also means True = may attend, and which returns zeros for a query with nothing
to attend to) and from ``torch.softmax``; never from a reference solution. The property
names are the ones the notebook's hidden tests cite (``# property: <name>``).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ._framework import Checker, Report

# Shapes chosen so that every size differs: scaling by d_v or n_k, or mixing up n_q and n_k,
# shows up as a wrong value or a wrong shape rather than passing by coincidence.
N_Q, N_K, D_K, D_V = 3, 5, 4, 6

MASKED_GRAD = "a fully masked row keeps finite gradients"
MASK = "the mask is applied (True = may attend) and a fully masked row gives 0"


def _inputs(*batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(*batch, N_Q, D_K)), rng.normal(size=(*batch, N_K, D_K)),
            rng.normal(size=(*batch, N_K, D_V)))


def _expected(Q, K, V, mask=None):
    """(output, weights) from torch built-ins, as float64 numpy arrays."""
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
    m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if m is not None:
        m = torch.broadcast_to(m, scores.shape)  # torch's SDPA wants the mask's full rank
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    if m is not None:
        scores = scores.masked_fill(~m, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return out.numpy(), weights.numpy()


def _as_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _pair(result: Any, what: str):
    assert isinstance(result, tuple) and len(result) == 2, \
        f"{what} should return a tuple (output, weights); got {type(result).__name__}" + (
            f" of length {len(result)}" if isinstance(result, tuple) else "")
    return result


def _close(got: Any, expected: np.ndarray, what: str) -> None:
    got = _as_numpy(got)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    assert not np.isnan(got).any(), f"{what} contain NaN"
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), \
        f"{what} differ (max abs diff {np.abs(got - expected).max():.3g})"


_PAIR_HINT = "return both the output and the weights: `return output, weights`."
_VALUE_HINT = ("scores = Q K^T / sqrt(d_k) with d_k = the size of the last axis of Q and K; "
               "softmax over the keys (last axis), stable for large scores (subtract the row "
               "maximum, or use torch.softmax); output = weights @ V.")
_BATCH_HINT = ("transpose only the last two axes of K (swapaxes(-1, -2) / transpose(-2, -1)); "
               "`.T` reverses every axis of a 3-D array.")
_MASK_HINT = ("mask is True where a query may attend, and may be (n_k,), (n_q, n_k) or "
              "(batch, 1, 1, n_k): masked scores get weight exactly 0; a row with nothing to "
              "attend to gets zero weights and a zero output, not NaN. A large negative fill "
              "such as -1e9 is not enough: a row that is all -1e9 gets uniform weights.")
_GRAD_HINT = ("stay in torch (no .numpy(), no .detach(), no conversion through numpy) so "
              "autograd can follow every step.")
_MASKED_GRAD_HINT = (
    "softmax of a row of -inf is 0/0 = NaN. Zeroing that row afterwards (torch.where, "
    "nan_to_num) repairs the output, but if the -inf was ADDED to the scores (a float bias, "
    "as in the reference code in the docstring of F.scaled_dot_product_attention) the "
    "backward pass still carries the NaN through the addition into Q and K. Put -inf in "
    "with masked_fill or torch.where (their backward drops the filled entries), or give "
    "fully masked rows a finite score before the softmax and zero their weights after it.")
_DTYPE_HINT = ("return numpy arrays for numpy input and tensors for tensor input, in the "
               "input's dtype: divide by math.sqrt(d_k) (a Python float), not np.sqrt(d_k), "
               "which is a float64 numpy scalar and turns float32 arrays into float64 under "
               "NumPy 2; do not convert with dtype=float or .double().")


def _masked_grad_problem(attend: Callable) -> None:
    """Raise AssertionError unless ``attend(q, k, v, mask) -> output`` keeps finite
    gradients through a fully masked query row and through a fully padded sequence.
    (Their correctness is the gradient check's job; on an empty row a finfo.min bias makes
    finite differences meaningless, so gradcheck would judge the forward pass twice.)"""
    import torch

    gen = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(2, n, 4, dtype=torch.float64, generator=gen, requires_grad=True)
               for n in (3, 4, 4))
    mask = torch.tensor([[True, False, True, True], [False] * 4, [True, True, False, False]])
    out = attend(q, k, v, mask)
    assert not torch.isnan(out).any(), "the output of a fully masked row is NaN (see the mask check)"
    assert out.requires_grad, "the output is not connected to Q, K, V by autograd (see the gradient check)"
    (out * torch.randn(out.shape, dtype=out.dtype, generator=gen)).sum().backward()
    for name, t in (("Q", q), ("K", k), ("V", v)):
        assert t.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(t.grad).all(), \
            f"the gradient of {name} has NaN/inf with query row 1 fully masked"
    pad = torch.tensor([[True, True, False, True], [False] * 4])[:, None, None, :]
    qh, kh, vh = (torch.randn(2, 2, n, 4, dtype=torch.float64, generator=gen, requires_grad=True)
                  for n in (3, 4, 4))
    attend(qh, kh, vh, pad).square().sum().backward()
    for name, t in (("Q", qh), ("K", kh), ("V", vh)):
        assert t.grad is not None and torch.isfinite(t.grad).all(), \
            f"a (batch, 1, 1, n_k) mask with one sequence fully padded gives a non-finite gradient of {name}"


def _gradcheck(attend: Callable) -> None:
    """Autograd equals finite differences, unmasked and with a partial mask (float64)."""
    import torch

    gen = torch.Generator().manual_seed(12)
    q, k, v = (torch.randn(2, n, 3, dtype=torch.float64, generator=gen, requires_grad=True)
               for n in (2, 4, 4))
    out = attend(q, k, v, None)
    assert isinstance(out, torch.Tensor), f"torch input gave {type(out).__name__}, not a tensor"
    out.sum().backward()
    for name, t in (("Q", q), ("K", k), ("V", v)):
        assert t.grad is not None and t.grad.abs().sum() > 0, f"no useful gradient reached {name}"
    mask = torch.tensor([[True, True, False, True], [False, True, True, True]])
    for m, what in ((None, "the output"), (mask, "the masked output")):
        assert torch.autograd.gradcheck(lambda a, b, c: attend(a, b, c, m), (q, k, v),
                                        raise_exception=False), \
            f"the gradients of {what} differ from finite differences"


def check_scaled_dot_product_attention(fn: Callable) -> Report:
    """Property checks for ``scaled_dot_product_attention(Q, K, V, mask=None)``."""
    checker = Checker("scaled_dot_product_attention")
    Q, K, V = _inputs()

    def attend(q, k, v, mask):
        return _pair(fn(q, k, v, mask=mask), "scaled_dot_product_attention")[0]

    with checker.check("returns (output, weights) with shapes (n_q, d_v) and (n_q, n_k)",
                       hint=_PAIR_HINT + " weights: one row per query, one column per key; "
                                         "output: one row per query, d_v columns."):
        out, w = _pair(fn(Q, K, V), "scaled_dot_product_attention")
        out, w = _as_numpy(out), _as_numpy(w)
        assert w.shape == (N_Q, N_K), f"weights shape {w.shape}, expected {(N_Q, N_K)}"
        assert out.shape == (N_Q, D_V), f"output shape {out.shape}, expected {(N_Q, D_V)}"

    with checker.check("the weights of each query sum to 1",
                       hint="apply softmax over the keys, i.e. the last axis of the scores."):
        _, w = _pair(fn(Q, K, V), "scaled_dot_product_attention")
        assert np.allclose(_as_numpy(w).sum(-1), 1.0), \
            f"row sums of the weights: {np.round(_as_numpy(w).sum(-1), 4)}"

    with checker.check("matches torch's scaled_dot_product_attention, also for large scores",
                       hint=_VALUE_HINT):
        for scale, what in ((1.0, ""), (300.0, " for large scores (inputs x 300)")):
            out, w = _pair(fn(Q * scale, K * scale, V), "scaled_dot_product_attention")
            exp_out, exp_w = _expected(Q * scale, K * scale, V)
            _close(w, exp_w, "the weights" + what)
            _close(out, exp_out, "the outputs" + what)

    with checker.check("leading batch and head dimensions (2, 3, n, d) work", hint=_BATCH_HINT):
        Qb, Kb, Vb = _inputs(2, 3, seed=1)
        out, w = _pair(fn(Qb, Kb, Vb), "scaled_dot_product_attention")
        exp_out, exp_w = _expected(Qb, Kb, Vb)
        _close(out, exp_out, "the batched outputs")
        _close(w, exp_w, "the batched weights")

    with checker.check(MASK, hint=_MASK_HINT):
        causal = np.tril(np.ones((N_Q, N_K), dtype=bool))
        causal[1] = False
        padding = np.array([True, False, True, True, False])
        per_sequence = np.array([[True] * 3 + [False] * 2, [False] * 5])[:, None, None, :]
        Qb, Kb, Vb = _inputs(2, 1, seed=3)
        for q, k, v, mask in ((Q, K, V, causal), (Q, K, V, padding), (Qb, Kb, Vb, per_sequence)):
            out, w = _pair(fn(q, k, v, mask=mask), "scaled_dot_product_attention")
            out, w = _as_numpy(out), _as_numpy(w)
            exp_out, exp_w = _expected(q, k, v, mask)
            assert not np.any(np.isnan(out)), f"mask of shape {mask.shape}: the output contains NaN"
            assert np.all(w[~np.broadcast_to(mask, w.shape)] == 0.0), \
                f"mask of shape {mask.shape}: masked weights are not exactly 0"
            _close(w, exp_w, f"with a mask of shape {mask.shape} the weights")
            _close(out, exp_out, f"with a mask of shape {mask.shape} the outputs")

    with checker.check("numpy in gives numpy out, torch in gives torch out, with the input's dtype",
                       hint=_DTYPE_HINT):
        import torch

        for dtype in (np.float64, np.float32):
            out, w = _pair(fn(*(a.astype(dtype) for a in (Q, K, V))), "scaled_dot_product_attention")
            assert isinstance(out, np.ndarray) and isinstance(w, np.ndarray), \
                f"numpy input gave {type(out).__name__} and {type(w).__name__}"
            assert out.dtype == dtype and w.dtype == dtype, \
                f"{np.dtype(dtype)} input gave {out.dtype} output and {w.dtype} weights"
        for tdtype in (torch.float32, torch.float64):
            out, w = _pair(fn(*(torch.tensor(a, dtype=tdtype) for a in (Q, K, V))),
                           "scaled_dot_product_attention")
            assert isinstance(out, torch.Tensor) and isinstance(w, torch.Tensor), \
                f"torch input gave {type(out).__name__} and {type(w).__name__}"
            assert out.dtype == tdtype and w.dtype == tdtype, \
                f"{tdtype} input gave {out.dtype} output and {w.dtype} weights"

    with checker.check("gradients flow back to Q, K and V and match finite differences",
                       hint=_GRAD_HINT):
        _gradcheck(attend)

    with checker.check(MASKED_GRAD, hint=_MASKED_GRAD_HINT):
        _masked_grad_problem(attend)

    with checker.check("the inputs are not modified", hint="never write into Q, K, V or mask."):
        mask = np.ones((N_Q, N_K), dtype=bool)
        mask[0, 1:] = False
        copies = [a.copy() for a in (Q, K, V, mask)]
        fn(Q, K, V, mask=mask)
        fn(Q, K, V)
        assert all(np.array_equal(a, b) for a, b in zip((Q, K, V, mask), copies)), "an input changed"
    return checker.report()


def check_attention_layer(cls: Any) -> Report:
    """Property checks for ``AttentionLayer`` (an ``nn.Module`` with no constructor args)."""
    import torch

    checker = Checker("AttentionLayer")
    q, k, v = (torch.tensor(a) for a in _inputs(2, seed=5))
    layer = None

    with checker.check("AttentionLayer() builds an nn.Module without arguments",
                       hint="subclass torch.nn.Module, call super().__init__() and take no "
                            "constructor arguments (attention itself has no weights)."):
        layer = cls()
        assert isinstance(layer, torch.nn.Module), f"AttentionLayer() is a {type(layer).__name__}"

    def call(*args, **kwargs):
        assert layer is not None, "AttentionLayer() could not be built"
        return _pair(layer(*args, **kwargs), "forward")

    def attend(a, b, c, mask):
        return call(a, b, c, mask=mask)[0]

    with checker.check("forward returns (output, weights) with the right shapes",
                       hint=_PAIR_HINT):
        out, w = call(q, k, v)
        assert tuple(out.shape) == (2, N_Q, D_V), f"output shape {tuple(out.shape)}"
        assert tuple(w.shape) == (2, N_Q, N_K), f"weights shape {tuple(w.shape)}"

    with checker.check("matches torch's scaled_dot_product_attention, with batch and head axes",
                       hint=_VALUE_HINT + " " + _BATCH_HINT):
        for qq, kk, vv in ((q, k, v), tuple(torch.tensor(a) for a in _inputs(2, 3, seed=6))):
            out, w = call(qq, kk, vv)
            exp_out, exp_w = _expected(qq, kk, vv)
            _close(w, exp_w, f"for inputs of shape {tuple(qq.shape)} the weights")
            _close(out, exp_out, f"for inputs of shape {tuple(qq.shape)} the outputs")

    with checker.check(MASK, hint=_MASK_HINT):
        causal = torch.ones(N_Q, N_K, dtype=torch.bool).tril()
        causal[1] = False
        per_sequence = torch.tensor([[True] * 3 + [False] * 2, [False] * 5])[:, None, None, :]
        qb, kb, vb = (torch.tensor(a) for a in _inputs(2, 1, seed=3))
        for qq, kk, vv, mask in ((q, k, v, causal), (qb, kb, vb, per_sequence)):
            out, w = call(qq, kk, vv, mask=mask)
            exp_out, exp_w = _expected(qq, kk, vv, mask.numpy())
            assert not torch.isnan(out).any(), f"mask of shape {tuple(mask.shape)}: the output contains NaN"
            assert torch.all(w.masked_select(~mask.expand_as(w)) == 0), \
                f"mask of shape {tuple(mask.shape)}: masked weights are not exactly 0"
            _close(w, exp_w, f"with a mask of shape {tuple(mask.shape)} the weights")
            _close(out, exp_out, f"with a mask of shape {tuple(mask.shape)} the outputs")

    with checker.check("gradients flow back to q, k and v and match finite differences",
                       hint=_GRAD_HINT):
        _gradcheck(attend)

    with checker.check(MASKED_GRAD, hint=_MASKED_GRAD_HINT):
        _masked_grad_problem(attend)
    return checker.report()
