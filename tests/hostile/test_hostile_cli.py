"""End to end: every hostile and broken submission of COURSE_SPEC section 6 in ONE course,
graded by `python -m grading release` + `autograde --jobs 2` + `report --format json`.

Each student's report line is printed (shown with -s, and on failure). Asserted: the command
exits 0, the well-behaved cells of every hostile submission keep their points, the affected
ones get 0 with a status/reason, nbgrader restores edited/deleted test cells and changed
metadata from the gradebook, broken files are reported, and the course sources and the other
students' submissions are unchanged.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.hostile.conftest import (ASSIGNMENT, NOTEBOOK, build_notebook, sha_tree)
from tools.nbauthor import code

# slow as well: 18 submissions through nbgrader (about 2-3 min on an idle 2-core machine)
pytestmark = [pytest.mark.hostile, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NAME = NOTEBOOK[:-len(".ipynb")]
DOUBLE_OK = "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n"
DOUBLE_WRONG = "def double(x):\n    return np.asarray(x, dtype=float)\n"
HALVE_OK = "def halve(x):\n    return np.asarray(x, dtype=float) / 2\n"
HALVE_WRONG = "def halve(x):\n    return np.asarray(x, dtype=float)\n"


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def answered(release: nbformat.NotebookNode, hostile: str | None = None, *,
             double: str = DOUBLE_OK, halve: str = HALVE_OK) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "double":
            cell.source = double
        elif gid == "halve":
            cell.source = halve
    # the release keeps the synthetic notebook's student cell 3; put the hostile code there
    nb.cells[3].source = hostile or "pass"
    return nb


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-course")
    nbformat.write(build_notebook(), _mk(root / "source" / ASSIGNMENT / NOTEBOOK))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'source'\n"
        "c.Execute.timeout = 6\n")
    r = cli("release", ASSIGNMENT, "--course-root", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    release = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)

    subs: dict[str, nbformat.NotebookNode | bytes | tuple[str, bytes]] = {
        "good": answered(release),
        "loop": answered(release, "while True:\n    pass"),
        "memory": answered(release, "big = np.ones(3 * 2**27)  # 3 GB at once"),
        "forkbomb": answered(release, "import os, time\nfor i in range(400):\n"
                                      "    if os.fork() == 0:\n        time.sleep(2)\n"
                                      "        os._exit(0)"),
        "exits": answered(release, "import os\nos._exit(1)"),
        "printer": answered(release, "import sys\nfor i in range(1_000_000):\n"
                                     "    sys.stdout.write('x' * 999 + '\\n')"),
        "reader": answered(release, f"import glob\nprint('FOUND', glob.glob({str(root)!r} + '/**', "
                                    "recursive=True)[:5])\nopen('../../bob/ps1/doubling.ipynb')"),
        "writer": answered(release, f"open({str(root / 'gradebook.db')!r}, 'w').write('x')"),
        "network": answered(release, "import socket\nsocket.create_connection(('1.1.1.1', 80), 2)"),
        "patcher": answered(release, "np.allclose = lambda *a, **k: True\n"
                                     "np.testing.assert_allclose = lambda *a, **k: None",
                            double=DOUBLE_WRONG),
    }
    edited = answered(release, double=DOUBLE_WRONG)
    cell(edited, "test_double").source = "pass  # no more asserts"
    subs["edits-test"] = edited
    deleted = answered(release, halve=HALVE_WRONG)
    deleted.cells = [c for c in deleted.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") != "test_halve"]
    subs["deletes-test"] = deleted
    relabelled = answered(release, double=DOUBLE_WRONG)
    cell(relabelled, "test_double").metadata["nbgrader"].update(grade=False, points=100)
    subs["edits-metadata"] = relabelled
    good_text = nbformat.writes(answered(release))
    subs["truncated"] = good_text[: len(good_text) // 2].encode()
    subs["empty"] = b""
    subs["wrongname"] = ("Doubling (1).ipynb", good_text.encode())
    subs["oldformat"] = nbformat.writes(nbformat.convert(answered(release), 3)).encode()
    subs["bob"] = answered(release, "secret_bob = 42")

    for student, content in subs.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        if isinstance(content, tuple):
            (folder / content[0]).write_bytes(content[1])
        elif isinstance(content, bytes):
            (folder / NOTEBOOK).write_bytes(content)
        else:
            nbformat.write(content, folder / NOTEBOOK)

    protected = {k: v for k, v in sha_tree(root).items()
                 if k.startswith(("source/", "release/", "submitted/bob/", "nbgrader_config"))}
    t0 = time.monotonic()
    auto = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2",
               "--no-progress", timeout=900)
    seconds = time.monotonic() - t0
    rep = cli("report", "--format", "json", "--course-root", str(root))
    after = {k: v for k, v in sha_tree(root).items() if k in protected}
    return {"root": root, "auto": auto, "report": rep, "seconds": seconds,
            "protected": protected, "after": after, "students": list(subs)}


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def rows_by_student(graded) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for row in json.loads(graded["report"].stdout):
        out.setdefault(row["student"], {})[row.get("cell") or ""] = row
    return out


def test_autograde_runs_everything_and_prints_report_lines(graded):
    auto, rep = graded["auto"], graded["report"]
    print("\n" + auto.stdout)
    assert auto.returncode == 0, auto.stdout + auto.stderr
    assert rep.returncode == 0, rep.stdout + rep.stderr
    by = rows_by_student(graded)
    print(f"autograde of {len(graded['students'])} submissions: {graded['seconds']:.0f} s")
    for student in graded["students"]:
        cells = by.get(student, {})
        scores = {c: r.get("score") for c, r in cells.items() if c}
        reasons = sorted({f"{r.get('status')}: {r.get('reason')}" for r in cells.values()
                          if r.get("status") not in (None, "", "ok")})
        print(f"REPORT {student:15} {scores} {'; '.join(reasons)}")
    assert "bubblewrap" in auto.stdout


def test_sources_release_and_other_submissions_unchanged(graded):
    assert graded["after"] == graded["protected"]


def score(graded, student, grade_id):
    return rows_by_student(graded)[student][grade_id]["score"]


def status_text(graded, student) -> str:
    rows = rows_by_student(graded).get(student, {})
    return " ".join(f"{r.get('status')} {r.get('reason')}" for r in rows.values())


@pytest.mark.parametrize("student", ["good", "loop", "memory", "forkbomb", "exits", "printer",
                                     "reader", "writer", "network", "bob"])
def test_hostile_but_correct_submissions_keep_their_points(graded, student):
    assert score(graded, student, "test_double") == 1
    assert score(graded, student, "test_halve") == 1


@pytest.mark.parametrize("student, words", [
    ("loop", "timeout"), ("memory", "memory"), ("forkbomb", "process"),
    ("exits", "kernel"), ("printer", "output"), ("patcher", "np.allclose")])
def test_problems_have_a_status_and_reason(graded, student, words):
    assert words in status_text(graded, student)


def test_patched_comparisons_earn_nothing(graded):
    assert score(graded, "patcher", "test_double") == 0
    assert "tampered" in status_text(graded, "patcher")


def test_nbgrader_restores_edited_deleted_and_relabelled_test_cells(graded):
    # the wrong answers are graded against the gradebook's test cells, not the student's
    assert score(graded, "edits-test", "test_double") == 0
    assert score(graded, "edits-test", "test_halve") == 1
    # flipping grade/points on a test cell: never more points, and the other cells are still
    # graded (grading.preprocessors.RestoreCellFlags puts the flags back from the gradebook;
    # stock OverwriteCells does not restore `grade` and the whole notebook would score 0).
    assert score(graded, "edits-metadata", "test_double") == 0
    assert score(graded, "edits-metadata", "test_halve") == 1
    rows = rows_by_student(graded)["edits-metadata"]
    assert rows["test_double"]["max_score"] == 1  # not the 100 points the student asked for
    # a deleted test cell is re-added from the gradebook and auto-graded (not left to manual)
    assert score(graded, "deletes-test", "test_double") == 1
    assert score(graded, "deletes-test", "test_halve") == 0
    assert rows_by_student(graded)["deletes-test"]["test_halve"]["status"] != "needs-manual-grade"


def test_broken_files_are_reported(graded):
    out = graded["auto"].stdout
    for student in ("truncated", "empty", "wrongname"):
        assert student in out, out
    assert score(graded, "oldformat", "test_double") == 1  # nbformat 3 is read and graded
