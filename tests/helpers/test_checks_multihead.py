"""helpers.checks.multihead: a correct multi-head layer passes every property; each classic
mistake (split without transpose, missing out_proj, sqrt(d_model), inverted mask, NaN for a
fully masked row, averaged heads) fails the property that names it."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers.checks import check_multi_head_attention
from helpers.checks.multihead import torch_twin


# --- an implementation written for these tests (not shipped anywhere) ----------------------
class GoodMHA(nn.Module):
    """Configurable so that each test can switch on exactly one mistake."""

    split_transpose = True
    merge_transpose = True
    use_out_proj = True
    scale_dim = "head"
    mask_true_blocks = False
    nan_rows = False
    average_heads = False
    check_rank = True
    added_bias = False      # mask as an ADDED -inf bias (NaN gradients on an empty row)

    def __init__(self, d_model, num_heads):
        super().__init__()
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(d_model, d_model) for _ in range(4))

    def _split(self, x):
        b, s, _ = x.shape
        if self.split_transpose:
            return x.reshape(b, s, self.num_heads, self.d_head).transpose(1, 2)
        return x.reshape(b, self.num_heads, s, self.d_head)

    def forward(self, query, key, value, mask=None):
        b, n_q, _ = query.shape
        if mask is not None and self.check_rank and mask.dim() not in (2, 4):
            raise ValueError(f"mask must be 2-D or 4-D; got {mask.dim()}-D")
        q, k, v = (self._split(p(x)) for p, x in ((self.q_proj, query), (self.k_proj, key),
                                                  (self.v_proj, value)))
        scale = self.d_head if self.scale_dim == "head" else self.d_model
        scores = q @ k.transpose(-2, -1) / math.sqrt(scale)
        if mask is not None:
            blocked = mask if self.mask_true_blocks else ~mask
            if self.added_bias:
                scores = scores + torch.zeros(blocked.shape, dtype=scores.dtype).masked_fill(
                    blocked, float("-inf"))
            else:
                scores = scores.masked_fill(blocked, float("-inf"))
        w = torch.softmax(scores, dim=-1)
        if mask is not None and not self.nan_rows:
            w = torch.where(blocked, 0.0, w)
        heads = w @ v
        if self.merge_transpose:
            merged = heads.transpose(1, 2).reshape(b, n_q, self.d_model)
        else:
            merged = heads.reshape(b, n_q, self.d_model)
        out = self.out_proj(merged) if self.use_out_proj else merged
        return out, (w.mean(1) if self.average_heads else w)


def variant(**mistake):
    return type("Variant", (GoodMHA,), mistake)


def failure(report, name_part):
    matches = [r for r in report.results if name_part in r.name]
    assert len(matches) == 1, f"no single property named like {name_part!r}: {report}"
    assert not matches[0].passed, f"{name_part!r} should fail:\n{report}"
    return matches[0]


def test_torch_twin_copies_weights_so_outputs_agree():
    torch.manual_seed(0)
    ours = GoodMHA(8, 2)
    twin = torch_twin(ours)
    x = torch.randn(2, 4, 8)
    with torch.no_grad():
        out, w = ours(x, x, x)
        ref_out, ref_w = twin(x, x, x, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def test_correct_layer_passes_every_check():
    report = check_multi_head_attention(GoodMHA)
    assert report.passed, report
    assert 4 <= len(report.results) <= 10


@pytest.mark.parametrize("mistake", [
    {"split_transpose": False}, {"merge_transpose": False}, {"use_out_proj": False},
    {"scale_dim": "model"},
], ids=["split_without_transpose", "merge_without_transpose", "no_out_proj", "sqrt_d_model"])
def test_layout_and_scale_mistakes_fail_the_comparison_with_torch(mistake):
    report = check_multi_head_attention(variant(**mistake))
    result = failure(report, "self-attention equals nn.MultiheadAttention")
    assert "transpose" in result.hint and "sqrt(d_head)" in result.hint


def test_inverted_mask_fails_the_mask_property_with_the_convention_hint():
    result = failure(check_multi_head_attention(variant(mask_true_blocks=True)), "2-D causal and 4-D")
    assert "True means MAY attend" in result.hint


def test_nan_for_a_fully_masked_row_fails_zero_weights_and_gradients():
    report = check_multi_head_attention(variant(nan_rows=True))
    failure(report, "gets zero weights, not NaN")
    failure(report, "stay finite through a fully masked row")


def only_failure(report, name_part):
    result = failure(report, name_part)
    others = [r.name for r in report.failures if r is not result]
    assert not others, f"only {name_part!r} should fail, also failed: {others}\n{report}"
    return result


def test_accepting_a_3d_mask_fails_only_the_rank_property():
    result = only_failure(check_multi_head_attention(variant(check_rank=False)), "not 2-D or 4-D")
    assert "ValueError" in result.hint and "3-D" in result.detail


def test_added_minus_inf_bias_fails_only_the_gradient_property():
    result = only_failure(check_multi_head_attention(variant(added_bias=True)),
                          "stay finite through a fully masked row")
    assert "ADDED" in result.hint and "not finite" not in result.hint
    assert "NaN" in result.detail


def test_4d_padding_mask_misread_fails_the_mask_property():
    class PaddingAsHeads(GoodMHA):
        """Reads a 4-D mask's second axis as if it were the batch axis (wrong alignment)."""

        def forward(self, query, key, value, mask=None):
            if mask is not None and mask.dim() == 4:
                mask = mask.transpose(0, 1)
            return super().forward(query, key, value, mask)

    failure(check_multi_head_attention(PaddingAsHeads), "2-D causal and 4-D")


def test_detached_projections_fail_the_gradient_property():
    class Detached(GoodMHA):
        def forward(self, query, key, value, mask=None):
            out, w = super().forward(query, key, value, mask)
            return self.out_proj(out.detach()), w

    result = failure(check_multi_head_attention(Detached), "gradients reach every projection")
    assert "q_proj" in result.detail


def test_modifying_the_query_in_place_fails_the_inputs_property():
    class InPlace(GoodMHA):
        def forward(self, query, key, value, mask=None):
            if not query.requires_grad:
                query.mul_(1.0)
                query.add_(1e-3)
            return super().forward(query, key, value, mask)

    failure(check_multi_head_attention(InPlace), "inputs are not modified")


def test_averaged_heads_fail_the_shape_property():
    failure(check_multi_head_attention(variant(average_heads=True)), "returns (output, weights)")


def test_missing_projection_attribute_is_reported_not_raised():
    class NoKProj(GoodMHA):
        def __init__(self, d_model, num_heads):
            super().__init__(d_model, num_heads)
            del self.k_proj
            self.kproj = nn.Linear(d_model, d_model)

    result = failure(check_multi_head_attention(NoKProj), "has q_proj")
    assert "k_proj" in result.detail


def test_blank_layer_gets_the_not_implemented_hint():
    class Blank(nn.Module):
        def __init__(self, d_model, num_heads):
            super().__init__()
            raise NotImplementedError()

    report = check_multi_head_attention(Blank)
    assert not report.passed
    assert all("NotImplementedError" in r.detail for r in report.failures)
