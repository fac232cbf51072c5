"""Plausible wrong answers to notebook 01 lose points; the solution gets full marks.

One nbgrader run grades every variant (the solution, the blank release and each mutant) as
its own student; the assertions below read the scores per test cell.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.course.mutation import BLANK, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "01-queries-keys-values", "queries_keys_values.ipynb"
QKV_CELLS = ["test_project_qkv", "test_project_qkv_contract"]
SCORE_CELLS = ["test_dot_scores", "test_dot_scores_batched"]

_QKV_DEF = "def project_qkv(X, W_q, W_k, W_v):\n"
_SCORES_DEF = "import numpy as np\n\ndef dot_scores(Q, K):\n"

MUTANTS = {
    # project_qkv
    "qkv_w_q_for_keys": {"project_qkv": _QKV_DEF + "    return X @ W_q, X @ W_q, X @ W_v\n"},
    "qkv_query_is_input": {"project_qkv": _QKV_DEF + "    return X, X @ W_k, X @ W_v\n"},
    "qkv_transposed": {"project_qkv": _QKV_DEF
                       + "    return W_q.T @ X.T, W_k.T @ X.T, W_v.T @ X.T\n"},
    "qkv_dot_T_trick": {"project_qkv": _QKV_DEF
                        + "    return (W_q.T @ X.T).T, (W_k.T @ X.T).T, (W_v.T @ X.T).T\n"},
    "qkv_np_dot": {"project_qkv": "import numpy as np\n\n" + _QKV_DEF
                   + "    return np.dot(X, W_q), np.dot(X, W_k), np.dot(X, W_v)\n"},
    "qkv_float64": {"project_qkv": "import numpy as np\n\n" + _QKV_DEF
                    + "    X = np.asarray(X, dtype=np.float64)\n"
                    + "    return X @ np.asarray(W_q), X @ np.asarray(W_k), X @ np.asarray(W_v)\n"},
    # dot_scores
    "scores_k_qt": {"dot_scores": _SCORES_DEF + "    return K @ Q.swapaxes(-1, -2)\n"},
    "scores_dot_T": {"dot_scores": _SCORES_DEF + "    return Q @ K.T\n"},
    "scores_torch_style_transpose": {"dot_scores": _SCORES_DEF
                                     + "    return Q @ K.transpose(-2, -1)\n"},
    "scores_np_matmul": {"dot_scores": _SCORES_DEF
                         + "    return np.matmul(Q, np.swapaxes(K, -1, -2))\n"},
    "scores_elementwise": {"dot_scores": _SCORES_DEF + "    return (Q * K).sum(axis=-1)\n"},
}

# the test cells each mutant must score 0 in; every other cell keeps full marks
LOSES = {
    "qkv_w_q_for_keys": QKV_CELLS,
    "qkv_query_is_input": QKV_CELLS,
    "qkv_transposed": QKV_CELLS,
    "qkv_dot_T_trick": ["test_project_qkv_contract"],
    "qkv_np_dot": ["test_project_qkv_contract"],
    "qkv_float64": ["test_project_qkv_contract"],
    "scores_k_qt": SCORE_CELLS,
    "scores_dot_T": ["test_dot_scores_batched"],
    "scores_torch_style_transpose": SCORE_CELLS,
    "scores_np_matmul": ["test_dot_scores_batched"],
    "scores_elementwise": SCORE_CELLS,
}


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    # nbgrader runs the `alembic` executable from PATH; make the venv's bin/ findable
    # even when pytest is started as .venv/bin/python without activating the venv.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        return _grade(tmp_path_factory)


def _grade(tmp_path_factory):
    variants = {"solution": {}, "blank": BLANK, **MUTANTS}
    return autograde_variants(ASSIGNMENT, NOTEBOOK, variants,
                              tmp_path_factory.mktemp("mutants01"))


def test_every_graded_function_has_at_least_four_mutants():
    for grade_id in ("project_qkv", "dot_scores"):
        assert sum(grade_id in m for m in MUTANTS.values()) >= 4, grade_id


@pytest.mark.slow
def test_solution_gets_full_marks(scores):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    assert set(full) == set(QKV_CELLS + SCORE_CELLS)
    assert {k: v for k, v in scores["solution"].items() if k != "_total"} == full
    assert scores["solution"]["_total"] == sum(full.values())


@pytest.mark.slow
def test_blank_notebook_gets_zero(scores):
    assert scores["blank"]["_total"] == 0.0
    assert all(v == 0.0 for v in scores["blank"].values())


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_points_where_it_should(scores, mutant):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    got = scores[mutant]
    for cell, points in full.items():
        expected = 0.0 if cell in LOSES[mutant] else points
        assert got[cell] == expected, f"{mutant}: {cell} scored {got[cell]}, expected {expected}"
    assert got["_total"] < sum(full.values())
