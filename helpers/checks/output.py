"""Checks for notebook 04 (weighted output): ``scaled_dot_product_attention`` and
``AttentionLayer``.

Expected values come from ``torch.nn.functional.scaled_dot_product_attention`` (whose bool
``attn_mask`` also means True = may attend, and which returns zeros for a query with nothing
to attend to) and from ``torch.softmax``; never from a reference solution.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ._framework import Checker, Report

# Shapes chosen so that every size differs: scaling by d_v or n_k, or mixing up n_q and n_k,
# shows up as a wrong value or a wrong shape rather than passing by coincidence.
N_Q, N_K, D_K, D_V = 3, 5, 4, 6


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


_PAIR_HINT = "return both the output and the weights: `return output, weights`."
_VALUE_HINT = ("scores = Q K^T / sqrt(d_k) with d_k = the size of the last axis of Q and K; "
               "softmax over the keys (last axis); output = weights @ V.")
_BATCH_HINT = ("transpose only the last two axes of K (swapaxes(-1, -2) / transpose(-2, -1)); "
               "`.T` reverses every axis of a 3-D array.")
_MASK_HINT = ("mask is True where a query may attend: masked scores get weight exactly 0; a row "
              "with nothing to attend to gets zero weights and a zero output, not NaN.")


def check_scaled_dot_product_attention(fn: Callable) -> Report:
    """Property checks for ``scaled_dot_product_attention(Q, K, V, mask=None)``."""
    checker = Checker("scaled_dot_product_attention")
    Q, K, V = _inputs()

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

    with checker.check("matches torch's scaled_dot_product_attention",
                       hint=_VALUE_HINT):
        out, w = _pair(fn(Q, K, V), "scaled_dot_product_attention")
        exp_out, exp_w = _expected(Q, K, V)
        assert np.allclose(_as_numpy(w), exp_w, atol=1e-6), "the weights differ from softmax(QK^T/sqrt(d_k))"
        assert np.allclose(_as_numpy(out), exp_out, atol=1e-6), "the output differs from torch's"

    with checker.check("leading batch and head dimensions (2, 3, n, d) work",
                       hint=_BATCH_HINT):
        Qb, Kb, Vb = _inputs(2, 3, seed=1)
        out, w = _pair(fn(Qb, Kb, Vb), "scaled_dot_product_attention")
        exp_out, exp_w = _expected(Qb, Kb, Vb)
        assert _as_numpy(out).shape == exp_out.shape, \
            f"output shape {_as_numpy(out).shape}, expected {exp_out.shape}"
        assert np.allclose(_as_numpy(out), exp_out, atol=1e-6), "batched output differs from torch's"
        assert np.allclose(_as_numpy(w), exp_w, atol=1e-6), "batched weights differ"

    with checker.check("the mask is applied (True = may attend) and a fully masked row gives 0",
                       hint=_MASK_HINT):
        mask = np.tril(np.ones((N_Q, N_K), dtype=bool))
        mask[1] = False
        out, w = _pair(fn(Q, K, V, mask=mask), "scaled_dot_product_attention")
        out, w = _as_numpy(out), _as_numpy(w)
        exp_out, exp_w = _expected(Q, K, V, mask)
        assert not np.any(np.isnan(out)), "the output contains NaN"
        assert np.all(w[~mask] == 0.0), f"masked weights are not 0: {np.round(w, 3).tolist()}"
        assert np.allclose(w, exp_w, atol=1e-6), f"weights with a mask: {np.round(w, 3).tolist()}"
        assert np.allclose(out, exp_out, atol=1e-6), "the masked output differs from torch's"

    with checker.check("torch tensors in give torch tensors out, with gradients",
                       hint="use operations that work on tensors (`@`, transpose of the last two "
                            "axes, torch.softmax) and do not convert to numpy on the way."):
        import torch

        q, k, v = (torch.tensor(a, requires_grad=True) for a in _inputs(2, seed=2))
        out, w = _pair(fn(q, k, v), "scaled_dot_product_attention")
        assert isinstance(out, torch.Tensor) and isinstance(w, torch.Tensor), \
            f"returned {type(out).__name__} and {type(w).__name__}"
        out.sum().backward()
        assert q.grad is not None and torch.isfinite(q.grad).all(), "no gradient reached Q"

    with checker.check("the inputs are not modified", hint="never write into Q, K, V or mask."):
        copies = [a.copy() for a in (Q, K, V)]
        fn(Q, K, V, mask=np.ones((N_Q, N_K), dtype=bool))
        assert all(np.array_equal(a, b) for a, b in zip((Q, K, V), copies)), "an input changed"
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

    with checker.check("forward returns (output, weights) with the right shapes",
                       hint=_PAIR_HINT):
        out, w = call(q, k, v)
        assert tuple(out.shape) == (2, N_Q, D_V), f"output shape {tuple(out.shape)}"
        assert tuple(w.shape) == (2, N_Q, N_K), f"weights shape {tuple(w.shape)}"

    with checker.check("matches torch's scaled_dot_product_attention", hint=_VALUE_HINT):
        out, w = call(q, k, v)
        exp_out, exp_w = _expected(q, k, v)
        assert np.allclose(_as_numpy(w), exp_w, atol=1e-6), "the weights differ from softmax(QK^T/sqrt(d_k))"
        assert np.allclose(_as_numpy(out), exp_out, atol=1e-6), "the output differs from torch's"

    with checker.check("the mask is applied (True = may attend) and a fully masked row gives 0",
                       hint=_MASK_HINT):
        mask = torch.ones(N_Q, N_K, dtype=torch.bool).tril()
        mask[1] = False
        out, w = call(q, k, v, mask=mask)
        exp_out, exp_w = _expected(q, k, v, mask.numpy())
        assert not torch.isnan(out).any(), "the output contains NaN"
        assert np.allclose(_as_numpy(w), exp_w, atol=1e-6), "weights with a mask differ"
        assert np.allclose(_as_numpy(out), exp_out, atol=1e-6), "the masked output differs"

    with checker.check("gradients flow back to q, k and v",
                       hint="stay in torch (no .numpy(), no .detach()) so autograd can follow."):
        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
        out, _ = call(qg, kg, vg)
        out.square().sum().backward()
        for name, t in (("q", qg), ("k", kg), ("v", vg)):
            assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, \
                f"no useful gradient reached {name}"
    return checker.report()
