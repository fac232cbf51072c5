"""helpers.checks.efficient: a correct streaming implementation passes every property; each
typical mistake fails the property that names it; the instruments (recording array, peak
resident memory of a forked child) tell streaming code from code that reads or builds
everything at once, whichever library it uses, and an observer that sees nothing fails."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.checks import check_online_softmax, check_tiled_attention
from helpers.checks._instruments import (ColumnRecorder, observe_columns, peak_rss_growth,
                                         stream_problem, streamed_in_blocks)
from helpers.checks.efficient import peak_bytes


# --- implementations written for these tests (not shipped anywhere) -----------------------
def good_online_softmax(x, block_size):
    n = x.shape[-1]
    m = np.full(x.shape[:-1] + (1,), -np.inf)
    s = np.zeros(x.shape[:-1] + (1,))
    for j in range(0, n, block_size):
        blk = x[..., j:j + block_size]
        new = np.maximum(m, blk.max(axis=-1, keepdims=True))
        s = s * np.exp(m - new) + np.exp(blk - new).sum(axis=-1, keepdims=True)
        m = new
    out = np.empty(x.shape)
    for j in range(0, n, block_size):
        out[..., j:j + block_size] = np.exp(x[..., j:j + block_size] - m) / s
    return out


def good_tiled(Q, K, V, block_size, causal=False):
    n_q, d = Q.shape[-2:]
    m = np.full(Q.shape[:-1] + (1,), -np.inf)
    s = np.zeros_like(m)
    acc = np.zeros(Q.shape[:-1] + (V.shape[-1],))
    for j in range(0, K.shape[-2], block_size):
        S = Q @ np.swapaxes(K[..., j:j + block_size, :], -1, -2) / np.sqrt(d)
        if causal:
            keys = j + np.arange(S.shape[-1])
            S = np.where(keys[None, :] <= np.arange(n_q)[:, None], S, -np.inf)
        new = np.maximum(m, S.max(-1, keepdims=True))
        P = np.exp(S - new)
        a = np.exp(m - new)
        s = a * s + P.sum(-1, keepdims=True)
        acc = a * acc + P @ V[..., j:j + block_size, :]
        m = new
    return acc / s


def naive_attention(Q, K, V, block_size, causal=False):
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if causal:
        S = np.where(np.tril(np.ones(S.shape[-2:], bool)), S, -np.inf)
    P = np.exp(S - S.max(-1, keepdims=True))
    return P / P.sum(-1, keepdims=True) @ V


def failure(report, name_part):
    matches = [r for r in report.results if name_part in r.name]
    assert len(matches) == 1, f"no single property named like {name_part!r}: {report}"
    assert not matches[0].passed, f"{name_part!r} should fail:\n{report}"
    return matches[0]


# --- instruments ---------------------------------------------------------------------------
def test_recorder_logs_block_widths_and_returns_plain_arrays():
    rec = np.arange(12.0).reshape(2, 6).view(ColumnRecorder)
    rec.log = log = []
    total = rec[..., 0:4].sum() + rec[..., 4:6].max()
    assert log == [4, 2]
    assert type(np.exp(rec)) is np.ndarray
    assert float(total) == (0 + 1 + 2 + 3 + 6 + 7 + 8 + 9) + 11


@pytest.mark.parametrize("convert", [
    lambda x: np.asarray(x), lambda x: np.array(x), lambda x: np.asanyarray(x),
    lambda x: np.ascontiguousarray(x), lambda x: np.copy(x),
    lambda x: np.asarray(x, dtype=np.float64), lambda x: np.array(x, dtype=float, copy=True),
    lambda x: x.astype(np.float64), lambda x: x.copy(), lambda x: x.reshape(x.shape),
], ids=["asarray", "array", "asanyarray", "ascontiguousarray", "np.copy", "asarray_dtype",
        "array_copy", "astype", "method_copy", "reshape"])
def test_observation_survives_the_usual_conversions(convert):
    def converted_then_blocks(x, block_size):
        x = convert(x)
        return [x[..., j:j + block_size].max(-1) for j in range(0, x.shape[-1], block_size)]

    _, log = observe_columns(converted_then_blocks, np.zeros((2, 10)), 4)
    assert log == [4, 4, 2]


def test_a_conversion_bound_before_the_call_escapes_and_then_nothing_is_observed():
    asarray = np.asarray    # like `from numpy import asarray`: looked up before observing

    def escapes(x, block_size):
        x = asarray(x)
        return [x[..., j:j + block_size].max(-1) for j in range(0, x.shape[-1], block_size)]

    _, log = observe_columns(escapes, np.zeros((2, 10)), 4)
    assert log == [] and not streamed_in_blocks(log, 10, 4)


def test_conversion_functions_are_restored_after_observing():
    saved = np.asarray
    with pytest.raises(ZeroDivisionError):
        observe_columns(lambda x, b: 1 / 0, np.zeros((1, 4)), 2)
    assert np.asarray is saved


def test_a_maximum_over_all_columns_first_is_not_streaming():
    assert not streamed_in_blocks([10, 4, 4, 2], n=10, block_size=4)
    assert streamed_in_blocks([4, 4, 2, 10], n=10, block_size=4)   # normalising at the end is fine
    assert not streamed_in_blocks([4, 10, 4, 2], n=10, block_size=4)


def test_an_observer_that_sees_nothing_fails_and_says_why():
    assert not streamed_in_blocks([], n=10, block_size=4)
    assert "no numpy computation on x was observed" in stream_problem([], 10, 4)


def test_peak_rss_growth_sees_numpy_and_torch_matrices_and_not_a_tile():
    import torch

    n = 2048
    Q = np.random.default_rng(0).normal(size=(n, 4))
    full = peak_rss_growth(lambda: naive_attention(Q, Q, Q, 16))
    tiled = peak_rss_growth(lambda: good_tiled(Q, Q, Q, 16),
                            warmup=lambda: good_tiled(Q[:64], Q[:64], Q[:64], 16))
    t = torch.from_numpy(Q)
    in_torch = peak_rss_growth(lambda: torch.softmax(t @ t.T, -1))
    assert full >= n * n * 8
    assert in_torch >= n * n * 8, f"torch's n x n matrices were not seen: {in_torch / 1e6:.1f} MB"
    assert tiled < n * n
    assert peak_bytes(lambda: torch.softmax(t @ t.T, -1)) < n * n   # why tracemalloc is not enough


def test_peak_rss_growth_reports_an_exception_of_the_call():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        peak_rss_growth(lambda: 1 / 0)


# --- online_softmax ------------------------------------------------------------------------
def test_correct_online_softmax_passes_every_check():
    report = check_online_softmax(good_online_softmax)
    assert report.passed, report
    assert 4 <= len(report.results) <= 8


def test_online_softmax_without_rescaling_fails_with_rescale_hint():
    def no_rescale(x, block_size):
        m = np.full(x.shape[:-1] + (1,), -np.inf)
        s = np.zeros(x.shape[:-1] + (1,))
        for j in range(0, x.shape[-1], block_size):
            blk = x[..., j:j + block_size]
            m = np.maximum(m, blk.max(axis=-1, keepdims=True))
            s = s + np.exp(blk - m).sum(axis=-1, keepdims=True)
        return np.exp(x - m) / s

    result = failure(check_online_softmax(no_rescale), "growing row")
    assert "exp(old_max - new_max)" in result.hint


def test_online_softmax_dropping_the_last_block_fails_the_partial_block_property():
    def drops_last(x, block_size):
        n = x.shape[-1] - x.shape[-1] % block_size
        return good_online_softmax(x[..., :n], block_size) if n else x * 0

    def padded(x, block_size):
        out = np.zeros(x.shape)
        out[..., :x.shape[-1] - x.shape[-1] % block_size] = drops_last(x, block_size)
        return out

    failure(check_online_softmax(padded), "shorter block")


def test_online_softmax_with_global_max_fails_only_the_streaming_property():
    def global_max(x, block_size):
        m = x.max(axis=-1, keepdims=True)
        e = np.exp(x - m)
        return e / e.sum(axis=-1, keepdims=True)

    report = check_online_softmax(global_max)
    failure(report, "block by block")
    assert len(report.failures) == 1, report


def test_online_softmax_normalising_each_block_fails():
    def per_block(x, block_size):
        out = np.empty(x.shape)
        for j in range(0, x.shape[-1], block_size):
            blk = x[..., j:j + block_size]
            e = np.exp(blk - blk.max(-1, keepdims=True))
            out[..., j:j + block_size] = e / e.sum(-1, keepdims=True)
        return out

    failure(check_online_softmax(per_block), "divides the row length")


def test_online_softmax_that_modifies_x_fails():
    def in_place(x, block_size):
        out = good_online_softmax(x, block_size)
        x[...] = 0
        return out

    failure(check_online_softmax(in_place), "not modified")


def _online(init_zero=False, block_max=False, convert=None):
    """Online softmax with one mistake switched on (or none)."""
    def online(x, block_size):
        if convert is not None:
            x = convert(x)
        m = np.zeros(x.shape[:-1] + (1,)) if init_zero else np.full(x.shape[:-1] + (1,), -np.inf)
        s = np.zeros(x.shape[:-1] + (1,))
        for j in range(0, x.shape[-1], block_size):
            blk = x[..., j:j + block_size]
            top = blk.max(axis=-1, keepdims=True)
            new = top if block_max else np.maximum(m, top)
            with np.errstate(all="ignore"):
                s = s * np.exp(m - new) + np.exp(blk - new).sum(axis=-1, keepdims=True)
            m = new
        with np.errstate(all="ignore"):
            return np.exp(x - m) / s
    return online


def test_block_maximum_instead_of_running_maximum_fails_the_large_scores_property():
    report = check_online_softmax(_online(block_max=True))
    result = failure(report, "early block far above")
    assert "not the current block's own maximum" in result.hint
    assert len(report.failures) == 1, report


def test_running_maximum_started_at_zero_fails_the_very_negative_property():
    report = check_online_softmax(_online(init_zero=True))
    result = failure(report, "around -800")
    assert "-inf, not at 0" in result.hint
    assert len(report.failures) == 1, report


@pytest.mark.parametrize("convert", [lambda x: np.asarray(x), lambda x: np.array(x, dtype=np.float64),
                                     lambda x: x.astype(np.float64)],
                         ids=["asarray", "array", "astype"])
def test_correct_online_softmax_that_converts_x_first_passes_every_check(convert):
    report = check_online_softmax(_online(convert=convert))
    assert report.passed, report


def test_global_max_after_asarray_still_fails_the_streaming_property():
    def global_max(x, block_size):
        x = np.asarray(x)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    report = check_online_softmax(global_max)
    result = failure(report, "block by block")
    assert "x.max() upfront" in result.hint
    assert len(report.failures) == 1, report


def test_online_softmax_in_torch_is_not_observed_and_fails_only_the_streaming_property():
    import torch

    def in_torch(x, block_size):
        t = torch.from_numpy(np.asarray(x).view(np.ndarray))
        m = torch.full(t.shape[:-1] + (1,), -torch.inf, dtype=t.dtype)
        s = torch.zeros_like(m)
        for j in range(0, t.shape[-1], block_size):
            blk = t[..., j:j + block_size]
            new = torch.maximum(m, blk.amax(-1, keepdim=True))
            s = s * torch.exp(m - new) + torch.exp(blk - new).sum(-1, keepdim=True)
            m = new
        return (torch.exp(t - m) / s).numpy()

    report = check_online_softmax(in_torch)
    result = failure(report, "block by block")
    assert "no numpy computation on x was observed" in result.detail
    assert len(report.failures) == 1, report


# --- tiled_attention -----------------------------------------------------------------------
def test_correct_tiled_attention_passes_every_check():
    report = check_tiled_attention(good_tiled)
    assert report.passed, report
    assert 4 <= len(report.results) <= 8


def test_naive_attention_fails_only_the_memory_property():
    report = check_tiled_attention(naive_attention)
    result = failure(report, "score matrix")
    assert "tile" in result.hint
    assert len(report.failures) == 1, report


def test_tiled_attention_without_output_rescaling_fails():
    def no_rescale(Q, K, V, block_size, causal=False):
        m = np.full(Q.shape[:-1] + (1,), -np.inf)
        s = np.zeros_like(m)
        acc = np.zeros(Q.shape[:-1] + (V.shape[-1],))
        for j in range(0, K.shape[-2], block_size):
            S = Q @ np.swapaxes(K[..., j:j + block_size, :], -1, -2) / np.sqrt(Q.shape[-1])
            new = np.maximum(m, S.max(-1, keepdims=True))
            P = np.exp(S - new)
            s = np.exp(m - new) * s + P.sum(-1, keepdims=True)
            acc = acc + P @ V[..., j:j + block_size, :]
            m = new
        return acc / s

    result = failure(check_tiled_attention(no_rescale), "torch SDPA), block_size 4")
    assert "rescale" in result.hint


def tiled_with_causal_rule(allowed):
    """Streaming attention whose causal mask is ``allowed(key_index, query_index, tile_start)``."""
    def tiled(Q, K, V, block_size, causal=False):
        n_q, d = Q.shape[-2:]
        m = np.full(Q.shape[:-1] + (1,), -np.inf)
        s = np.zeros_like(m)
        acc = np.zeros(Q.shape[:-1] + (V.shape[-1],))
        for j in range(0, K.shape[-2], block_size):
            S = Q @ np.swapaxes(K[..., j:j + block_size, :], -1, -2) / np.sqrt(d)
            if causal:
                keys = j + np.arange(S.shape[-1])
                S = np.where(allowed(keys[None, :], np.arange(n_q)[:, None], j), S, -np.inf)
            new = np.maximum(m, S.max(-1, keepdims=True))
            with np.errstate(invalid="ignore"):
                P = np.exp(S - new)
                a = np.exp(m - new)
            s = a * s + P.sum(-1, keepdims=True)
            acc = a * acc + P @ V[..., j:j + block_size, :]
            m = new
        return acc / s
    return tiled


def test_the_causal_rule_used_by_the_wrong_answers_below_is_right_when_written_right():
    report = check_tiled_attention(tiled_with_causal_rule(lambda k, q, start: k <= q))
    assert report.passed, report


@pytest.mark.parametrize("rule", [
    lambda k, q, start: k < q,                  # strict: the diagonal is masked
    lambda k, q, start: k - start <= q,         # key index local to the tile
    lambda k, q, start: k <= q + 1,             # one key too far
], ids=["strict", "tile_local", "one_ahead"])
def test_tiled_attention_with_a_wrong_causal_mask_fails(rule):
    failure(check_tiled_attention(tiled_with_causal_rule(rule)), "causal=True")


def test_tiled_attention_dropping_the_last_block_fails():
    def drops_last(Q, K, V, block_size, causal=False):
        n = K.shape[-2] - K.shape[-2] % block_size or K.shape[-2]
        return good_tiled(Q, K[..., :n, :], V[..., :n, :], block_size, causal=False)

    failure(check_tiled_attention(drops_last), "not divisible")


def test_torch_answers_that_build_the_score_matrix_fail_only_the_memory_property():
    import torch
    import torch.nn.functional as F

    def sdpa_2d(Q, K, V, block_size, causal=False):
        q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()

    def softmax_in_torch(Q, K, V, block_size, causal=False):
        q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
        s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        if causal:
            s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), -torch.inf)
        return (torch.softmax(s, -1) @ v).numpy()

    for fn in (sdpa_2d, softmax_in_torch):
        report = check_tiled_attention(fn)
        result = failure(report, "score matrix")
        assert "memory is measured for the whole process" in result.hint
        assert len(report.failures) == 1, report

