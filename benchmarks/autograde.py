"""Autograde throughput: stock serial ``nbgrader autograde`` against
``python -m grading autograde --jobs 2`` on the same synthetic submissions.

Submissions are made from one assignment's notebooks: the source solution, the blank
release, and the answers catalogued in tests/course/answers/aNN_<assignment>.py (whole
notebooks, as students hand them in), cycled to ``n_submissions``. Both graders start from identical course roots; their scores
must be equal. Target: >= 1.8x faster with --jobs 2 on 2 cores.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP = 1.8
ASSIGNMENT, NOTEBOOK = "03-softmax", "softmax.ipynb"


def _grading(*args: str, root: Path) -> None:
    subprocess.run([sys.executable, "-m", "grading", *args, "--course-root", str(root)],
                   check=True, capture_output=True, text=True, cwd=REPO)


def _variants(assignment: str, notebook: str, release: Path) -> list:
    sys.path.insert(0, str(REPO))
    from tests.course import verdicts
    module = importlib.import_module(
        f"tests.course.answers.a{assignment[:2]}_{assignment[3:].replace('-', '_')}")
    variants = {"solution": {}, "blank": None,
                **{name: answer.cells for name, answer in module.ANSWERS.items()}}
    return list(verdicts.submissions(assignment, notebook, release, variants,
                                     slim_answers=False).values())


def _make_root(root: Path, n: int, assignment: str, notebook: str) -> None:
    _grading("release", assignment, root=root)
    variants = _variants(assignment, notebook, root / "release" / assignment / notebook)
    for i in range(n):
        target = root / "submitted" / f"student{i:02d}" / assignment
        target.mkdir(parents=True)
        nbformat.write(variants[i % len(variants)], target / notebook)


def _scores(root: Path, assignment: str) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {(s.student.id, g.name): float(g.score)
                for s in gb.assignment_submissions(assignment)
                for nb in s.notebooks for g in nb.grades}


def _execute_alone(root: Path, assignment: str, notebook: str) -> float:
    from .course_exec import execute_timed
    path = root / "submitted" / "student00" / assignment / notebook
    return execute_timed(path)[0]


def run(n_submissions: int = 20, jobs: int = 2, assignment: str = ASSIGNMENT,
        notebook: str = NOTEBOOK) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        stock_root, ours_root = Path(tmp, "stock"), Path(tmp, "ours")
        for root in (stock_root, ours_root):
            _make_root(root, n_submissions, assignment, notebook)

        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment,
                        f"--CourseDirectory.root={stock_root}"], cwd=stock_root,
                       capture_output=True, text=True)
        stock_s = time.perf_counter() - start

        start = time.perf_counter()
        _grading("autograde", assignment, "--jobs", str(jobs), root=ours_root)
        ours_s = time.perf_counter() - start

        stock, ours = _scores(stock_root, assignment), _scores(ours_root, assignment)
        if stock != ours:
            diff = {k: (stock.get(k), ours.get(k)) for k in stock.keys() | ours.keys()
                    if stock.get(k) != ours.get(k)}
            raise AssertionError(f"parallel grades differ from stock nbgrader: {diff}")
        alone_s = _execute_alone(stock_root, assignment, notebook)

    return [{"benchmark": "autograde", "submissions": n_submissions, "jobs": jobs,
             "stock_serial_s": stock_s, f"grading_jobs{jobs}_s": ours_s,
             "speedup": stock_s / ours_s, "target": f">= {TARGET_SPEEDUP}x",
             "met": stock_s / ours_s >= TARGET_SPEEDUP,
             "notebook_alone_s": alone_s,
             "stock_overhead_per_submission_s": stock_s / n_submissions - alone_s,
             "grades_equal": True}]
