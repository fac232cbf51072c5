"""Plausible wrong answers to notebook 03 lose points where they should.

Each mutant replaces one solution cell of course/03-softmax/softmax.ipynb; all of them,
the untouched solution and the blank release are autograded with nbgrader in one run
(tests/course/mutation.py). ``LOSES`` names the test cells each mutant must score 0 in.
"""
from __future__ import annotations

import pytest

from tests.course.mutation import BLANK, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "03-softmax", "softmax.ipynb"

SOFTMAX = {
    "softmax_without_max_subtraction": '''
def softmax(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
''',
    "softmax_max_of_whole_array": '''
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=axis, keepdims=True)
''',
    "softmax_normalised_over_axis_0": '''
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
''',
    "softmax_ignores_axis": '''
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
''',
    "softmax_in_place": '''
def softmax(x, axis=-1):
    x -= x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x
''',
    "softmax_without_keepdims": '''
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis))
    return e / e.sum(axis=axis)
''',
    "softmax_upcasts_to_float64": '''
def softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
''',
}

CAUSAL_MASK = {
    "causal_mask_upper_triangle": '''
def causal_mask(n):
    return np.triu(np.ones((n, n), dtype=bool))
''',
    "causal_mask_without_diagonal": '''
def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool), k=-1)
''',
    "causal_mask_int_dtype": '''
def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=int))
''',
    "causal_mask_true_means_blocked": '''
def causal_mask(n):
    return np.triu(np.ones((n, n), dtype=bool), k=1)
''',
}

MASKED_SOFTMAX = {
    "masked_softmax_fill_minus_1e9": '''
def masked_softmax(scores, mask, axis=-1):
    return softmax(np.where(mask, scores, -1e9), axis=axis)
''',
    "masked_softmax_nan_on_fully_masked_row": '''
def masked_softmax(scores, mask, axis=-1):
    return softmax(np.where(mask, scores, -np.inf), axis=axis)
''',
    "masked_softmax_nan_to_num_with_warnings": '''
def masked_softmax(scores, mask, axis=-1):
    return np.nan_to_num(softmax(np.where(mask, scores, -np.inf), axis=axis))
''',
    "masked_softmax_mask_inverted": '''
def masked_softmax(scores, mask, axis=-1):
    mask = np.broadcast_to(mask, scores.shape)
    e = np.where(mask, 0, np.exp(scores - scores.max(axis=axis, keepdims=True)))
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1)
''',
    "masked_softmax_not_renormalised": '''
def masked_softmax(scores, mask, axis=-1):
    return softmax(scores, axis=axis) * mask
''',
    "masked_softmax_2d_row_loop": '''
def masked_softmax(scores, mask, axis=-1):
    weights = np.zeros_like(scores)
    for i in range(scores.shape[0]):
        allowed = mask[i]
        if allowed.any():
            weights[i, allowed] = softmax(scores[i, allowed])
    return weights
''',
    "masked_softmax_ignores_axis": '''
def masked_softmax(scores, mask, axis=-1):
    mask = np.broadcast_to(mask, scores.shape)
    allowed = np.where(mask, scores, -np.inf)
    top = allowed.max(axis=-1, keepdims=True)
    e = np.where(mask, np.exp(allowed - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1)
''',
}

MUTANTS = {name: {grade_id: source}
           for grade_id, group in (("softmax", SOFTMAX), ("causal_mask", CAUSAL_MASK),
                                   ("masked_softmax", MASKED_SOFTMAX))
           for name, source in group.items()}

SOFTMAX_TESTS = {"test_softmax"}
MASKED_TESTS = {"test_masked_softmax", "test_masked_softmax_fully_masked"}
LOSES = {
    **{name: SOFTMAX_TESTS for name in SOFTMAX},
    **{name: {"test_causal_mask"} for name in CAUSAL_MASK},
    "masked_softmax_fill_minus_1e9": {"test_masked_softmax_fully_masked"},
    "masked_softmax_nan_on_fully_masked_row": {"test_masked_softmax_fully_masked"},
    "masked_softmax_nan_to_num_with_warnings": {"test_masked_softmax_fully_masked"},
    "masked_softmax_mask_inverted": MASKED_TESTS,
    "masked_softmax_not_renormalised": {"test_masked_softmax"},
    "masked_softmax_2d_row_loop": MASKED_TESTS,
    "masked_softmax_ignores_axis": MASKED_TESTS,
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    variants = {"solution": {}, "blank": BLANK, **MUTANTS}
    result = autograde_variants(ASSIGNMENT, NOTEBOOK, variants, tmp_path_factory.mktemp("grade"))
    for name, cells in result.items():  # shown with -s, or when a test fails
        print(f"{name:45s} {cells}")
    return result


def test_every_graded_function_has_at_least_four_mutants():
    for group in (SOFTMAX, CAUSAL_MASK, MASKED_SOFTMAX):
        assert len(group) >= 4
    assert set(LOSES) == set(MUTANTS)


def test_solution_gets_full_marks(scores):
    expected = max_points(ASSIGNMENT, NOTEBOOK)
    assert {cell: scores["solution"][cell] for cell in expected} == expected
    assert scores["solution"]["_total"] == sum(expected.values())


def test_blank_notebook_gets_zero(scores):
    assert scores["blank"]["_total"] == 0.0


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_points_where_it_should(scores, mutant):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    got = scores[mutant]
    for cell in LOSES[mutant]:
        assert got[cell] == 0.0, f"{mutant} should score 0 in {cell}; scores: {got}"
    # cells testing the other functions are unaffected: the mutant is caught for its own bug
    others = {c for c in full if not c.startswith(_tests_of(mutant))}
    for cell in others:
        assert got[cell] == full[cell], f"{mutant} should keep full marks in {cell}; scores: {got}"


def _tests_of(mutant: str) -> tuple[str, ...]:
    if mutant.startswith("masked_softmax"):
        return ("test_masked_softmax",)
    if mutant.startswith("causal_mask"):
        return ("test_causal_mask",)
    return ("test_softmax",)
