"""A tiny synthetic nbgrader course for the grading tests (pure Python, fast kernels).

Assignment ``arith`` has one notebook ``arith.ipynb``: solutions ``add`` and ``mul``, test
cells ``test_add`` (2 points, hidden part) and ``test_mul`` (3 points, hidden part), and a
written answer ``why`` (1 point, graded by hand).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from tools import nbauthor as a

ASSIGNMENT = "arith"
NOTEBOOK = "arith"
POINTS = {"test_add": 2.0, "test_mul": 3.0, "why": 1.0}

ADD_SOLUTION = '''
def add(a, b):
    """Return a + b."""
    ### BEGIN SOLUTION
    total_secret_solution_line = a + b
    return total_secret_solution_line
    ### END SOLUTION
'''
MUL_SOLUTION = '''
def mul(a, b):
    """Return a * b."""
    ### BEGIN SOLUTION
    product_secret_solution_line = a * b
    return product_secret_solution_line
    ### END SOLUTION
'''
HIDDEN_ADD = 'assert add(-7, 7) == 0, "add(-7, 7) should be 0"  # hidden-add-marker'
HIDDEN_MUL = 'assert mul(6, 7) == 42, "mul(6, 7) should be 42"  # hidden-mul-marker'


def source_notebook() -> nbformat.NotebookNode:
    return a.notebook([
        a.md("# Arithmetic"),
        a.solution(ADD_SOLUTION, "add"),
        a.tests(f"""
            assert add(1, 2) == 3, "add(1, 2) should be 3"
            ### BEGIN HIDDEN TESTS
            {HIDDEN_ADD}
            ### END HIDDEN TESTS
            """, "test_add", POINTS["test_add"]),
        a.solution(MUL_SOLUTION, "mul"),
        a.tests(f"""
            assert mul(2, 3) == 6, "mul(2, 3) should be 6"
            ### BEGIN HIDDEN TESTS
            {HIDDEN_MUL}
            ### END HIDDEN TESTS
            """, "test_mul", POINTS["test_mul"]),
        a.md("Why is addition commutative?"),
        a.written_answer("""
            ### BEGIN SOLUTION
            Because the secret written reasoning says so.
            ### END SOLUTION
            """, "why", POINTS["why"]),
    ])


def make_course(root: Path, timeout: int = 20) -> Path:
    """A course root whose sources are ``root/source`` (not the repo's course/)."""
    root = Path(root)
    a.write(source_notebook(), root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.source_directory = 'source'\n"
        f"c.Execute.timeout = {timeout}\n")
    return root


def replace_solution(nb: nbformat.NotebookNode, grade_id: str, source: str):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


WRONG_MUL = "def mul(a, b):\n    return a + b\n"        # passes nothing of test_mul
WRONG_ADD = "def add(a, b):\n    return abs(a) + b\n"   # visible passes, hidden fails


def submit(root: Path, student: str, nb: nbformat.NotebookNode | None = None,
           raw: bytes | None = None) -> Path:
    """Place a submission: the released notebook (``nb=None``), a given notebook, or raw
    bytes as the notebook file."""
    target = root / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{NOTEBOOK}.ipynb"
    if raw is not None:
        path.write_bytes(raw)
    elif nb is None:
        shutil.copy(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", path)
    else:
        nbformat.write(nb, path)
    return path
