"""helpers.checks.output: a correct scaled_dot_product_attention / AttentionLayer passes;
each typical mistake fails the property that names it, with a hint at the concept."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers.checks import check_attention_layer, check_scaled_dot_product_attention


# --- implementations written for these tests (not shipped anywhere) -----------------------
def _torch_attention(q, k, v, mask=None, *, scale=None, fill=float("-inf"), dim=-1):
    scale = math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) / scale
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool)
        scores = scores.masked_fill(~mask, fill)
        scores = scores.masked_fill(~mask.any(-1, keepdim=True), 0.0) if fill == float("-inf") else scores
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and fill == float("-inf"):
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


def make_sdpa(**kwargs):
    def sdpa(Q, K, V, mask=None):
        if isinstance(Q, torch.Tensor):
            return _torch_attention(Q, K, V, mask, **kwargs)
        out, w = _torch_attention(*(torch.as_tensor(a) for a in (Q, K, V)), mask, **kwargs)
        return out.numpy(), w.numpy()
    return sdpa


def make_layer(**kwargs):
    class Layer(nn.Module):
        def forward(self, q, k, v, mask=None):
            return _torch_attention(q, k, v, mask, **kwargs)
    return Layer


def failure(report, name_part):
    matches = [r for r in report.results if name_part in r.name]
    assert len(matches) == 1, f"no single property named like {name_part!r}: {report}"
    assert not matches[0].passed, f"{name_part!r} should fail:\n{report}"
    return matches[0]


# --- scaled_dot_product_attention ----------------------------------------------------------
def test_correct_sdpa_passes_every_check():
    report = check_scaled_dot_product_attention(make_sdpa())
    assert report.passed, report


def test_sdpa_without_scaling_fails_torch_comparison_with_sqrt_hint():
    report = check_scaled_dot_product_attention(make_sdpa(scale=1.0))
    assert "sqrt(d_k)" in failure(report, "matches torch").hint


def test_sdpa_scaled_by_d_v_fails_torch_comparison():
    report = check_scaled_dot_product_attention(
        lambda Q, K, V, mask=None: make_sdpa(scale=math.sqrt(V.shape[-1]))(Q, K, V, mask))
    failure(report, "matches torch")


def test_sdpa_softmax_over_queries_fails_row_sums():
    report = check_scaled_dot_product_attention(make_sdpa(dim=-2))
    assert "last axis" in failure(report, "sum to 1").hint


def test_sdpa_ignoring_mask_fails_mask_check():
    report = check_scaled_dot_product_attention(lambda Q, K, V, mask=None: make_sdpa()(Q, K, V))
    assert "True where a query may attend" in failure(report, "mask is applied").hint


def test_sdpa_with_minus_1e9_fails_fully_masked_row():
    report = check_scaled_dot_product_attention(make_sdpa(fill=-1e9))
    failure(report, "mask is applied")


@pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")
def test_sdpa_with_dot_T_fails_batch_check_with_swapaxes_hint():
    def dot_T(Q, K, V, mask=None):
        s = Q @ K.T / math.sqrt(Q.shape[-1])
        w = np.exp(s - s.max(-1, keepdims=True))
        w = w / w.sum(-1, keepdims=True)
        return w @ V, w

    report = check_scaled_dot_product_attention(dot_T)
    assert "swapaxes" in failure(report, "batch").hint
    assert [r.name for r in report.results if r.passed][:3] == [r.name for r in report.results[:3]]


def test_sdpa_returning_only_output_fails_with_tuple_detail():
    report = check_scaled_dot_product_attention(lambda Q, K, V, mask=None: make_sdpa()(Q, K, V, mask)[0])
    result = failure(report, "returns (output, weights)")
    assert "tuple" in result.detail and "return both" in result.hint


def test_sdpa_through_numpy_fails_type_and_gradient_checks():
    def via_numpy(Q, K, V, mask=None):
        out, w = make_sdpa()(*(np.asarray(a.detach()) if isinstance(a, torch.Tensor) else a
                               for a in (Q, K, V)), mask)
        return out, w

    report = check_scaled_dot_product_attention(via_numpy)
    assert "tensors for tensor input" in failure(report, "torch in gives torch out").hint
    failure(report, "gradients flow back")


# --- COURSE_SPEC 3.1: finite gradients through a fully masked row, dtype, large scores ----
def _added_bias(q, k, v, mask=None):
    """The reference code of F.scaled_dot_product_attention's docstring: the mask becomes a
    float bias that is ADDED; the empty row's NaN is then hidden in the forward pass only."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool)
        scores = scores + torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = torch.where(mask, weights, 0.0)
    return weights @ v, weights


def _filled_then_where(q, k, v, mask=None):
    """masked_fill(-inf), softmax (NaN on an empty row), torch.where: finite gradients, since
    masked_fill's backward drops the gradient of every filled score."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = torch.where(mask, weights, 0.0)
    return weights @ v, weights


def _with_numpy(attend):
    def sdpa(Q, K, V, mask=None):
        if isinstance(Q, torch.Tensor):
            return attend(Q, K, V, mask)
        out, w = attend(*(torch.as_tensor(a) for a in (Q, K, V)), mask)
        return out.numpy(), w.numpy()
    return sdpa


def _only_failure(report, name_part):
    result = failure(report, name_part)
    others = [r.name for r in report.failures if r is not result]
    assert not others, f"only {name_part!r} should fail, also failed: {others}\n{report}"
    return result


def test_sdpa_with_added_minus_inf_bias_fails_only_the_masked_gradient_check():
    result = _only_failure(check_scaled_dot_product_attention(_with_numpy(_added_bias)),
                           "fully masked row keeps finite gradients")
    assert "ADDED" in result.hint and "masked_fill" in result.hint
    assert "not finite" in result.detail or "NaN" in result.detail


def test_sdpa_with_masked_fill_then_where_passes_every_check():
    report = check_scaled_dot_product_attention(_with_numpy(_filled_then_where))
    assert report.passed, report


def test_sdpa_with_np_sqrt_on_float32_fails_only_the_dtype_check_naming_np_sqrt():
    def numpy_path(Q, K, V, mask=None):
        if isinstance(Q, torch.Tensor):
            return _torch_attention(Q, K, V, mask)
        scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
        if mask is not None:
            scores = np.where(np.broadcast_to(mask, scores.shape), scores, -np.inf)
        top = scores.max(-1, keepdims=True)
        e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
        w = e / np.where(e.sum(-1, keepdims=True) > 0, e.sum(-1, keepdims=True), 1)
        return w @ V, w

    result = _only_failure(check_scaled_dot_product_attention(numpy_path), "input's dtype")
    assert "np.sqrt" in result.hint and "float32" in result.detail


def test_sdpa_casting_to_float64_fails_the_dtype_check():
    def as_float64(Q, K, V, mask=None):
        return make_sdpa()(*(np.asarray(a, dtype=float) for a in (Q, K, V)), mask)

    failure(check_scaled_dot_product_attention(as_float64), "input's dtype")


def test_sdpa_naive_exp_fails_large_scores_only():
    def naive(Q, K, V, mask=None):
        if isinstance(Q, torch.Tensor):
            return _torch_attention(Q, K, V, mask)
        scores = Q @ np.swapaxes(K, -1, -2) / math.sqrt(Q.shape[-1])
        if mask is not None:
            scores = np.where(np.broadcast_to(mask, scores.shape), scores, -np.inf)
        e = np.exp(scores)
        w = e / np.where(e.sum(-1, keepdims=True) > 0, e.sum(-1, keepdims=True), 1)
        return w @ V, w

    with np.errstate(all="ignore"):
        result = _only_failure(check_scaled_dot_product_attention(naive), "large scores")
    assert "large scores" in result.detail and "maximum" in result.hint


def test_sdpa_modifying_its_input_fails_the_inputs_check():
    def in_place(Q, K, V, mask=None):
        if isinstance(Q, np.ndarray):
            Q /= 1.0 + 1e-12 * Q.size   # "harmless" rescaling, in place
        return make_sdpa()(Q, K, V, mask)

    failure(check_scaled_dot_product_attention(in_place), "not modified")


def test_sdpa_gradients_cut_off_fail_the_gradient_check():
    def detached(Q, K, V, mask=None):
        if isinstance(Q, torch.Tensor):
            return _torch_attention(Q.detach(), K.detach(), V.detach(), mask)
        return make_sdpa()(Q, K, V, mask)

    assert "autograd" in failure(check_scaled_dot_product_attention(detached), "gradients flow back").hint


# --- AttentionLayer ------------------------------------------------------------------------
def test_correct_layer_passes_every_check():
    report = check_attention_layer(make_layer())
    assert report.passed, report


def test_layer_needing_constructor_args_fails_first_check_and_the_rest():
    class NeedsArgs(nn.Module):
        def __init__(self, d_k):
            super().__init__()

    report = check_attention_layer(NeedsArgs)
    assert "no constructor arguments" in failure(report, "without arguments").hint
    assert not any(r.passed for r in report.results)


def test_layer_returning_only_output_fails_pair_check():
    class OnlyOutput(nn.Module):
        def forward(self, q, k, v, mask=None):
            return _torch_attention(q, k, v, mask)[0]

    failure(check_attention_layer(OnlyOutput), "returns (output, weights)")


def test_layer_with_inverted_mask_fails_mask_check():
    class Inverted(nn.Module):
        def forward(self, q, k, v, mask=None):
            return _torch_attention(q, k, v, None if mask is None else ~mask)

    failure(check_attention_layer(Inverted), "mask is applied")


def test_layer_without_scaling_fails_torch_comparison():
    failure(check_attention_layer(make_layer(scale=1.0)), "matches torch")


def test_layer_detaching_fails_gradient_check():
    class Detached(nn.Module):
        def forward(self, q, k, v, mask=None):
            out, w = _torch_attention(q.detach(), k.detach(), v.detach(), mask)
            return out, w

    assert "autograd" in failure(check_attention_layer(Detached), "gradients flow back").hint


def test_layer_with_added_minus_inf_bias_fails_only_the_masked_gradient_check():
    class AddedBias(nn.Module):
        def forward(self, q, k, v, mask=None):
            return _added_bias(q, k, v, mask)

    result = _only_failure(check_attention_layer(AddedBias), "fully masked row keeps finite gradients")
    assert "ADDED" in result.hint


def test_layer_with_masked_fill_then_where_passes_every_check():
    class Filled(nn.Module):
        def forward(self, q, k, v, mask=None):
            return _filled_then_where(q, k, v, mask)

    assert check_attention_layer(Filled).passed


def test_layer_with_minus_1e9_fails_the_mask_check_naming_the_uniform_row():
    result = _only_failure(check_attention_layer(make_layer(fill=-1e9)), "mask is applied")
    assert "-1e9" in result.hint and "uniform" in result.hint


def test_layer_with_nan_row_fails_mask_and_masked_gradient_checks():
    class NanRow(nn.Module):
        def forward(self, q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            w = torch.softmax(scores, dim=-1)
            return w @ v, w

    report = check_attention_layer(NanRow)
    failure(report, "mask is applied")
    failure(report, "fully masked row keeps finite gradients")
