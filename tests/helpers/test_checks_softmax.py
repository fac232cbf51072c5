"""helpers.checks.softmax and helpers.checks.masked: a correct implementation passes every
property; each typical mistake fails the property that names it, with a hint pointing at the
concept."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.checks import check_causal_mask, check_masked_softmax, check_softmax


# --- implementations written for these tests (not shipped anywhere) -----------------------
def good_softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def good_causal_mask(n):
    return np.arange(n)[None, :] <= np.arange(n)[:, None]


def good_masked_softmax(scores, mask, axis=-1):
    mask = np.broadcast_to(mask, scores.shape)
    safe = np.where(mask, scores, -np.inf)
    top = safe.max(axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    e = np.where(mask, np.exp(safe - top), 0)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total == 0, 1, total)


def failure(report, name_part):
    matches = [r for r in report.results if name_part in r.name]
    assert len(matches) == 1, f"no single property named like {name_part!r}: {report}"
    assert not matches[0].passed, f"{name_part!r} should fail:\n{report}"
    return matches[0]


# --- softmax -------------------------------------------------------------------------------
def test_correct_softmax_passes_every_check():
    report = check_softmax(good_softmax)
    assert report.passed, report
    assert len(report.results) >= 4


def test_softmax_without_max_subtraction_fails_large_values_with_max_hint():
    def naive(x, axis=-1):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    result = failure(check_softmax(naive), "large scores")
    assert "maximum" in result.hint


def test_softmax_with_global_max_fails_mixed_rows():
    def global_max(x, axis=-1):
        e = np.exp(x - x.max())
        return e / e.sum(axis=axis, keepdims=True)

    report = check_softmax(global_max)
    assert "each row" in failure(report, "very different size").hint


def test_softmax_ignoring_axis_fails_axis_check():
    def last_axis_only(x, axis=-1):
        return good_softmax(x, -1)

    assert "axis" in failure(check_softmax(last_axis_only), "axis argument").hint


def test_softmax_normalising_over_first_axis_fails_row_sums():
    def wrong_axis(x, axis=-1):
        e = np.exp(x - x.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    assert "last axis" in failure(check_softmax(wrong_axis), "sums to 1").hint


def test_softmax_in_place_fails_input_unchanged_check():
    def in_place(x, axis=-1):
        x -= x.max(axis=axis, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=axis, keepdims=True)
        return x

    assert "in place" in failure(check_softmax(in_place), "not modified").hint


def test_softmax_casting_to_float64_fails_dtype_check():
    def upcast(x, axis=-1):
        return good_softmax(np.asarray(x, dtype=np.float64), axis)

    failure(check_softmax(upcast), "keeps x's dtype")


def test_unimplemented_softmax_fails_everything_with_not_implemented_detail():
    def blank(x, axis=-1):
        raise NotImplementedError()

    report = check_softmax(blank)
    assert not any(r.passed for r in report.results)
    assert "NotImplementedError" in report.results[0].detail
    assert "FAIL" in repr(report)


# --- causal_mask ---------------------------------------------------------------------------
def test_correct_causal_mask_passes_every_check():
    report = check_causal_mask(good_causal_mask)
    assert report.passed, report


def test_upper_triangle_fails_with_lower_triangle_hint():
    report = check_causal_mask(lambda n: np.triu(np.ones((n, n), dtype=bool)))
    assert "lower triangle" in failure(report, "later keys").hint


def test_mask_without_diagonal_fails_diagonal_check():
    report = check_causal_mask(lambda n: np.tril(np.ones((n, n), dtype=bool), k=-1))
    assert "itself" in failure(report, "itself").hint


def test_integer_mask_fails_dtype_check_only():
    report = check_causal_mask(lambda n: np.tril(np.ones((n, n), dtype=int)))
    assert "bool" in failure(report, "dtype").hint
    assert len(report.failures) == 1, report


# --- masked_softmax ------------------------------------------------------------------------
def test_correct_masked_softmax_passes_every_check():
    report = check_masked_softmax(good_masked_softmax)
    assert report.passed, report


def test_minus_1e9_filling_fails_fully_masked_row():
    def fill_big_negative(scores, mask, axis=-1):
        return good_softmax(np.where(mask, scores, -1e9), axis)

    report = check_masked_softmax(fill_big_negative)
    result = failure(report, "fully masked row")
    assert "uniform" in result.hint
    # the other rows are right, so only this property fails
    assert len(report.failures) == 1, report


def test_minus_inf_without_care_fails_fully_masked_row_with_nan_detail():
    def fill_minus_inf(scores, mask, axis=-1):
        return good_softmax(np.where(mask, scores, -np.inf), axis)

    result = failure(check_masked_softmax(fill_minus_inf), "fully masked row")
    assert "RuntimeWarning" in result.detail or "NaN" in result.detail


def test_inverted_mask_fails_masked_entries_check():
    report = check_masked_softmax(lambda s, m, axis=-1: good_masked_softmax(s, ~np.asarray(m), axis))
    assert "True means" in failure(report, "exactly 0").hint


def test_multiplying_by_mask_without_renormalising_fails_sum_check():
    report = check_masked_softmax(lambda s, m, axis=-1: good_softmax(s, axis) * m)
    failure(report, "sum to 1")


def test_mask_that_must_match_scores_shape_fails_broadcast_check():
    def no_broadcast(scores, mask, axis=-1):
        if np.shape(mask) != np.shape(scores):
            raise ValueError("mask and scores must have the same shape")
        return good_masked_softmax(scores, mask, axis)

    result = failure(check_masked_softmax(no_broadcast), "broadcast against")
    assert "ValueError" in result.detail


# --- issue 15: outputs are graded, numpy warnings are advice ----------------------------------
def jax_where_masked_softmax(scores, mask, axis=-1):
    """jax.nn.softmax(x, axis, where=mask) ported to numpy: right weights, warns inf - inf."""
    where = np.broadcast_to(mask, np.shape(scores))
    x_max = np.max(scores, axis, where=where, initial=-np.inf, keepdims=True)
    unnormalized = np.exp(np.where(where, scores, -np.inf) - x_max)
    result = unnormalized / np.sum(unnormalized, axis, where=where, keepdims=True)
    return np.where(where, result, 0)


def numpy_ma_masked_softmax(scores, mask, axis=-1):
    """numpy.ma: masked max/exp/sum, filled with 0; warns about overflow in masked entries."""
    s = np.ma.masked_array(scores, mask=~np.broadcast_to(mask, np.shape(scores)))
    e = np.ma.exp(s - s.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).filled(0)


@pytest.mark.parametrize("fn", [jax_where_masked_softmax, numpy_ma_masked_softmax,
                                lambda s, m, axis=-1: np.nan_to_num(
                                    good_softmax(np.where(m, s, -np.inf), axis))],
                         ids=["jax_where", "numpy_ma", "minus_inf_nan_to_num"])
def test_correct_answers_that_make_numpy_warn_pass_with_a_note(fn):
    report = check_masked_softmax(fn)
    assert report.passed, report
    assert len(report.notes) == 1 and "not graded" in report.notes[0], report
    assert "[NOTE]" in repr(report) and "All checks passed" in repr(report)


def test_a_quiet_correct_answer_gets_no_note():
    report = check_masked_softmax(good_masked_softmax)
    assert report.passed and report.notes == [], report


def test_a_failing_property_gets_no_warning_note():
    def fill_minus_inf(scores, mask, axis=-1):
        return good_softmax(np.where(mask, scores, -np.inf), axis)

    report = check_masked_softmax(fill_minus_inf)
    failure(report, "fully masked row")
    assert report.notes == [], "warnings of a failed property are explained by its failure"


def test_max_over_every_entry_fails_the_large_scores_check_only():
    def max_over_all(scores, mask, axis=-1):
        e = np.exp(scores - np.max(scores, axis=axis, keepdims=True)) * mask
        total = e.sum(axis=axis, keepdims=True)
        return e / np.where(total > 0, total, 1)

    report = check_masked_softmax(max_over_all)
    assert "allowed entries" in failure(report, "large scores").hint
    assert len(report.failures) == 1, report


def test_masked_softmax_ignoring_axis_fails_the_axis_check_only():
    def last_axis_only(scores, mask, axis=-1):
        return good_masked_softmax(scores, mask, -1)

    report = check_masked_softmax(last_axis_only)
    failure(report, "axis argument")
    assert len(report.failures) == 1, report


def test_masked_softmax_upcasting_fails_the_dtype_check_only():
    report = check_masked_softmax(
        lambda s, m, axis=-1: good_masked_softmax(np.asarray(s, dtype=np.float64), m, axis))
    failure(report, "keep the scores' dtype")
    assert len(report.failures) == 1, report


def test_pytorch_reference_sdpa_port_fails_fully_masked_row_with_nan_detail():
    import torch

    def reference_sdpa(scores, mask, axis=-1):
        t = torch.from_numpy(np.array(scores))
        m = torch.from_numpy(np.broadcast_to(mask, t.shape).copy())
        bias = torch.zeros_like(t).masked_fill(m.logical_not(), float("-inf"))
        return torch.softmax(t + bias, dim=axis).numpy()

    report = check_masked_softmax(reference_sdpa)
    assert "NaN" in failure(report, "fully masked row").detail
    assert len(report.failures) == 1, report


def test_softmax_without_max_subtraction_fails_on_float32_around_100():
    def naive_float32(x, axis=-1):
        x = np.asarray(x)
        if x.dtype != np.float32 or np.abs(x).max() > 500:
            return good_softmax(x, axis)      # right everywhere except float32 overflow
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    report = check_softmax(naive_float32)
    failure(report, "large scores")
    assert len(report.failures) == 1, report


def test_annotated_transformer_subsequent_mask_fails_the_shape_check():
    def subsequent_mask(n):
        return np.triu(np.ones((1, n, n)), k=1).astype(np.uint8) == 0

    assert "leading axis" in failure(check_causal_mask(subsequent_mask), "(n, n)").hint
