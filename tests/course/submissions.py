"""The students of a verdict run: notebook metadata, slim hand-ins, student ids, bundles.

Used by tests/course/verdicts.py (the graders) and tests/course/test_no_surprise_losses.py.
A hand-in is the released notebook with every solution cell holding the source solution
(``### BEGIN/END SOLUTION`` lines dropped) except the cells an answer replaces. ``slim``
drops the ungraded cells no graded cell needs, as a student who deleted demos would.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from tests.course.answers import Answer

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"
SOLUTION, BLANK, SLIM_SOLUTION = "solution", "blank", "solution/slim"
CONTROLS = (SOLUTION, BLANK, SLIM_SOLUTION)
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


# ------------------------------------------------------------------- notebook metadata

def grade_cells(assignment: str, notebook: str) -> dict[str, dict]:
    """{grade_id: nbgrader metadata + cell_type} of every cell with a grade_id."""
    nb = nbformat.read(COURSE / assignment / notebook, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: dict(c.metadata["nbgrader"], cell_type=c.cell_type)
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")}


def max_points(assignment: str, notebook: str) -> dict[str, float]:
    """{grade_id: points} of every autograded code cell of a source notebook."""
    return {gid: float(meta["points"]) for gid, meta in grade_cells(assignment, notebook).items()
            if meta["cell_type"] == "code" and meta.get("grade")}


def owner(test_cell: str, functions: list[str]) -> str | None:
    """The solution grade_id a test cell ``test_<function>[_<aspect>]`` belongs to."""
    mine = [f for f in functions if test_cell == f"test_{f}" or test_cell.startswith(f"test_{f}_")]
    return max(mine, key=len) if mine else None


def graded_functions(assignment: str, notebook: str) -> dict[str, list[str]]:
    """{solution grade_id: [its autograded test cells]} for solution code cells with tests."""
    cells = grade_cells(assignment, notebook)
    solutions = [g for g, m in cells.items() if m["cell_type"] == "code" and m.get("solution")]
    out: dict[str, list[str]] = {}
    for test in max_points(assignment, notebook):
        fn = owner(test, solutions)
        if fn:
            out.setdefault(fn, []).append(test)
    return out


# ------------------------------------------------------------------- submissions

def student_ids(names: list[str]) -> dict[str, str]:
    """A valid, case-insensitively unique nbgrader student id for every name
    (``"softmax/no_max"`` -> ``"softmax.no_max"``: letters, digits and ``_ . + -`` only)."""
    ids: dict[str, str] = {}
    for name in names:
        sid = _UNSAFE.sub("-", name.replace("/", "."))
        sid = sid if sid[:1].isalnum() else "a" + sid
        clash = [n for n, s in ids.items() if s.lower() == sid.lower()]
        if clash:
            raise ValueError(f"answers {clash[0]!r} and {name!r} map to the same student id "
                             f"{sid!r}; rename one of them")
        ids[name] = sid
    return ids


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it loads without binding them itself). Approximate on
    purpose: binding anywhere in the cell (also a parameter) counts, so a test cell that
    builds its own ``Q`` does not pull in the demo cell that made the notebook's ``Q``."""
    tree = ast.parse(source)
    binds, loads = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else binds).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(n.name)
        elif isinstance(n, ast.arg):
            binds.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            binds |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return binds, loads - binds


def slim(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without ungraded cells that no graded cell needs: keeps every nbgrader
    cell and each ungraded code cell that binds a name a kept later cell loads."""
    keep, needed = [], set()
    for cell in reversed(nb.cells):
        graded = bool(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if cell.cell_type != "code" and not graded:
            continue
        try:
            binds, loads = _names(cell.source)
        except SyntaxError:          # magics or a student's syntax error: keep, to be safe
            binds, loads, graded = set(), set(), True
        if graded or binds & needed:
            keep.append(cell)
            needed |= loads
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    out.cells = [nbformat.from_dict(json.loads(json.dumps(c))) for c in reversed(keep)]
    return out


def submissions(assignment: str, notebook: str, release: Path,
                variants: dict[str, dict[str, str] | None],
                slim_answers: bool = True) -> dict[str, nbformat.NotebookNode]:
    """{name: notebook}: the release with every solution cell holding the source solution
    (markers dropped) except the cells ``variants[name]`` replaces; ``None`` is the blank
    release. ``"solution"`` stays whole; the others are slim unless ``slim_answers`` is
    False."""
    source = nbformat.read(COURSE / assignment / notebook, as_version=4)
    blank = nbformat.read(release, as_version=4)
    solved = {c.metadata["nbgrader"]["grade_id"]:
              "\n".join(l for l in c.source.splitlines() if not _MARKER.match(l))
              for c in source.cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    out = {}
    for name, cells in variants.items():
        if cells is None:
            out[name] = blank
            continue
        unknown = set(cells) - set(solved)
        if unknown:
            raise KeyError(f"answer {name!r} replaces {sorted(unknown)}, which are not solution "
                           f"code cells of {assignment}/{notebook}; those are {sorted(solved)}")
        nb = nbformat.from_dict(json.loads(json.dumps(blank)))
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in solved:
                cell.source = cells.get(gid, solved[gid])
        out[name] = slim(nb) if slim_answers and name != SOLUTION else nb
    return out


def bundles(answers: dict[str, Answer], functions: dict[str, list[str]]) -> dict[str, list[str]]:
    """{student: [answers]}: answers that replace one graded function and lose only its
    cells share a student with at most one answer per other function; the rest go alone."""
    queues: dict[str, list[str]] = {}
    alone = []
    for name, answer in answers.items():
        (fn, *more) = list(answer.cells)
        if not more and fn in functions and answer.loses <= set(functions[fn]):
            queues.setdefault(fn, []).append(name)
        else:
            alone.append(name)
    out = {f"bundle-{i:02d}": [q[i] for q in queues.values() if i < len(q)]
           for i in range(max(map(len, queues.values()), default=0))}
    return {**out, **{name: [name] for name in alone}}
