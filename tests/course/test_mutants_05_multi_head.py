"""Notebook 05: the solution gets full marks, the blank release zero, and every plausible
wrong MultiHeadAttention loses points in the test cells that should catch it.

Each mutant is the notebook's own solution with ONE line changed (``_mutate`` fails loudly
if the line it changes is no longer in the solution), so it differs from a correct answer
by exactly the mistake it is named after.
"""
from __future__ import annotations

import nbformat
import pytest

from tests.course.mutation import BLANK, COURSE, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "05-multi-head", "multi_head.ipynb"
GRADE_ID = "MultiHeadAttention"


def _solution_source() -> str:
    nb = nbformat.read(COURSE / ASSIGNMENT / NOTEBOOK, as_version=4)
    return next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == GRADE_ID)


def _mutate(old: str, new: str) -> dict[str, str]:
    source = _solution_source()
    assert source.count(old) == 1, f"mutant anchor not found exactly once: {old!r}"
    return {GRADE_ID: source.replace(old, new)}


SPLIT = ("x.reshape(x.shape[0], x.shape[1], self.num_heads, self.d_head).transpose(1, 2)")

MUTANTS = {
    # (batch, seq, d_model) -> (batch, heads, seq, d_head) in one reshape: right shape only
    "split_without_transpose": _mutate(
        SPLIT, "x.reshape(x.shape[0], self.num_heads, x.shape[1], self.d_head)"),
    "missing_out_proj": _mutate("return self.out_proj(merged), weights",
                                "return merged, weights"),
    "scale_by_sqrt_d_model": _mutate("/ math.sqrt(self.d_head)", "/ math.sqrt(self.d_model)"),
    "softmax_over_queries": _mutate("torch.softmax(scores, dim=-1)",
                                    "torch.softmax(scores, dim=-2)"),
    "mask_inverted": _mutate("scores.masked_fill(~mask, float(\"-inf\"))",
                             "scores.masked_fill(mask, float(\"-inf\"))"),
    "merge_without_transpose": _mutate("heads.transpose(1, 2).reshape(batch, n_q, self.d_model)",
                                       "heads.reshape(batch, n_q, self.d_model)"),
    "one_projection_for_q_and_k": _mutate("k = split(self.k_proj(key))",
                                          "k = split(self.q_proj(key))"),
}

# where each mistake must lose points (it may lose more elsewhere)
MUST_LOSE = {
    "split_without_transpose": ["test_MultiHeadAttention_torch", "test_MultiHeadAttention_mask"],
    "missing_out_proj": ["test_MultiHeadAttention_torch", "test_MultiHeadAttention_mask"],
    "scale_by_sqrt_d_model": ["test_MultiHeadAttention_torch", "test_MultiHeadAttention_mask"],
    "softmax_over_queries": ["test_MultiHeadAttention", "test_MultiHeadAttention_torch",
                             "test_MultiHeadAttention_mask"],
    "mask_inverted": ["test_MultiHeadAttention_mask"],
    "merge_without_transpose": ["test_MultiHeadAttention_torch", "test_MultiHeadAttention_mask"],
    "one_projection_for_q_and_k": ["test_MultiHeadAttention_torch",
                                   "test_MultiHeadAttention_mask"],
}


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    variants = {"solution": {}, "blank": BLANK, **MUTANTS}
    return autograde_variants(ASSIGNMENT, NOTEBOOK, variants,
                              tmp_path_factory.mktemp("mutants05"))


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
    assert got["_total"] < scores["solution"]["_total"]


def test_every_mutant_has_an_expectation():
    assert set(MUST_LOSE) == set(MUTANTS)
    assert len(MUTANTS) >= 4
