"""Build nbgrader source notebooks from Python, so that notebook sources diff and review
like code. Each builder in ``tools/notebooks/<assignment>.py`` calls these functions and
writes ``course/<assignment>/<name>.ipynb``; ``tools/execute_notebooks.py`` then executes it
in place so the committed outputs are fresh (strict nbval compares them).

Cell kinds (nbgrader cell metadata, schema version 3):

=====================  =========  =======  ======  ======  =============================
function               cell_type  solution grade   locked  meaning
=====================  =========  =======  ======  ======  =============================
``md``                 markdown   -        -       -       prose (no nbgrader metadata)
``code``               code       -        -       -       demo code students may edit
``locked``             code/md    False    False   True    read-only (restored on grading)
``solution``           code       True     False   False   student writes the body
``tests``              code       False    True    True    autograded, worth ``points``
``written_answer``     markdown   True     True    False   manually graded prose answer
=====================  =========  =======  ======  ======  =============================
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _nbgrader(grade_id: str, *, solution: bool, grade: bool, locked: bool,
              points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str):
    return new_markdown_cell(_clean(text))


def code(src: str):
    return new_code_cell(_clean(src))


def locked(src: str, grade_id: str, *, markdown: bool = False):
    make = new_markdown_cell if markdown else new_code_cell
    return make(_clean(src), metadata=_nbgrader(grade_id, solution=False, grade=False,
                                                locked=True))


def solution(src: str, grade_id: str):
    """A solution cell. Keep the ``def`` line and docstring OUTSIDE the
    ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers (COURSE_SPEC section 3)."""
    return new_code_cell(_clean(src), metadata=_nbgrader(grade_id, solution=True,
                                                         grade=False, locked=False))


def tests(src: str, grade_id: str, points: float):
    """An autograded test cell; hide tests between ``### BEGIN HIDDEN TESTS`` and
    ``### END HIDDEN TESTS``."""
    return new_code_cell(_clean(src), metadata=_nbgrader(grade_id, solution=False,
                                                         grade=True, locked=True,
                                                         points=points))


def written_answer(src: str, grade_id: str, points: float):
    """A manually graded markdown answer. nbgrader replaces the whole cell by
    "YOUR ANSWER HERE" on release, so put the question in the markdown cell above."""
    return new_markdown_cell(_clean(src), metadata=_nbgrader(grade_id, solution=True,
                                                             grade=True, locked=False,
                                                             points=points))


def notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    # Stable cell ids (nbformat makes random ones), so a rebuild without a change is a no-op.
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell["id"] = f"c{index:02d}-{grade_id}"[:64] if grade_id else f"c{index:02d}"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
    dupes = {i for i in ids if i and ids.count(i) > 1}
    if dupes:
        raise ValueError(f"grade_id values must be unique within a notebook; repeated: {dupes}")
    return nb


def write(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path
