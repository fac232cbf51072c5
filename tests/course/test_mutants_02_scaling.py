"""Plausible wrong answers to notebook 02 lose points; the solution gets full marks.

The manually graded written answer is not scored by autograde; only code cells count here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.course.mutation import BLANK, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "02-scaling", "scaling.ipynb"
CELLS = ["test_scaled_scores", "test_scaled_scores_contract"]

_DEF = "import math\nimport numpy as np\nimport torch\n\ndef scaled_scores(Q, K):\n"
_RAW = "Q @ K.swapaxes(-1, -2)"

MUTANTS = {
    "no_scaling": {"scaled_scores": _DEF + f"    return {_RAW}\n"},
    "divide_by_d_k": {"scaled_scores": _DEF + f"    return {_RAW} / K.shape[-1]\n"},
    "sqrt_d_k_times_sqrt_d_q": {"scaled_scores": _DEF
                                + f"    return {_RAW} / (math.sqrt(K.shape[-1]) * math.sqrt(Q.shape[-1]))\n"},
    "divide_by_sqrt_n_k": {"scaled_scores": _DEF + f"    return {_RAW} / math.sqrt(K.shape[-2])\n"},
    "transposed_result": {"scaled_scores": _DEF
                          + "    return K @ Q.swapaxes(-1, -2) / math.sqrt(K.shape[-1])\n"},
    "dot_T_on_batches": {"scaled_scores": _DEF + "    return Q @ K.T / math.sqrt(K.shape[-1])\n"},
    "scales_q_in_place": {"scaled_scores": _DEF + "    Q /= math.sqrt(K.shape[-1])\n"
                          + f"    return {_RAW}\n"},
    "converts_to_float64_numpy": {"scaled_scores": _DEF
                                  + "    Q, K = np.asarray(Q, dtype=np.float64), np.asarray(K, dtype=np.float64)\n"
                                  + f"    return {_RAW} / math.sqrt(K.shape[-1])\n"},
    "torch_sqrt_of_int": {"scaled_scores": _DEF + f"    return {_RAW} / torch.sqrt(K.shape[-1])\n"},
}

LOSES = {name: CELLS for name in MUTANTS}
LOSES["dot_T_on_batches"] = ["test_scaled_scores_contract"]
LOSES["converts_to_float64_numpy"] = ["test_scaled_scores_contract"]


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
                              tmp_path_factory.mktemp("mutants02"))


def test_graded_function_has_at_least_four_mutants():
    assert len(MUTANTS) >= 4


@pytest.mark.slow
def test_solution_gets_full_marks(scores):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    assert set(full) == set(CELLS)
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
