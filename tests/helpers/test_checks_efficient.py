"""helpers.checks.efficient: a correct streaming implementation passes every property; each
typical mistake fails the property that names it; the instruments (recording array,
tracemalloc peak) tell streaming code from code that reads or builds everything at once."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.checks import check_online_softmax, check_tiled_attention
from helpers.checks.efficient import peak_bytes, record_columns, streamed_in_blocks


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
    rec, log = record_columns(np.arange(12.0).reshape(2, 6))
    total = rec[..., 0:4].sum() + rec[..., 4:6].max()
    assert log == [4, 2]
    assert type(np.exp(rec)) is np.ndarray
    assert float(total) == (0 + 1 + 2 + 3 + 6 + 7 + 8 + 9) + 11


def test_a_maximum_over_all_columns_first_is_not_streaming():
    assert not streamed_in_blocks([10, 4, 4, 2], n=10, block_size=4)
    assert streamed_in_blocks([4, 4, 2, 10], n=10, block_size=4)   # normalising at the end is fine
    assert not streamed_in_blocks([4, 10, 4, 2], n=10, block_size=4)
    assert streamed_in_blocks([], n=10, block_size=4)                # nothing observed


def test_peak_bytes_sees_an_n_by_n_matrix_and_not_a_tile():
    n = 2048
    Q = np.random.default_rng(0).normal(size=(n, 4))
    full = peak_bytes(naive_attention, Q, Q, Q, 16)
    tiled = peak_bytes(good_tiled, Q, Q, Q, 16)
    assert full >= n * n * 8
    assert tiled < n * n


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
