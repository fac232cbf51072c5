"""Every course notebook is a valid nbgrader source notebook built the course's way.

Generic over ALL ``course/*/*.ipynb`` (docs/AUTHORING.md is the rulebook):

- nbgrader cell metadata is valid: schema 3, unique grade_ids, autograded test cells locked
  and worth points, written answers with a question cell above them;
- every solution cell keeps its ``def``/``class`` line and docstring outside the
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers (checked on the released form,
  produced by nbgrader's own ClearSolutions);
- every graded function has a test cell and a visible check cell calling ``helpers.checks``;
- the committed outputs are fresh and error free, with the python3 kernel;
- the notebook is exactly what its builder in ``tools/notebooks/`` generates.
"""
from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"
NOTEBOOKS = sorted(COURSE.glob("*/*.ipynb"))
IDS = [str(p.relative_to(COURSE)) for p in NOTEBOOKS]

# docs/AUTHORING.md: assignment folder -> notebook
EXPECTED = {
    "00-setup": "setup.ipynb",
    "01-queries-keys-values": "queries_keys_values.ipynb",
    "02-scaling": "scaling.ipynb",
    "03-softmax": "softmax.ipynb",
    "04-weighted-output": "weighted_output.ipynb",
    "05-multi-head": "multi_head.ipynb",
    "06-attention-in-practice": "attention_in_practice.ipynb",
    "07-efficient-attention": "efficient_attention.ipynb",
}
NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def nbgrader_cells(nb) -> list[tuple[int, dict, nbformat.NotebookNode]]:
    return [(i, c.metadata["nbgrader"], c) for i, c in enumerate(nb.cells)
            if "nbgrader" in c.metadata]


def solution_code_cells(nb) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, c) for i, meta, c in nbgrader_cells(nb)
            if c.cell_type == "code" and meta.get("solution")]


def released(nb) -> nbformat.NotebookNode:
    """The student version of the solution cells, as nbgrader makes it."""
    from nbgrader.preprocessors import ClearSolutions

    nb = copy.deepcopy(nb)
    ClearSolutions().preprocess(nb, {})
    return nb


def top_level_defs(source: str) -> list[ast.AST]:
    tree = ast.parse(source)
    return [n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def all_def_names(source: str) -> set[str]:
    """Top-level functions and classes, and the methods of those classes ("Cls.method").

    Helpers nested inside a function body belong to the solution and may be hidden."""
    names = set()
    for node in top_level_defs(source):
        names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in node.body
                      if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def test_every_assignment_has_its_notebook():
    missing = [f"{a}/{n}" for a, n in EXPECTED.items() if not (COURSE / a / n).is_file()]
    assert not missing, f"notebooks missing from course/: {missing}"
    extra = sorted(set(IDS) - {f"{a}/{n}" for a, n in EXPECTED.items()})
    assert not extra, f"unexpected notebooks in course/ (nbgrader releases them all): {extra}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_valid_nbformat_with_python3_kernel(path):
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"kernelspec should be python3; got {nb.metadata.get('kernelspec')}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_nbgrader_metadata_is_valid(path):
    nb = load(path)
    seen: dict[str, int] = {}
    for i, meta, cell in nbgrader_cells(nb):
        where = f"cell {i} ({meta.get('grade_id')!r})"
        assert NBGRADER_KEYS <= set(meta), f"{where}: nbgrader metadata lacks {NBGRADER_KEYS - set(meta)}"
        assert meta["schema_version"] == 3, f"{where}: schema_version {meta['schema_version']}"
        assert re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"]), f"{where}: bad grade_id"
        assert meta["grade_id"] not in seen, (
            f"{where}: grade_id also used by cell {seen[meta['grade_id']]}")
        seen[meta["grade_id"]] = i
        if meta["grade"]:
            points = meta.get("points")
            assert isinstance(points, (int, float)) and points > 0, f"{where}: points {points!r}"
        if meta["grade"] and not meta["solution"]:
            assert cell.cell_type == "code", f"{where}: an autograded test cell must be code"
            assert meta["locked"], f"{where}: an autograded test cell must be locked"
        if meta["solution"]:
            assert not meta["locked"], f"{where}: a solution cell cannot be locked"
        if meta["solution"] and meta["grade"]:  # manually graded written answer
            assert cell.cell_type == "markdown", f"{where}: written answers are markdown"
            above = nb.cells[i - 1] if i else None
            assert above is not None and above.cell_type == "markdown" \
                and not above.metadata.get("nbgrader", {}).get("solution"), (
                f"{where}: put the question in its own markdown cell above the answer "
                "(nbgrader replaces the answer cell on release)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solution_cells_keep_signature_and_docstring_outside_the_markers(path):
    nb = load(path)
    student = released(nb)
    for i, cell in solution_code_cells(nb):
        src = cell.source
        markers = re.findall(rf"{BEGIN}|{END}", src)
        assert markers and markers == [BEGIN, END] * (len(markers) // 2), (
            f"cell {i}: a solution cell needs {BEGIN} ... {END} regions, properly paired")
        defs = top_level_defs(student.cells[i].source)
        assert defs, f"cell {i}: the released cell defines no function or class"
        for node in defs:
            assert ast.get_docstring(node), (
                f"cell {i}: {node.name} has no docstring in the released cell")
        assert all_def_names(student.cells[i].source) == all_def_names(src), (
            f"cell {i}: a def/class line is inside the solution markers: "
            f"{sorted(all_def_names(src) - all_def_names(student.cells[i].source))}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_graded_function_has_a_check_cell_and_a_test_cell(path):
    from helpers.checks import available_checks

    nb = load(path)
    checks = set(available_checks())
    grade_ids = [meta["grade_id"] for _, meta, _ in nbgrader_cells(nb)]
    for i, cell in solution_code_cells(nb):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        names = [n.name for n in top_level_defs(cell.source)]
        assert grade_id in names, (
            f"cell {i}: grade_id {grade_id!r} should be the name of the function it defines {names}")
        assert any(g == f"test_{grade_id}" or g.startswith(f"test_{grade_id}_") for g in grade_ids), (
            f"{grade_id} has no autograded test cell test_{grade_id}")
        later = "\n".join(c.source for c in nb.cells[i + 1:] if c.cell_type == "code"
                          and not c.metadata.get("nbgrader", {}).get("grade"))
        calls = re.findall(rf"\b(check_\w+)\(\s*{re.escape(grade_id)}\b", later)
        assert calls, f"{grade_id} has no visible check cell calling check_<name>({grade_id})"
        assert set(calls) <= checks, (
            f"{grade_id}: {sorted(set(calls) - checks)} not found in helpers.checks")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_are_fresh_and_error_free(path):
    nb = load(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.get("execution_count") is not None, (
            f"cell {i} was never executed: run tools/execute_notebooks.py")
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {i} has an error output: {errors[0].get('ename')}"


@pytest.fixture(scope="session")
def rebuilt(tmp_path_factory) -> Path:
    """Run every builder on a copy of tools/; they write into <copy>/course/."""
    root = tmp_path_factory.mktemp("rebuilt")
    shutil.copytree(REPO / "tools", root / "tools",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONHASHSEED="0")
    builders = sorted(b.stem for b in (root / "tools" / "notebooks").glob("[!_]*.py"))
    script = ("import importlib\n"
              f"for name in {builders!r}:\n"
              "    importlib.import_module(f'tools.notebooks.{name}').build()\n")
    # one process for all builders: the copy's course/ is the only place they can write
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"a builder failed:\n{done.stderr[-3000:]}"
    return root / "course"


def _skeleton(nb) -> list[dict]:
    """What a builder decides: cell types, sources and nbgrader metadata (not outputs)."""
    return [{"cell_type": c.cell_type, "source": c.source,
             "nbgrader": c.metadata.get("nbgrader")} for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_generated_from_its_builder(path, rebuilt):
    fresh = rebuilt / path.relative_to(COURSE)
    assert fresh.is_file(), f"no builder in tools/notebooks/ writes {path.relative_to(REPO)}"
    committed, generated = _skeleton(load(path)), _skeleton(load(fresh))
    assert len(committed) == len(generated), (
        f"{len(committed)} cells committed, the builder makes {len(generated)}: rebuild it")
    for i, (a, b) in enumerate(zip(committed, generated)):
        assert a == b, (f"cell {i} differs from what the builder makes (rebuild and re-execute):\n"
                        f"committed: {json.dumps(a)[:300]}\nbuilder:   {json.dumps(b)[:300]}")


def test_every_builder_writes_a_course_notebook(rebuilt):
    made = sorted(str(p.relative_to(rebuilt)) for p in rebuilt.glob("*/*.ipynb"))
    assert made, "the builders wrote no notebook"
    assert not sorted(set(made) - set(IDS)), (
        f"builders write notebooks that are not committed: {sorted(set(made) - set(IDS))}")
