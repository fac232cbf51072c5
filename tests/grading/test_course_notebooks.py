"""The pipeline on the REAL course notebooks present in course/: `release` from the repo's
course/ into a fresh course root, the untouched release autograded gets 0 on every
autograded cell, and its feedback HTML contains no hidden-test or solution line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.grading.conftest import REPO, run_cli, run_cli_here
from tests.grading.leaks import leaked, secret_lines

NOTEBOOKS = sorted((REPO / "course").glob("*/*.ipynb"))


def test_some_course_notebook_exists():
    assert NOTEBOOKS, "course/ has no notebooks"


@pytest.fixture(scope="module")
def course_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("real") / "fresh-root"      # does not exist yet
    done = run_cli("release", "--course-root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    for nb in NOTEBOOKS:
        target = root / "submitted" / "blank" / nb.parent.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "release" / nb.parent.name / nb.name, target / nb.name)
    done = run_cli("autograde", "--course-root", str(root), "--jobs", "2", "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    done = run_cli_here("feedback", "--course-root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_release_has_no_secrets(course_root, source):
    release = course_root / "release" / source.parent.name / source.name
    text = release.read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_blank_release_scores_zero(course_root, source):
    done = run_cli_here("report", "--course-root", str(course_root), "--format", "json")
    rows = [r for r in json.loads(done.stdout)
            if r["assignment"] == source.parent.name and r["notebook"] == source.stem]
    nb = nbformat.read(source, as_version=4)
    grade_cells = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade")}
    assert {r["cell"] for r in rows} == grade_cells
    assert all(r["score"] == 0 for r in rows), rows


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_feedback_has_no_hidden_tests_or_solutions(course_root, source):
    release = course_root / "release" / source.parent.name / source.name
    html_path = (course_root / "feedback" / "blank" / source.parent.name
                 / (source.stem + ".html"))
    assert html_path.is_file()
    secrets = secret_lines(source, release)
    assert leaked(html_path, secrets) == []
