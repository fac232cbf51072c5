"""The instructor pipeline end to end on a tiny synthetic course (tests/grading/synth.py):
`python -m grading release`, `autograde --jobs 2`, `report`, re-runs, and a comparison with
stock serial `nbgrader autograde` on the same submissions."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest

from tests.grading import synth
from tests.grading.conftest import run_cli, run_cli_here, run_stock_nbgrader

NORMAL = ["alice", "bob", "carol", "dave"]     # execute normally
EXPECTED = {  # (test_add, test_mul) auto scores, worked out from synth.py by hand
    "alice": (2.0, 3.0),      # the source solution
    "bob": (0.0, 0.0),        # the untouched release
    "carol": (2.0, 0.0),      # wrong mul
    "dave": (0.0, 3.0),       # wrong add: visible assert passes, hidden one fails
    "eve": (0.0, 0.0),        # invalid JSON
    "frank": (2.0, 0.0),      # kernel dies (os._exit) in the mul cell
    "gina": (0.0, 0.0),       # notebook submitted under a wrong name
}
KILLER = "import os\nos._exit(3)\n"


def _submit_all(root: Path) -> None:
    src = synth.source_notebook()
    synth.submit(root, "alice", src)
    synth.submit(root, "bob")
    synth.submit(root, "carol", synth.replace_solution(src, "mul", synth.WRONG_MUL))
    synth.submit(root, "dave", synth.replace_solution(src, "add", synth.WRONG_ADD))
    synth.submit(root, "eve", raw=b'{"cells": [ {"cell_type": "code", "sou')
    synth.submit(root, "frank", synth.replace_solution(src, "mul", KILLER))
    wrong = synth.submit(root, "gina", src)
    wrong.rename(wrong.with_name("Arith (1).ipynb"))


def _grades(root: Path) -> dict:
    """{(student, grade_id): (auto_score, manual_score, needs_manual_grade, max_score)} and
    the auto comments, straight from the gradebook's tables."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(synth.ASSIGNMENT).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[(sub.student.id, g.name)] = (g.auto_score, g.manual_score,
                                                     g.needs_manual_grade, g.max_score)
                for c in nb.comments:
                    out[(sub.student.id, "comment:" + c.name)] = c.auto_comment
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = synth.make_course(tmp_path_factory.mktemp("ours") / "course")
    done = run_cli("release", "--course-root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    _submit_all(root)
    done = run_cli("autograde", "--course-root", str(root), "--jobs", "2")
    print(done.stdout)
    return root, done


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    root = synth.make_course(tmp_path_factory.mktemp("stock") / "course")
    assert run_stock_nbgrader(root, "generate_assignment", synth.ASSIGNMENT).returncode == 0
    _submit_all(root)
    for student in set(EXPECTED) - set(NORMAL):
        shutil.rmtree(root / "submitted" / student)
    done = run_stock_nbgrader(root, "autograde", synth.ASSIGNMENT)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def _report(root: Path, *extra: str) -> str:
    done = run_cli_here("report", "--course-root", str(root), *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_release_strips_solutions_and_hidden_tests(graded):
    root, _ = graded
    text = (root / "release" / synth.ASSIGNMENT / "arith.ipynb").read_text()
    for secret in ["total_secret_solution_line", "product_secret_solution_line",
                   "hidden-add-marker", "hidden-mul-marker", "secret written reasoning"]:
        assert secret not in text
    nb = nbformat.read(root / "release" / synth.ASSIGNMENT / "arith.ipynb", as_version=4)
    assert any("def add(a, b):" in c.source and "NotImplementedError" in c.source
               for c in nb.cells)


def test_autograde_exits_0_and_summarises(graded):
    _, done = graded
    assert done.returncode == 0, done.stderr[-3000:]
    assert "7 graded" in done.stdout
    assert "failed to execute" in done.stdout
    for student in ["eve", "frank", "gina"]:
        assert f"{student}/{synth.ASSIGNMENT}" in done.stdout
    assert "isolation:" in done.stdout
    assert "autograde" in done.stderr and "7/7" in done.stderr    # the progress bar


def test_scores_per_cell(graded):
    root, _ = graded
    rows = json.loads(_report(root, "--format", "json"))
    got = {(r["student"], r["cell"]): r for r in rows}
    assert len(rows) == len(got) == 3 * len(EXPECTED)     # no lost or duplicated rows
    for student, (add, mul) in EXPECTED.items():
        assert got[(student, "test_add")]["score"] == add, student
        assert got[(student, "test_mul")]["score"] == mul, student
        assert got[(student, "test_add")]["max_score"] == 2.0
        assert got[(student, "test_mul")]["max_score"] == 3.0
        assert got[(student, "why")]["max_score"] == 1.0
        assert set(got[(student, "why")]) >= {"student", "assignment", "notebook", "cell",
                                              "score", "max_score", "status", "reason"}


def test_bad_submissions_are_reported_with_reasons(graded):
    root, _ = graded
    rows = json.loads(_report(root, "--format", "json"))
    status = {r["student"]: (r["status"], r["reason"]) for r in rows if r["cell"] == "test_add"}
    for student in NORMAL:
        assert status[student] == ("ok", ""), student
    assert status["eve"][0] == "failed" and "JSON" in status["eve"][1]
    assert status["frank"][0] == "dead-kernel" and status["frank"][1]
    assert status["gina"][0] == "missing" and "Arith (1).ipynb" in status["gina"][1]


def test_csv_report_matches_json(graded):
    root, _ = graded
    rows = json.loads(_report(root, "--format", "json"))
    table = list(csv.DictReader(io.StringIO(_report(root, "--format", "csv"))))
    assert [r["student"] for r in table] == [r["student"] for r in rows]
    assert [float(r["score"]) for r in table] == [r["score"] for r in rows]
    assert list(table[0]) == ["student", "assignment", "notebook", "cell", "score",
                              "max_score", "status", "reason"]


def test_per_student_gradebook_csv(graded):
    root, _ = graded
    table = list(csv.DictReader(io.StringIO(_report(root, "--per-student", "--format", "csv"))))
    totals = {r["student"]: float(r[synth.ASSIGNMENT]) for r in table}
    assert totals == {s: sum(v) for s, v in EXPECTED.items()}
    assert {float(r["max_total"]) for r in table} == {6.0}


def test_same_grades_as_stock_serial_nbgrader(graded, stock):
    ours, stock_grades = _grades(graded[0]), _grades(stock)
    ours = {k: v for k, v in ours.items() if k[0] in NORMAL}
    assert ours == stock_grades
    assert len(stock_grades) == len(NORMAL) * 6   # 3 grades + 3 solution-cell comments


def test_no_duplicate_rows_in_gradebook(graded):
    root, _ = graded
    with sqlite3.connect(root / "gradebook.db") as db:
        subs = db.execute("select count(*), count(distinct student_id) "
                          "from submitted_assignment").fetchone()
        dup = db.execute("select count(*) from (select notebook_id, cell_id, count(*) n "
                         "from grade group by notebook_id, cell_id having n > 1)").fetchone()
    assert subs == (len(EXPECTED), len(EXPECTED))
    assert dup == (0,)


def test_rerun_skips_unchanged_and_keeps_manual_grades(graded):
    from nbgrader.api import Gradebook

    root, _ = graded
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.find_grade("why", "arith", synth.ASSIGNMENT, "alice").manual_score = 1.0
        gb.db.commit()
    # alice resubmits (same answers, one more markdown cell): only she is graded again
    path = root / "submitted" / "alice" / synth.ASSIGNMENT / "arith.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("thanks!"))
    nbformat.write(nb, path)
    done = run_cli("autograde", "--course-root", str(root), "--jobs", "2", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 graded" in done.stdout and "6 skipped" in done.stdout
    with Gradebook(url) as gb:
        why = gb.find_grade("why", "arith", synth.ASSIGNMENT, "alice")
        assert why.manual_score == 1.0 and why.score == 1.0
        assert gb.find_submission(synth.ASSIGNMENT, "alice").score == 6.0
    state = json.loads((root / "grading_state.json").read_text())
    assert state["submissions"]["arith/alice"]["status"] == "ok"


@pytest.fixture(scope="module")
def feedback(graded):
    root, _ = graded
    done = run_cli_here("feedback", "--course-root", str(root))
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done


def test_feedback_html_per_graded_submission(feedback):
    root, done = feedback
    for student in ["alice", "bob", "carol", "dave", "frank"]:
        assert (root / "feedback" / student / synth.ASSIGNMENT / "arith.html").is_file(), student
    assert "5 written" in done.stdout


def test_feedback_hides_hidden_tests_even_in_tracebacks(feedback):
    from tests.grading.leaks import html_text, leaked, secret_lines

    root, _ = feedback
    source = root / "source" / synth.ASSIGNMENT / "arith.ipynb"
    hidden_only = {ln for ln in secret_lines(source) if "marker" in ln}
    assert len(hidden_only) == 2
    for student in ["alice", "bob", "carol", "dave", "frank"]:
        html_path = root / "feedback" / student / synth.ASSIGNMENT / "arith.html"
        assert leaked(html_path, hidden_only) == [], student
        assert "hidden-add-marker" not in html_path.read_text()
    # dave failed the hidden assert of test_add: he sees its message, not its code
    dave = html_text(root / "feedback" / "dave" / synth.ASSIGNMENT / "arith.html")
    assert "AssertionError: add(-7, 7) should be 0" in dave
    # the blank submission's feedback has no solution text either
    bob = root / "feedback" / "bob" / synth.ASSIGNMENT / "arith.html"
    assert leaked(bob, secret_lines(source)) == []


def test_stock_feedback_would_leak_the_hidden_assert(graded, tmp_path):
    """The leak check above can fail: nbgrader's own feedback chain (ClearHiddenTests
    without our preprocessor) shows the hidden line in dave's traceback."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    from grading.config import load_config
    from tests.grading.leaks import leaked, secret_lines

    root, _ = graded
    cfg = load_config(root)
    cfg.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades", "nbgrader.preprocessors.ClearHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    cfg.CourseDirectory.feedback_directory = str(tmp_path / "stock-feedback")
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = synth.ASSIGNMENT, "dave"
    app = GenerateFeedback(coursedir=coursedir, config=cfg)
    app.force = True
    assert capture_log(app)["success"]
    html_path = tmp_path / "stock-feedback" / "dave" / synth.ASSIGNMENT / "arith.html"
    source = root / "source" / synth.ASSIGNMENT / "arith.ipynb"
    assert leaked(html_path, {ln for ln in secret_lines(source) if "marker" in ln})
