"""Gradebook writes under concurrency: many submissions finishing at once through
`autograde(jobs=N)` must leave exactly one, correct set of grades per submission.

The kernels are replaced by a fast fake worker (each writes its own made-up scores into its
private gradebook copy after a random delay), so many jobs overlap in a few seconds; the
merge, locking and state code under test is the real one."""
from __future__ import annotations

import json
import random
import sqlite3
import threading
import time

import pytest

from grading import autograde as ag
from tests.grading import synth

STUDENTS = [f"s{i:02d}" for i in range(16)]


def made_up_scores(student: str) -> tuple[float, float]:
    i = int(student[1:])
    return float(i % 3), float(i % 4)          # test_add in 0..2, test_mul in 0..3


def fake_worker(job, course_root, db_url, timeout, workdir, hard_limit, db_lock):
    from nbgrader.api import Gradebook

    copy = workdir / f"{job.student}.db"
    with db_lock:
        ag.copy_gradebook(ag._sqlite_path(db_url), copy)
    time.sleep(random.uniform(0, 0.05))
    url = f"sqlite:///{copy}"
    add, mul = made_up_scores(job.student)
    with Gradebook(url) as gb:
        gb.update_or_create_student(job.student)
        gb.update_or_create_submission(synth.ASSIGNMENT, job.student)
        for name, score in [("test_add", add), ("test_mul", mul)]:
            grade = gb.find_grade(name, synth.NOTEBOOK, synth.ASSIGNMENT, job.student)
            grade.auto_score = score
            grade.needs_manual_grade = False
        gb.db.commit()
    out = course_root / "autograded" / job.student / job.assignment   # as nbgrader does
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{synth.NOTEBOOK}.ipynb").write_text("{}")
    return ({"success": True, "outcomes": [{"notebook": synth.NOTEBOOK, "status": "ok",
                                            "reason": "", "isolation": "fake"}],
             "seconds": 0.0}, url)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = synth.make_course(tmp_path_factory.mktemp("conc") / "course")
    assert ag.release(root, [synth.ASSIGNMENT], log=lambda *a: None) == {}
    for student in STUDENTS:
        synth.submit(root, student)
    return root


def test_parallel_merges_lose_and_duplicate_nothing(course, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setattr(ag, "_run_worker", fake_worker)
    threads_seen = set()
    real_merge = ag.merge_submission

    def merge(*args, **kwargs):
        threads_seen.add(threading.get_ident())
        return real_merge(*args, **kwargs)

    monkeypatch.setattr(ag, "merge_submission", merge)
    summary = ag.autograde(course, jobs=8, progress=False, log=lambda *a: None)
    assert len(summary.graded) == len(STUDENTS) and not summary.failed
    assert len(threads_seen) == 1          # one writer

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            sub = gb.find_submission(synth.ASSIGNMENT, student)
            got = {g.name: g.auto_score for g in sub.notebooks[0].grades}
            add, mul = made_up_scores(student)
            assert got["test_add"] == add and got["test_mul"] == mul, student
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("select count(*) from submitted_assignment").fetchone() == (len(STUDENTS),)
        assert db.execute("select count(*) from grade").fetchone() == (len(STUDENTS) * 3,)
    state = json.loads((course / "grading_state.json").read_text())
    assert sorted(k.split("/")[1] for k in state["submissions"]) == STUDENTS

    # a second run finds nothing to do; --force regrades everything exactly once more
    again = ag.autograde(course, jobs=8, progress=False, log=lambda *a: None)
    assert len(again.skipped) == len(STUDENTS) and not again.graded
    forced = ag.autograde(course, jobs=8, force=True, progress=False, log=lambda *a: None)
    assert len(forced.graded) == len(STUDENTS)
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("select count(*) from grade").fetchone() == (len(STUDENTS) * 3,)
