"""helpers.checks.practice: the notebook-06 checks pass right answers and point at mistakes.

The right answers here are written in the tests (never shipped in helpers); each wrong
answer is one a student plausibly writes, and must fail exactly the property whose hint
explains it.
"""
from __future__ import annotations

import numpy as np
import pytest

from helpers.checks import check_all_heads_attention, check_head_attention
from helpers.checks import practice


def _softmax(scores, mask=None):
    scores = np.asarray(scores, dtype=np.float64)
    if mask is not None:
        scores = np.where(np.asarray(mask, dtype=bool), scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)   # all masked: zeros


def head_ok(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
    r = slice(head * head_dim, (head + 1) * head_dim)
    q = hidden @ W_q[r].T + b_q[r]
    k = hidden @ W_k[r].T + b_k[r]
    return _softmax(q @ k.T / np.sqrt(head_dim), attention_mask)


def all_ok(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
    head_dim = hidden.shape[1] // num_heads
    return np.stack([head_ok(hidden, W_q, b_q, W_k, b_k, h, head_dim, attention_mask)
                     for h in range(num_heads)])


def _failed(report):
    return [r.name for r in report.results if not r.passed]


# ---------------------------------------------------------------- head_attention
def test_correct_head_attention_passes_every_check():
    report = check_head_attention(head_ok)
    assert report.passed, repr(report)
    assert len(report.results) == 7
    assert "All checks passed" in repr(report)


def test_head_attention_accepts_torch_output():
    import torch

    def as_torch(*args, **kwargs):
        return torch.from_numpy(head_ok(*args, **kwargs))

    assert check_head_attention(as_torch).passed


def test_blank_head_attention_fails_everything_with_the_not_implemented_hint():
    def blank(*args, **kwargs):
        raise NotImplementedError()

    report = check_head_attention(blank)
    assert not any(r.passed for r in report.results)
    assert "replace `raise NotImplementedError()`" in repr(report)


def test_missing_query_bias_fails_the_comparison_with_the_linear_hint():
    def no_bias(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        return head_ok(hidden, W_q, np.zeros_like(b_q), W_k, b_k, head, head_dim,
                       attention_mask)

    report = check_head_attention(no_bias)
    assert "head 0 equals BERT's own attention weights" in _failed(report)
    assert "are both biases added?" in repr(report)
    assert "each row sums to 1" not in _failed(report)


def test_wrong_rows_pass_head_0_and_fail_the_other_heads():
    def wrong_rows(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        r = slice(head, head + head_dim)
        q = hidden @ W_q[r].T + b_q[r]
        k = hidden @ W_k[r].T + b_k[r]
        return _softmax(q @ k.T / np.sqrt(head_dim), attention_mask)

    report = check_head_attention(wrong_rows)
    failed = _failed(report)
    assert "head 0 equals BERT's own attention weights" not in failed
    assert "heads other than 0 equal BERT's (the right slice of the weights)" in failed
    assert "head h owns output features" in repr(report)


def test_scaling_by_sqrt_d_model_fails_the_comparison():
    def d_model_scale(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        r = slice(head * head_dim, (head + 1) * head_dim)
        scores = (hidden @ W_q[r].T + b_q[r]) @ (hidden @ W_k[r].T + b_k[r]).T
        return _softmax(scores / np.sqrt(hidden.shape[1]), attention_mask)

    assert "head 0 equals BERT's own attention weights" in _failed(
        check_head_attention(d_model_scale))


def test_ignored_mask_fails_only_the_padding_checks():
    def no_mask(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        return head_ok(hidden, W_q, b_q, W_k, b_k, head, head_dim)

    report = check_head_attention(no_mask)
    assert _failed(report) == [
        "padding keys get exactly zero weight, and the rest matches BERT", NO_KEYS]
    assert "largest weight on a padding key is" in repr(report)


NO_KEYS = "a sequence that is all padding gives all-zero weights, never NaN"


def _additive(fill):
    """Hugging Face eager-attention style: scores + (1 - mask) * fill, then a plain softmax."""
    def head(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        r = slice(head * head_dim, (head + 1) * head_dim)
        scores = (hidden @ W_q[r].T + b_q[r]) @ (hidden @ W_k[r].T + b_k[r]).T / np.sqrt(head_dim)
        if attention_mask is not None:
            scores = scores + (1.0 - np.asarray(attention_mask, dtype=scores.dtype)) * fill
        return _softmax(scores)
    return head


@pytest.mark.parametrize("fill", [np.finfo(np.float32).min, -1e9], ids=["finfo_min", "minus_1e9"])
def test_additive_mask_gives_uniform_rows_for_all_padding_and_fails_only_that_check(fill):
    report = check_head_attention(_additive(fill))
    assert _failed(report) == [NO_KEYS]
    assert "1/n everywhere" in repr(report)


def test_minus_inf_mask_without_care_fails_the_all_padding_check_with_nan():
    def nan_rows(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        r = slice(head * head_dim, (head + 1) * head_dim)
        s = (hidden @ W_q[r].T + b_q[r]) @ (hidden @ W_k[r].T + b_k[r]).T / np.sqrt(head_dim)
        if attention_mask is not None:
            s = np.where(np.asarray(attention_mask, bool), s, -np.inf)
        with np.errstate(invalid="ignore"):
            e = np.exp(s - s.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)

    report = check_head_attention(nan_rows)
    assert _failed(report) == [NO_KEYS]
    assert "weights are NaN" in repr(report)


def test_modifying_the_input_is_reported():
    def in_place(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
        out = head_ok(hidden, W_q, b_q, W_k, b_k, head, head_dim, attention_mask)
        hidden *= 2.0
        return out

    report = check_head_attention(in_place)
    assert _failed(report) == ["does not modify its inputs"]
    assert "hidden was changed by the call" in repr(report)


def test_returning_none_is_explained():
    report = check_head_attention(lambda *a, **k: None)
    assert not report.passed
    assert "returned None" in repr(report)


# ---------------------------------------------------------------- all_heads_attention
def test_correct_all_heads_attention_passes_every_check():
    report = check_all_heads_attention(all_ok)
    assert report.passed, repr(report)
    assert len(report.results) == 7


def test_wrong_head_split_fails_the_comparison():
    def wrong_split(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
        n, d = hidden.shape
        hd = d // num_heads
        q = (hidden @ W_q.T + b_q).reshape(n, hd, num_heads).transpose(2, 0, 1)
        k = (hidden @ W_k.T + b_k).reshape(n, hd, num_heads).transpose(2, 0, 1)
        return _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(hd), attention_mask)

    report = check_all_heads_attention(wrong_split)
    assert "every head equals BERT's own attention weights" in _failed(report)
    assert "each row of each head sums to 1" not in _failed(report)


def test_hard_coded_head_size_fails_only_the_other_head_count():
    def fixed(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
        return np.stack([head_ok(hidden, W_q, b_q, W_k, b_k, h, 8, attention_mask)
                         for h in range(num_heads)])

    report = check_all_heads_attention(fixed)
    assert _failed(report) == ["works for other numbers of heads (e.g. 2 heads of size 16)"]
    assert "instead of assuming 12 heads" in repr(report)


def test_all_heads_ignored_mask_fails_only_the_padding_checks():
    def no_mask(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
        return all_ok(hidden, W_q, b_q, W_k, b_k, num_heads)

    assert _failed(check_all_heads_attention(no_mask)) == [
        "padding keys get exactly zero weight, and the rest matches BERT", NO_KEYS]


def test_heads_last_instead_of_first_fails_the_shape_check():
    def heads_last(*args, **kwargs):
        return np.moveaxis(all_ok(*args, **kwargs), 0, -1)

    report = check_all_heads_attention(heads_last)
    assert "returns (num_heads, n, n) weights" in _failed(report)
    assert "expected (4, 6, 6)" in repr(report)


# ---------------------------------------------------------------- the reference model
def test_checks_leave_the_global_torch_rng_alone():
    import torch

    torch.manual_seed(123)
    before = torch.random.get_rng_state().clone()
    check_head_attention(head_ok)
    check_all_heads_attention(all_ok)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_tiny_bert_reference_has_live_biases_and_padding():
    case = practice._tiny_bert(num_heads=4, head_dim=8, n=7, n_pad=3, seed=1)
    assert case.hidden.shape == (7, 32) and case.attentions.shape == (4, 7, 7)
    assert np.abs(case.b_q).min() > 0 and np.abs(case.b_k).min() > 0
    assert np.all(case.attentions[..., -3:] == 0.0)
    np.testing.assert_allclose(case.attentions.sum(-1), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("num_heads, head_dim", [(4, 8), (2, 16)])
def test_tiny_bert_reference_matches_an_independent_formula(num_heads, head_dim):
    # If the reference model were built wrongly the checks would grade against nonsense.
    case = practice._tiny_bert(num_heads=num_heads, head_dim=head_dim, n=6, n_pad=2, seed=5)
    got = all_ok(case.hidden, case.W_q, case.b_q, case.W_k, case.b_k, num_heads, case.mask)
    np.testing.assert_allclose(got, case.attentions, rtol=0, atol=1e-5)


def test_all_heads_additive_mask_fails_only_the_all_padding_check():
    def additive(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
        hd = hidden.shape[1] // num_heads
        return np.stack([_additive(-1e9)(hidden, W_q, b_q, W_k, b_k, h, hd, attention_mask)
                         for h in range(num_heads)])

    assert _failed(check_all_heads_attention(additive)) == [NO_KEYS]

