"""Notebook 07: the solutions get full marks, the blank release zero, and every plausible
wrong online_softmax / tiled_attention loses points in the test cells that should catch it.

Most mutants are the notebook's own solution with one line changed (``_mutate`` fails
loudly if that line is no longer in the solution); the rest are short complete answers
written the wrong way (normalising each block on its own). Two mutants give the RIGHT
numbers the wrong way (a global maximum taken upfront): only the streaming test (recording
array) and the memory test (tracemalloc) can catch them, and they must.
"""
from __future__ import annotations

import nbformat
import pytest

from tests.course.mutation import BLANK, COURSE, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "07-efficient-attention", "efficient_attention.ipynb"


def _solution_source(grade_id: str) -> str:
    nb = nbformat.read(COURSE / ASSIGNMENT / NOTEBOOK, as_version=4)
    return next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _mutate(grade_id: str, old: str, new: str) -> dict[str, str]:
    source = _solution_source(grade_id)
    assert source.count(old) == 1, f"mutant anchor not found exactly once: {old!r}"
    return {grade_id: source.replace(old, new)}


SOFTMAX_PER_BLOCK = '''
def online_softmax(x, block_size):
    out = np.empty(x.shape)
    for start in range(0, x.shape[-1], block_size):
        block = x[..., start:start + block_size]
        e = np.exp(block - block.max(axis=-1, keepdims=True))
        out[..., start:start + block_size] = e / e.sum(axis=-1, keepdims=True)
    return out
'''

SOFTMAX_NO_MAX = '''
def online_softmax(x, block_size):
    total = np.zeros(x.shape[:-1] + (1,))
    for start in range(0, x.shape[-1], block_size):
        total = total + np.exp(x[..., start:start + block_size]).sum(axis=-1, keepdims=True)
    return np.exp(x) / total
'''

TILED_PER_BLOCK = '''
def tiled_attention(Q, K, V, block_size, causal=False):
    n_q, d = Q.shape[-2:]
    n_k = K.shape[-2]
    out, blocks = 0.0, 0
    for start in range(0, n_k, block_size):
        S = Q @ np.swapaxes(K[..., start:start + block_size, :], -1, -2) / np.sqrt(d)
        if causal:
            S = np.where(np.arange(start, start + S.shape[-1]) <= np.arange(n_q)[:, None], S, -np.inf)
        P = np.exp(S - S.max(axis=-1, keepdims=True))
        P = np.nan_to_num(P / P.sum(axis=-1, keepdims=True))
        out, blocks = out + P @ V[..., start:start + block_size, :], blocks + 1
    return out / blocks
'''

MUTANTS = {
    # --- online_softmax
    "softmax_forgets_to_rescale_sum": _mutate(
        "online_softmax", "l = l * np.exp(m - m_new) + ", "l = l + "),
    "softmax_drops_last_partial_block": _mutate(
        "online_softmax", "range(0, n, block_size)", "range(0, n - n % block_size, block_size)"),
    "softmax_global_max_upfront": _mutate(
        "online_softmax", "m = np.full(x.shape[:-1] + (1,), -np.inf)",
        "m = x.max(axis=-1, keepdims=True)"),
    "softmax_rescale_sign_flipped": _mutate(
        "online_softmax", "l = l * np.exp(m - m_new)", "l = l * np.exp(m_new - m)"),
    "softmax_normalises_each_block": {"online_softmax": SOFTMAX_PER_BLOCK},
    "softmax_without_max": {"online_softmax": SOFTMAX_NO_MAX},
    # --- tiled_attention
    "tiled_forgets_to_rescale_output": _mutate(
        "tiled_attention", "out = alpha * out + ", "out = out + "),
    "tiled_forgets_to_rescale_sum": _mutate(
        "tiled_attention", "l = alpha * l + ", "l = l + "),
    "tiled_drops_last_partial_block": _mutate(
        "tiled_attention", "range(0, n_k, block_size)",
        "range(0, n_k - n_k % block_size, block_size)"),
    "tiled_global_max_from_full_scores": _mutate(
        "tiled_attention", "m = np.full(lead + (n_q, 1), -np.inf)",
        "m = (Q @ np.swapaxes(K, -1, -2) / np.sqrt(d)).max(axis=-1, keepdims=True)"),
    "tiled_causal_off_by_one": _mutate(
        "tiled_attention", "np.arange(start, stop) <= query_pos", "np.arange(start, stop) < query_pos"),
    "tiled_causal_index_local_to_tile": _mutate(
        "tiled_attention", "np.arange(start, stop) <= query_pos",
        "np.arange(stop - start) <= query_pos"),
    "tiled_forgets_sqrt_d": _mutate(
        "tiled_attention", "np.swapaxes(K[..., start:stop, :], -1, -2) / np.sqrt(d)",
        "np.swapaxes(K[..., start:stop, :], -1, -2)"),
    "tiled_normalises_each_block": {"tiled_attention": TILED_PER_BLOCK},
}

MUST_LOSE = {
    "softmax_forgets_to_rescale_sum": ["test_online_softmax"],
    "softmax_drops_last_partial_block": ["test_online_softmax"],
    "softmax_global_max_upfront": ["test_online_softmax_streaming"],
    "softmax_rescale_sign_flipped": ["test_online_softmax"],
    "softmax_normalises_each_block": ["test_online_softmax"],
    "softmax_without_max": ["test_online_softmax"],
    "tiled_forgets_to_rescale_output": ["test_tiled_attention", "test_tiled_attention_causal"],
    "tiled_forgets_to_rescale_sum": ["test_tiled_attention", "test_tiled_attention_causal"],
    "tiled_drops_last_partial_block": ["test_tiled_attention", "test_tiled_attention_causal"],
    "tiled_global_max_from_full_scores": ["test_tiled_attention_memory"],
    "tiled_causal_off_by_one": ["test_tiled_attention_causal"],
    "tiled_causal_index_local_to_tile": ["test_tiled_attention_causal"],
    "tiled_forgets_sqrt_d": ["test_tiled_attention", "test_tiled_attention_causal"],
    "tiled_normalises_each_block": ["test_tiled_attention", "test_tiled_attention_causal"],
}

# a mistake in one function must not cost points in the other function's cells
OTHER_FUNCTION_CELLS = {
    "softmax": ["test_tiled_attention", "test_tiled_attention_causal", "test_tiled_attention_memory"],
    "tiled": ["test_online_softmax", "test_online_softmax_streaming"],
}


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    variants = {"solution": {}, "blank": BLANK, **MUTANTS}
    return autograde_variants(ASSIGNMENT, NOTEBOOK, variants,
                              tmp_path_factory.mktemp("mutants07"))


@pytest.mark.slow
def test_solution_gets_full_marks(scores):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    assert {k: scores["solution"][k] for k in full} == full
    assert scores["solution"]["_total"] == sum(full.values())


@pytest.mark.slow
def test_blank_release_gets_zero(scores):
    assert scores["blank"]["_total"] == 0.0, scores["blank"]


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_points_where_it_should(scores, mutant):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    got = scores[mutant]
    for cell in MUST_LOSE[mutant]:
        assert got[cell] < full[cell], f"{mutant} kept all points of {cell}: {got}"
    for cell in OTHER_FUNCTION_CELLS[mutant.split("_")[0]]:
        assert got[cell] == full[cell], f"{mutant} lost points in {cell}, which tests the other function"


def test_every_mutant_has_an_expectation():
    assert set(MUST_LOSE) == set(MUTANTS)
    assert sum(m.startswith("softmax") for m in MUTANTS) >= 4
    assert sum(m.startswith("tiled") for m in MUTANTS) >= 4
