"""A small synthetic nbgrader assignment and a fake course root for the hostile suite.

The assignment (built with tools/nbauthor.py, independent of the course notebooks):

    0 md            1 locked imports     2 solution double    3 HOSTILE (student code)
    4 test_double   5 solution halve     6 test_halve         7 code: print("last cell ran")

Each case puts its hostile code in cell 3 of a submission under a fake course root
(course/, submitted/<students>/, gradebook.db) and checks the outcome, the grades, that the
cells after the hostile one ran, and that the gradebook, the fake course/ and the other
student's submission are unchanged (hashes).
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import nbformat
import pytest

from tools.nbauthor import code, locked, md, notebook, solution, tests, write

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ps1"
NOTEBOOK = "doubling.ipynb"
HOSTILE_INDEX = 3

DOUBLE = '''
def double(x):
    """Twice x, as a float array."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x, dtype=float)
    ### END SOLUTION
'''
HALVE = '''
def halve(x):
    """Half of x, as a float array."""
    ### BEGIN SOLUTION
    return np.asarray(x, dtype=float) / 2
    ### END SOLUTION
'''
TEST_DOUBLE = '''
assert np.allclose(double([1, 2]), [2, 4]), "double([1, 2]) should be [2, 4]"
### BEGIN HIDDEN TESTS
np.testing.assert_allclose(double(np.arange(3.0)), [0, 2, 4], err_msg="double of 0, 1, 2")
### END HIDDEN TESTS
'''
TEST_HALVE = '''
assert np.allclose(halve([2, 4]), [1, 2]), "halve([2, 4]) should be [1, 2]"
### BEGIN HIDDEN TESTS
np.testing.assert_allclose(halve(np.arange(3.0)), [0, 0.5, 1], err_msg="halve of 0, 1, 2")
### END HIDDEN TESTS
'''


def build_notebook(hostile: str = "pass", imports: str = "import numpy as np",
                   double: str = DOUBLE) -> nbformat.NotebookNode:
    return notebook([
        md("# Doubling (synthetic assignment for the hostile suite)"),
        locked(imports, "imports"),
        solution(double, "double"),
        code(hostile),
        tests(TEST_DOUBLE, "test_double", 1),
        solution(HALVE, "halve"),
        tests(TEST_HALVE, "test_halve", 1),
        code('print("last cell ran")'),
    ])


def sha_tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath, f)
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class CourseRoot:
    """tmp/course-root with course/ps1/, submitted/{alice,bob}/ps1/ and a gradebook.db."""

    def __init__(self, root: Path):
        self.root = root
        self.source = root / "course" / ASSIGNMENT / NOTEBOOK
        write(build_notebook(), self.source)
        self.gradebook = root / "gradebook.db"
        con = sqlite3.connect(self.gradebook)
        con.execute("create table grade (student text, cell text, score real)")
        con.execute("insert into grade values ('bob', 'test_double', 1.0)")
        con.commit()
        con.close()
        self.other = root / "submitted" / "bob" / ASSIGNMENT / NOTEBOOK
        write(build_notebook("secret_bob = 42"), self.other)
        self.workdir = root / "submitted" / "alice" / ASSIGNMENT
        self.workdir.mkdir(parents=True)

    def submit(self, nb: nbformat.NotebookNode) -> Path:
        return write(nb, self.workdir / NOTEBOOK)

    def hashes(self) -> dict[str, str]:
        """Everything but alice's own folder: gradebook, course/ (sources with hidden tests),
        bob's submission. (The repo's own course/ is not hashed: it is being edited while
        tests run in a shared checkout; the read and write cases prove the sandbox cannot see
        it at all.)"""
        return {k: v for k, v in sha_tree(self.root).items() if not k.startswith("submitted/alice")}


@pytest.fixture
def course_root(tmp_path):
    return CourseRoot(tmp_path / "course-root")


def scores(nb: nbformat.NotebookNode) -> dict[str, float]:
    """nbgrader's own rule (nbgrader.utils.determine_grade) for every autograded cell."""
    from nbgrader.utils import determine_grade
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = determine_grade(cell)[0]
    return out


def outputs_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            parts.append(f"{o.get('ename')}: {o.get('evalue')}")
        else:
            parts.append(str(o.get("data", {}).get("text/plain", "")))
    return "".join(parts)
