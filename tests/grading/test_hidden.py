"""grading/hidden.py and the feedback preprocessor built on it (issue 13, items 1 and 5).

End to end through the CLI: tests/hostile/test_hostile_leaks.py. Here: which lines count as
hidden, what the redaction replaces and what it keeps, and that ClearHiddenTests no longer
raises on delimiter text a student typed.
"""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.preprocessors import ClearHiddenTests

from grading import hidden
from grading.preprocessors import DELIMITER_NOTES, NeutraliseHiddenTestDelimiters

SECRET = 'assert secret_fn(41) == 42, "the answer"'


def _meta(grade_id, *, grade, solution):
    return {"nbgrader": {"grade": grade, "solution": solution, "locked": grade and not solution,
                         "grade_id": grade_id, "schema_version": 3, "points": 1 if grade else None}}


def notebook(student_source: str = "x = 1") -> nbformat.NotebookNode:
    test = new_code_cell(
        f"assert secret_fn(1) == 2\n### BEGIN HIDDEN TESTS\n{SECRET}\nx = 1\n"
        "### END HIDDEN TESTS", metadata=_meta("test_a", grade=True, solution=False))
    sol = new_code_cell(student_source, metadata=_meta("sol", grade=False, solution=True))
    return new_notebook(cells=[sol, test])


def test_hidden_lines_are_the_non_trivial_lines_of_test_cells():
    nb = notebook("# BEGIN HIDDEN TESTS\nprint('my own text, not a hidden test')\n")
    # the visible assert and the short line stay out; the student's fake region is ignored
    assert hidden.hidden_lines(nb) == {SECRET}


def test_redaction_replaces_quoting_lines_and_keeps_the_rest():
    nb = notebook()
    cell = nb.cells[0]
    cell.outputs = [
        new_output("stream", name="stdout", text="before\nCALLER " + SECRET[:20]),
        new_output("stream", name="stdout", text=SECRET[20:] + "\nafter\n"),  # printed in pieces
        new_output("error", ename="ValueError", evalue="bad",
                   traceback=["Traceback", f"\x1b[0;32m----> 3\x1b[0m {SECRET}", "ValueError: bad"]),
        new_output("display_data", data={
            "text/html": "<pre>" + SECRET.replace('"', "&quot;") + "</pre>",
            "image/png": "iVBORw0KGgo=", "text/plain": "<IPython.core.display.HTML object>"}),
    ]
    changed = hidden.redact_outputs(nb, hidden.hidden_lines(nb))
    assert changed == [0], f"only the student cell quoted hidden tests, changed: {changed}"
    stream, error, rich = cell.outputs
    assert stream["text"] == f"before\n{hidden.NOTE}\nafter\n", stream["text"]
    assert error["traceback"] == ["Traceback", hidden.NOTE, "ValueError: bad"], error["traceback"]
    assert error["evalue"] == "bad"
    assert rich["data"]["text/html"] == hidden.NOTE, "an HTML output with an escaped quote stays"
    assert rich["data"]["image/png"] == "iVBORw0KGgo=", "images are not text and stay as they are"
    assert rich["data"]["text/plain"] == "<IPython.core.display.HTML object>"


def test_redaction_leaves_outputs_without_quotes_alone():
    nb = notebook()
    nb.cells[0].outputs = [new_output("stream", name="stdout", text="secret_fn(41) is 42\n")]
    before = nbformat.writes(nb)
    assert hidden.redact_outputs(nb, hidden.hidden_lines(nb)) == []
    assert nbformat.writes(nb) == before


def test_delimiters_in_student_cells_no_longer_break_clear_hidden_tests():
    nb = notebook("def f():\n    # BEGIN HIDDEN TESTS in a comment\n    return 'END HIDDEN TESTS'\n")
    nb.cells.append(new_markdown_cell("My answer mentions BEGIN HIDDEN TESTS."))
    resources = {"nbgrader": {"student": "s1", "assignment": "ps1", "notebook": "nb"}}
    before = len(DELIMITER_NOTES)
    nb, resources = NeutraliseHiddenTestDelimiters().preprocess(nb, resources)
    nb, resources = ClearHiddenTests().preprocess(nb, resources)  # raised before issue 13
    assert DELIMITER_NOTES[before:] == [{"student": "s1", "assignment": "ps1", "notebook": "nb",
                                         "cells": ["sol", "#3"], "text": "BEGIN HIDDEN TESTS"}]
    sol, test, answer = nb.cells
    assert "reserved for hidden tests" in sol.source and "BEGIN-HIDDEN-TESTS" in sol.source
    assert "return 'END-HIDDEN-TESTS'" in sol.source, "the student's code is kept, made inert"
    assert "reserved for hidden tests" in answer.source
    # the real test cell is still cleared as before
    assert SECRET not in test.source and "assert secret_fn(1) == 2" in test.source


def test_a_failing_hidden_test_keeps_its_traceback_for_the_instructor():
    nb = notebook()
    test = nb.cells[1]
    tb = ["Traceback", f"----> 4 {SECRET}", "AssertionError: the answer"]
    test.outputs = [new_output("error", ename="AssertionError", evalue=f"quoted: {SECRET}",
                               traceback=list(tb))]
    assert hidden.redact_outputs(nb, hidden.hidden_lines(nb)) == [1]
    err = test.outputs[0]
    # feedback reduces this error to "ename: evalue" (HideHiddenTestTracebacks): the value
    # is redacted, the traceback is kept for the formgrader
    assert err["evalue"] == hidden.NOTE and err["traceback"] == tb


def test_a_hidden_fragment_that_is_part_of_a_visible_line_is_not_secret():
    """A visible assert message must survive in the feedback even when a hidden line happens
    to be a fragment of it (03-softmax: the hidden line `softmax(x, axis=0)` is part of the
    visible message "softmax(x, axis=0) should normalise each column")."""
    import nbformat

    from grading.hidden import hidden_lines, redact_outputs

    visible = 'assert ok, "softmax(x, axis=0) should normalise each column"\n'
    cell = nbformat.v4.new_code_cell(
        visible + "### BEGIN HIDDEN TESTS\ncheck(\n    softmax(x, axis=0)\n)\n"
        "secret_reference_value = 12345\n### END HIDDEN TESTS\n")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError",
        evalue="softmax(x, axis=0) should normalise each column", traceback=[])]
    printer = nbformat.v4.new_code_cell("print(1)")
    printer.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                              text="secret_reference_value = 12345\n")]
    nb = nbformat.v4.new_notebook(cells=[cell, printer])
    secrets = hidden_lines(nb)
    assert "softmax(x, axis=0)" not in secrets
    assert "secret_reference_value = 12345" in secrets
    redact_outputs(nb, secrets)
    assert cell.outputs[0].evalue == "softmax(x, axis=0) should normalise each column", \
        "the visible assert message was redacted from the feedback"
    assert "12345" not in printer.outputs[0].text, "a printed hidden line was not redacted"
