"""Checks for notebook 05 (multi-head attention): ``MultiHeadAttention(d_model, num_heads)``.

Every expected value comes from ``torch.nn.MultiheadAttention(batch_first=True)`` with the
student's weights copied into it (``in_proj_weight`` = q, k, v projections stacked), never
from a reference solution. Conventions: inputs ``(batch, seq, d_model)``; ``mask`` boolean,
True = may attend (the OPPOSITE of ``nn.MultiheadAttention``'s ``attn_mask``); weights
``(batch, num_heads, n_q, n_k)``; a fully masked query row gets all-zero weights, never NaN.
"""
from __future__ import annotations

from typing import Any, Callable

from ._framework import Checker, Report

_LAYOUT_HINT = ("split d_model into heads with reshape (batch, seq, heads, d_head) and THEN "
                "transpose to (batch, heads, seq, d_head); merge back with the inverse "
                "(transpose, then reshape). Scale by sqrt(d_head), apply out_proj last.")


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
    """'' when outputs and per-head weights agree, else what differs."""
    import torch

    with torch.no_grad():
        out, w = ours(q, k, v, mask=mask)
        attn_mask = None if mask is None else ~mask
        ref_out, ref_w = twin(q, k, v, attn_mask=attn_mask, need_weights=True,
                              average_attn_weights=False)
    if tuple(w.shape) != tuple(ref_w.shape):
        return f"weights have shape {tuple(w.shape)}, expected {tuple(ref_w.shape)}"
    if not torch.allclose(w, ref_w, atol=1e-5):
        return f"per-head weights differ (max abs diff {(w - ref_w).abs().max():.3g})"
    if not torch.allclose(out, ref_out, atol=1e-5):
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
        assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5), \
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

    with checker.check("a causal mask (True = may attend) gives nn.MultiheadAttention's result",
                       hint="True means MAY attend: put -inf where the mask is False before "
                            "the softmax (nn.MultiheadAttention's attn_mask means the opposite)."):
        mha = cls(8, 2)
        causal = torch.ones(5, 5, dtype=torch.bool).tril()
        problem = _compare(mha, torch_twin(mha), x, x, x, mask=causal)
        assert not problem, problem

    with checker.check("a fully masked query row gets zero weights, not NaN",
                       hint="softmax of a row of -inf is 0/0 = NaN; replace those rows by 0."):
        mask = torch.ones(5, 5, dtype=torch.bool)
        mask[2] = False
        with torch.no_grad():
            out, w = cls(8, 2)(x, x, x, mask=mask)
        assert not torch.isnan(w).any() and not torch.isnan(out).any(), "NaN in the result"
        assert torch.all(w[:, :, 2] == 0), f"weights of the masked row: {w[0, :, 2].tolist()}"
    return checker.report()
