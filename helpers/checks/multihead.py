"""Checks for notebook 05 (multi-head attention): ``MultiHeadAttention(d_model, num_heads)``.

Every expected value comes from ``torch.nn.MultiheadAttention(batch_first=True)`` with the
student's weights copied into it (``in_proj_weight`` = q, k, v projections stacked), never
from a reference solution. Conventions (COURSE_SPEC 3.1): inputs ``(batch, seq, d_model)``;
``mask`` boolean, True = may attend (the OPPOSITE of ``nn.MultiheadAttention``'s
``attn_mask``), 2-D ``(n_q, n_k)`` or 4-D broadcastable to ``(batch, num_heads, n_q, n_k)``,
any other rank a ValueError; weights ``(batch, num_heads, n_q, n_k)``; a fully masked query
row gets all-zero weights, never NaN, and finite gradients. The property names are the ones
the notebook's hidden tests cite (``# property: <name>``).
"""
from __future__ import annotations

from typing import Any, Callable

from ._framework import Checker, Report

_LAYOUT_HINT = ("split d_model into heads with reshape (batch, seq, heads, d_head) and THEN "
                "transpose to (batch, heads, seq, d_head); merge back with the inverse "
                "(transpose, then reshape). Scale by sqrt(d_head), apply out_proj last.")
_RANK_HINT = ("check mask.dim() at the start of forward: accept 2-D (n_q, n_k) and 4-D "
              "(batch or 1, heads or 1, n_q, n_k), and raise ValueError for anything else, "
              "saying which shapes are allowed. A 3-D mask would broadcast silently as "
              "(heads, n_q, n_k), while other libraries read it as (batch, n_q, n_k).")
_MASKED_GRAD_HINT = (
    "softmax of a row of -inf is 0/0 = NaN. Zeroing that row afterwards (torch.where, "
    "nan_to_num) repairs the output, but if the -inf was ADDED to the scores (a float bias) "
    "the backward pass still carries the NaN into the projections. Put -inf in with "
    "masked_fill or torch.where (their backward drops the filled entries), or give fully "
    "masked rows a finite score before the softmax and zero their weights after it. "
    "And stay in torch (no .detach(), no numpy) so every projection gets a gradient.")


def torch_twin(module: Any):
    """An ``nn.MultiheadAttention(batch_first=True)`` holding ``module``'s weights."""
    import torch
    from torch import nn

    d_model = module.q_proj.in_features
    twin = nn.MultiheadAttention(d_model, module.num_heads, batch_first=True)
    with torch.no_grad():
        twin.in_proj_weight.copy_(torch.cat([module.q_proj.weight, module.k_proj.weight,
                                             module.v_proj.weight]))
        twin.in_proj_bias.copy_(torch.cat([module.q_proj.bias, module.k_proj.bias,
                                           module.v_proj.bias]))
        twin.out_proj.weight.copy_(module.out_proj.weight)
        twin.out_proj.bias.copy_(module.out_proj.bias)
    return twin.eval()


def _compare(ours: Any, twin: Any, q, k, v, mask=None) -> str:
    """'' when outputs and per-head weights agree, else what differs. ``mask`` (True = may
    attend) is 2-D or 4-D; nn.MultiheadAttention gets it inverted, 4-D as (batch*heads, ...)."""
    import torch

    attn_mask = None
    if mask is not None:
        if mask.dim() == 4:
            b, h, n_q, n_k = q.shape[0], twin.num_heads, q.shape[1], k.shape[1]
            attn_mask = ~mask.expand(b, h, n_q, n_k).reshape(b * h, n_q, n_k)
        else:
            attn_mask = ~mask
    with torch.no_grad():
        out, w = ours(q, k, v, mask=mask)
        ref_out, ref_w = twin(q, k, v, attn_mask=attn_mask, need_weights=True,
                              average_attn_weights=False)
    if tuple(w.shape) != tuple(ref_w.shape):
        return f"weights have shape {tuple(w.shape)}, expected {tuple(ref_w.shape)}"
    if not torch.allclose(w.to(ref_w.dtype), ref_w, rtol=1e-4, atol=1e-5):
        return f"per-head weights differ (max abs diff {(w - ref_w).abs().max():.3g})"
    if not torch.allclose(out.to(ref_out.dtype), ref_out, rtol=1e-4, atol=1e-5):
        return f"outputs differ (max abs diff {(out - ref_out).abs().max():.3g})"
    return ""


def check_multi_head_attention(cls: Callable) -> Report:
    """Property checks for the class ``MultiHeadAttention(d_model, num_heads)``."""
    import torch
    from torch import nn

    checker = Checker("MultiHeadAttention")
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)

    with checker.check("has q_proj, k_proj, v_proj, out_proj = nn.Linear(d_model, d_model)",
                       hint="create the four projections in __init__ (with bias, the default), "
                            "after super().__init__()."):
        mha = cls(8, 2)
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            layer = getattr(mha, name, None)
            assert isinstance(layer, nn.Linear), f"{name} is {type(layer).__name__}, not nn.Linear"
            assert (layer.in_features, layer.out_features) == (8, 8), \
                f"{name} maps {layer.in_features} -> {layer.out_features}, expected 8 -> 8"
            assert layer.bias is not None, f"{name} has no bias"
        assert getattr(mha, "num_heads", None) == 2, "store num_heads as self.num_heads"

    with checker.check("returns (output, weights) of shapes (batch, n_q, d_model) and "
                       "(batch, heads, n_q, n_k)",
                       hint="keep the heads in the weights: do not average them."):
        out, w = cls(8, 2)(x, x, x)
        assert tuple(out.shape) == (2, 5, 8), f"output shape {tuple(out.shape)}, expected (2, 5, 8)"
        assert tuple(w.shape) == (2, 2, 5, 5), f"weights shape {tuple(w.shape)}, expected (2, 2, 5, 5)"

    with checker.check("each head's weights sum to 1 over the keys",
                       hint="softmax over the last axis (the keys), once per head and query."):
        _, w = cls(8, 2)(x, x, x)
        assert torch.allclose(w.sum(-1), torch.ones((), dtype=w.dtype), rtol=0, atol=1e-5), \
            f"row sums range from {w.sum(-1).min():.3f} to {w.sum(-1).max():.3f}"

    with checker.check("self-attention equals nn.MultiheadAttention with the same weights "
                       "(batch 2, 2 heads)", hint=_LAYOUT_HINT):
        mha = cls(8, 2)
        problem = _compare(mha, torch_twin(mha), x, x, x)
        assert not problem, problem

    with checker.check("cross-attention (3 queries, 5 keys, 4 heads) equals nn.MultiheadAttention",
                       hint="queries come from `query`, keys from `key`, values from `value`: "
                            "each through its own projection; n_q and n_k may differ."):
        mha = cls(8, 4)
        q, v = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
        problem = _compare(mha, torch_twin(mha), q, x, v)
        assert not problem, problem

    with checker.check("masks (True = may attend), 2-D causal and 4-D padding, give "
                       "nn.MultiheadAttention's result",
                       hint="True means MAY attend: put -inf where the mask is False before "
                            "the softmax (nn.MultiheadAttention's attn_mask means the opposite). "
                            "A (n_q, n_k) mask broadcasts over batch and heads as it is; a 4-D "
                            "mask (batch, 1, 1, n_k) lines up with the (batch, heads, n_q, n_k) "
                            "scores."):
        mha = cls(8, 2)
        twin = torch_twin(mha)
        causal = torch.ones(5, 5, dtype=torch.bool).tril()
        padding = torch.tensor([[True, True, True, False, False], [True] * 5])[:, None, None, :]
        for mask, what in ((causal, "causal (5, 5)"), (padding, "padding (2, 1, 1, 5)")):
            problem = _compare(mha, twin, x, x, x, mask=mask)
            assert not problem, f"{what} mask: {problem}"

    with checker.check("a fully masked query row gets zero weights, not NaN",
                       hint="softmax of a row of -inf is 0/0 = NaN, and a row filled with a "
                            "large negative number such as -1e9 gets uniform weights; give "
                            "such rows zero weights (so their output is out_proj's bias)."):
        mask = torch.ones(5, 5, dtype=torch.bool)
        mask[2] = False
        with torch.no_grad():
            out, w = cls(8, 2)(x, x, x, mask=mask)
        assert not torch.isnan(w).any() and not torch.isnan(out).any(), "NaN in the result"
        assert torch.all(w[:, :, 2] == 0), f"weights of the masked row: {w[0, :, 2].tolist()}"

    with checker.check("a mask that is not 2-D or 4-D raises ValueError", hint=_RANK_HINT):
        mha = cls(8, 2)
        for bad in (torch.ones(1, 5, 5, dtype=torch.bool), torch.ones(5, dtype=torch.bool)):
            try:
                with torch.no_grad():
                    mha(x, x, x, mask=bad)
            except ValueError:
                continue
            raise AssertionError(f"a {bad.dim()}-D mask of shape {tuple(bad.shape)} was accepted")

    with checker.check("gradients reach every projection and stay finite through a fully "
                       "masked row", hint=_MASKED_GRAD_HINT):
        mha = cls(8, 2).double()
        gen = torch.Generator().manual_seed(1)
        q = torch.randn(2, 3, 8, dtype=torch.float64, generator=gen, requires_grad=True)
        kv = torch.randn(2, 4, 8, dtype=torch.float64, generator=gen, requires_grad=True)
        mask = torch.tensor([[True, False, True, True], [False] * 4, [True, True, False, False]])
        out, _ = mha(q, kv, kv, mask=mask)
        (out * torch.randn(out.shape, dtype=out.dtype, generator=gen)).sum().backward()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            g = getattr(mha, name).weight.grad
            assert g is not None, f"no gradient reaches {name}"
            assert torch.isfinite(g).all(), \
                f"the gradient of {name}.weight has NaN/inf with query row 1 fully masked"
            assert g.abs().sum() > 0, f"the gradient of {name}.weight is all zero"
        for name, t in (("query", q), ("key/value", kv)):
            assert t.grad is not None and torch.isfinite(t.grad).all(), \
                f"the gradient of the {name} input is missing or not finite"

    with checker.check("the inputs are not modified",
                       hint="never write into query, key, value or mask (no in-place ops)."):
        q, kv = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
        mask = torch.ones(3, 5, dtype=torch.bool).tril(diagonal=2)
        before = [t.clone() for t in (q, kv, mask)]
        mha = cls(8, 2)
        with torch.no_grad():
            mha(q, kv, kv)
            mha(q, kv, kv, mask=mask)
        assert all(torch.equal(a, b) for a, b in zip((q, kv, mask), before)), "an input changed"
    return checker.report()
