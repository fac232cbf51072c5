"""Hostile cell metadata through `python -m grading release` + `autograde` + `report`:
a submission whose nbgrader metadata names cells the gradebook does not know (a renamed
grade_id, an invented graded cell worth 100 points, a cell with nbgrader metadata but no
grade_id, metadata that is not even a dict) is graded like the same submission without the
forgery: its correct answers keep their points, the forged cells earn nothing, the run goes
on and exits 0. Found by the XSS review of issue 13 (autograde failed with
KeyError: 'grade_id' and the student lost the whole notebook)."""
from __future__ import annotations

import json

import nbformat
import pytest

from tests.hostile.conftest import ASSIGNMENT, NOTEBOOK, build_notebook
from tests.hostile.test_hostile_cli import _mk, answered, cell, cli

pytestmark = [pytest.mark.hostile, pytest.mark.slow]


def _forge(release, how: str) -> nbformat.NotebookNode:
    nb = answered(release)
    if how == "renamed-solution":
        cell(nb, "double").metadata["nbgrader"]["grade_id"] = "double_renamed"
    elif how == "invented-graded-cell":
        extra = nbformat.v4.new_code_cell("print('free points')")
        extra.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": False,
                                      "grade_id": "free_points", "points": 100,
                                      "schema_version": 3}
        nb.cells.insert(4, extra)
    elif how == "no-grade-id":
        extra = nbformat.v4.new_code_cell("print('no id')")
        extra.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False,
                                      "points": 5, "schema_version": 3}
        nb.cells.insert(4, extra)
    elif how == "metadata-not-a-dict":
        nb.cells[3].metadata["nbgrader"] = "grade everything"
    else:
        raise ValueError(how)
    return nb


CASES = ("renamed-solution", "invented-graded-cell", "no-grade-id", "metadata-not-a-dict")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("metadata-course")
    nbformat.write(build_notebook(), _mk(root / "source" / ASSIGNMENT / NOTEBOOK))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'source'\n")
    r = cli("release", ASSIGNMENT, "--course-root", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    release = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    subs = {"good": answered(release), **{how: _forge(release, how) for how in CASES}}
    for student, nb in subs.items():
        nbformat.write(nb, _mk(root / "submitted" / student / ASSIGNMENT / NOTEBOOK))
    auto = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2",
               "--no-progress", timeout=900)
    rep = cli("report", "--format", "json", "--course-root", str(root))
    return auto, rep


def _scores(report_json: str, student: str) -> dict[str, float]:
    return {row.get("cell") or "": (row.get("score"), row.get("max_score"))
            for row in json.loads(report_json) if row["student"] == student}


def test_autograde_exits_0(graded):
    auto, rep = graded
    assert auto.returncode == 0, auto.stdout[-3000:] + auto.stderr[-3000:]
    assert rep.returncode == 0, rep.stdout[-3000:] + rep.stderr[-3000:]


@pytest.mark.parametrize("how", CASES)
def test_forged_metadata_neither_costs_nor_earns_points(graded, how):
    _, rep = graded
    good, forged = _scores(rep.stdout, "good"), _scores(rep.stdout, how)
    assert good, f"no report rows for the well-behaved submission:\n{rep.stdout[:2000]}"
    assert forged == good, (f"{how}: per-cell (score, max) differ from the same answers without "
                            f"the forged metadata\nforged: {forged}\ngood:   {good}")
