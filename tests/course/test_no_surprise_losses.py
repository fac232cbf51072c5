"""No surprise losses: every hidden assertion belongs to a visible check property.

For every autograded test cell ``test_<function>[_<aspect>]`` of every source notebook, each
assertion in its hidden block (``assert``, ``raise AssertionError``, ``np.testing.assert_*``,
``torch.testing.assert_close``, any call to an ``assert*`` function) must sit under a
comment ``# property: <name>`` (the last such comment above it in the hidden block), and
``helpers.checks.check_<function>(<the source solution>)`` must report a property of exactly
that name, passing. A student who passes every visible check then loses hidden points only
on edge cases the docstring names. See docs/AUTHORING.md.
"""
from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from tests.course import verdicts

NOTEBOOKS = sorted(verdicts.COURSE.glob("*/*.ipynb"))
PROPERTY = re.compile(r"^\s*# property:\s*(.+?)\s*$")
BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _test_cells() -> list:
    out = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            m = _meta(cell)
            if cell.cell_type == "code" and m.get("grade") and not m.get("solution"):
                out.append(pytest.param(path, m["grade_id"],
                                        id=f"{path.parent.name}:{m['grade_id']}"))
    return out


def check_name(function: str) -> str:
    """``check_<function>`` with CamelCase classes in snake case (AttentionLayer ->
    check_attention_layer)."""
    return "check_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", function).lower()


def hidden_assertions(source: str) -> list[tuple[int, str, str | None]]:
    """[(line, assertion source, property or None)] for each assertion in the hidden block."""
    lines = source.splitlines()
    starts = [i for i, l in enumerate(lines, 1) if l.strip() == BEGIN]
    ends = [i for i, l in enumerate(lines, 1) if l.strip() == END]
    if not starts:
        return []
    first, last = starts[0], (ends[-1] if ends else len(lines))
    props = {i: PROPERTY.match(lines[i - 1]).group(1) for i in range(first, last)
             if PROPERTY.match(lines[i - 1])}
    found = []
    for node in ast.walk(ast.parse(source)):
        raised = node.exc if isinstance(node, ast.Raise) and node.exc is not None else None
        raised = raised.func if isinstance(raised, ast.Call) else raised
        is_assert = isinstance(node, ast.Assert) or (
            isinstance(node, ast.Call) and (getattr(node.func, "attr", None)
                                           or getattr(node.func, "id", "")).startswith("assert")
        ) or getattr(raised, "id", None) == "AssertionError"
        if is_assert and first < node.lineno < last:
            above = [p for i, p in sorted(props.items()) if i < node.lineno]
            found.append((node.lineno, lines[node.lineno - 1].strip(), above[-1] if above else None))
    return sorted(set(found))


_REPORTS: dict[tuple[str, str], dict[str, bool] | str] = {}


def check_report(path: Path, function: str) -> dict[str, bool] | str:
    """{property: passed} of check_<function> run on the source solution, or why not.

    Runs the notebook's ungraded code cells that the graded cells need (tests.course.verdicts
    .slim) and every solution/locked cell, up to the function's solution cell, in a fresh
    namespace: no kernel, no model loads that only demos use."""
    key = (str(path), function)
    if key in _REPORTS:
        return _REPORTS[key]
    import helpers.checks
    import matplotlib

    matplotlib.use("Agg")
    ns: dict = {"__name__": "__main__"}
    result: dict[str, bool] | str = f"no solution cell {function!r} in {path.name}"
    for cell in verdicts.slim(nbformat.read(path, as_version=4)).cells:
        m = _meta(cell)
        if cell.cell_type != "code" or (m.get("grade") and not m.get("solution")):
            continue               # test cells are not needed to define the function
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, f"{path.name}:{m.get('grade_id', 'cell')}", "exec"), ns)
        except Exception as exc:
            result = f"cell {m.get('grade_id') or cell.source[:40]!r} raised {exc!r}"
            break
        if m.get("grade_id") == function:
            try:
                check = getattr(helpers.checks, check_name(function))
            except AttributeError:
                result = f"helpers.checks has no {check_name(function)}"
                break
            with contextlib.redirect_stdout(io.StringIO()):
                report = check(ns[function])
            result = {r.name: r.passed for r in report.results}
            break
    _REPORTS[key] = result
    return result


def test_some_test_cells_exist():
    assert _test_cells(), "found no autograded test cells in course/*/*.ipynb"


@pytest.mark.parametrize("path,grade_id", _test_cells())
def test_every_hidden_assertion_has_a_passing_visible_check(path, grade_id):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if _meta(c).get("grade_id") == grade_id)
    solutions = [_meta(c)["grade_id"] for c in nb.cells
                 if c.cell_type == "code" and _meta(c).get("solution")]
    function = verdicts.owner(grade_id, solutions)
    where = f"{path.parent.name}/{path.name} cell {grade_id}"
    assert function, (f"{where}: name test cells test_<function>[_<aspect>] after a solution "
                      f"cell; this notebook's solution cells are {solutions}")
    found = hidden_assertions(cell.source)
    unlabelled = [f"line {n}: {src}" for n, src, prop in found if prop is None]
    assert not unlabelled, (f"{where}: hidden assertions without a '# property: <name of a "
                            f"{check_name(function)} property>' comment above them:\n  "
                            + "\n  ".join(unlabelled))
    named = sorted({prop for _, _, prop in found})
    if not named:
        return
    report = check_report(path, function)
    assert isinstance(report, dict), f"{where}: could not run {check_name(function)}: {report}"
    missing = [p for p in named if p not in report]
    assert not missing, (f"{where}: hidden tests grade {missing}, which "
                         f"{check_name(function)} does not report; its properties are:\n  "
                         + "\n  ".join(report))
    failing = [p for p in named if not report[p]]
    assert not failing, (f"{where}: {check_name(function)} fails {failing} on the source "
                         f"solution, so a correct student would see a failing check")


def test_the_parser_sees_every_kind_of_hidden_assertion():
    source = "\n".join([
        "assert f(1) == 1, 'visible: not checked'",
        BEGIN,
        "assert f(2) == 2",
        "# property: first",
        "np.testing.assert_allclose(f(3), 3, rtol=1e-7)",
        "for x in (1, 2):",
        "    # property: second",
        "    assert np.allclose(f(x), x)",
        "    torch.testing.assert_close(f(x), x)",
        "try:",
        "    f(None)",
        "except ValueError:",
        "    pass",
        "else:",
        "    raise AssertionError('f(None) should raise ValueError')",
        END,
    ])
    assert [(line, prop) for line, _, prop in hidden_assertions(source)] == [
        (3, None), (5, "first"), (8, "second"), (9, "second"), (15, "second")]
