"""nbgrader preprocessors of this course (named in ``grading/nbgrader_config.py``).

* :class:`SandboxedExecute` replaces nbgrader's ``Execute`` in the autograde chain: the
  notebook runs through :func:`grading.sandbox.execute_notebook` (isolation and resource
  limits), configured by the same ``Execute`` options (``c.Execute.timeout``).
* :class:`NeutraliseHiddenTestDelimiters` is for feedback: delimiter text a student typed
  into a non-test cell would make nbgrader's ClearHiddenTests raise (no feedback at all).
* :class:`HideHiddenTestTracebacks` is for feedback: the error output of a cell with hidden
  tests becomes "ExceptionType: message" only, because an IPython traceback quotes the
  failing (hidden) line.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode
from traitlets import Unicode

from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

# Outcomes of the notebooks executed in this process, in order. The CLI's worker process
# grades one submission and reads them back (grading.worker); stock nbgrader just logs them.
OUTCOMES: list[dict[str, Any]] = []


def _mark_not_executed(nb: NotebookNode, reason: str) -> int:
    """Give every autograded code cell that never ran an error output, so that nbgrader
    scores it 0 (a grade cell without an error output would get full points)."""
    marked = 0
    for cell in nb.cells:
        if (cell.cell_type == "code" and utils.is_grade(cell)
                and cell.get("execution_count") is None
                and not any(o.get("output_type") == "error" for o in cell.get("outputs", []))):
            cell.setdefault("outputs", []).append(NotebookNode(
                output_type="error", ename="NotExecuted",
                evalue=f"cell not executed: {reason}",
                traceback=[f"NotExecuted: cell not executed: {reason}"]))
            marked += 1
    return marked


def _sandbox():
    try:
        from grading import sandbox
    except ImportError:
        return None
    return sandbox if hasattr(sandbox, "execute_notebook") else None


class SandboxedExecute(Execute):
    """nbgrader's Execute step, run in the grading sandbox (``grading.sandbox``).

    Honours ``c.Execute.timeout`` (per cell). Memory, CPU, process and output limits are the
    sandbox's :class:`~grading.sandbox.Limits` defaults. Whatever happens (timeout, dead
    kernel, memory), the notebook comes back with errors in the outputs of the cells that
    failed or never ran, so nbgrader grades it as far as it got.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        notebook_id = resources.get("nbgrader", {}).get("notebook", "?")
        workdir = Path(resources.get("metadata", {}).get("path") or ".")
        sandbox = _sandbox()
        if sandbox is None:
            from grading import hidden
            secrets = hidden.hidden_lines(nb)
            nb, resources, record = self._execute_unsandboxed(nb, resources)
            hidden.redact_outputs(nb, secrets)  # as grading.sandbox does
        else:
            limits = sandbox.Limits()
            if self.timeout is not None and any(
                    f.name == "cell_timeout" for f in dataclasses.fields(limits)):
                limits = dataclasses.replace(limits, cell_timeout=self.timeout)
            from grading import cgroups  # c.SandboxCgroups: caps per sandbox (issue 14)
            cgroups.configure(self.config)
            outcome = sandbox.execute_notebook(nb, workdir, limits)
            nb = outcome.notebook
            record = {"status": outcome.status, "reason": outcome.reason or "",
                      "isolation": getattr(outcome, "isolation", ""),
                      "usage": getattr(outcome, "usage", {})}
        record["notebook"] = notebook_id
        if record["status"] != "ok":
            _mark_not_executed(nb, record["reason"] or record["status"])
            self.log.warning("%s: %s (%s)", notebook_id, record["status"], record["reason"])
        OUTCOMES.append(record)
        return nb, resources

    def _execute_unsandboxed(self, nb, resources):
        """Fallback when grading.sandbox is absent: nbgrader's own Execute, no isolation."""
        from nbclient.exceptions import DeadKernelError

        isolation = "none: grading.sandbox not available (nbgrader Execute)"
        self.log.warning("NOT SANDBOXED: %s", isolation)
        try:
            nb, resources = super().preprocess(nb, resources)
        except DeadKernelError as exc:
            return nb, resources, {"status": "dead-kernel", "reason": f"kernel died: {exc}",
                                   "isolation": isolation}
        timed_out = [c.metadata.get("nbgrader", {}).get("grade_id") or f"#{i}"
                     for i, c in enumerate(nb.cells) if c.cell_type == "code"
                     and any(o.get("ename") == "CellTimeoutError" for o in c.get("outputs", []))]
        if timed_out:
            return nb, resources, {"status": "timeout",
                                   "reason": "timeout in cell " + ", ".join(timed_out),
                                   "isolation": isolation}
        return nb, resources, {"status": "ok", "reason": "", "isolation": isolation}


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """For feedback: in every cell that contains hidden tests, replace each error output by
    its exception type and message (the assert message says what went wrong) and drop
    stderr (warnings quote source lines). Must run BEFORE ClearHiddenTests, which removes
    the markers this looks for."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or self.begin_test_delimeter not in cell.source:
            return cell, resources
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                ename = _ANSI.sub("", str(out.get("ename", "Error")))
                evalue = _ANSI.sub("", str(out.get("evalue", "")))
                text = f"{ename}: {evalue}" if evalue else ename
                outputs.append(NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                            traceback=[text]))
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            else:
                outputs.append(out)
        cell.outputs = outputs
        return cell, resources


# Cells whose hidden-test delimiter text NeutraliseHiddenTestDelimiters made inert, in order:
# {"student", "assignment", "notebook", "cells": [labels]}. `python -m grading feedback`
# prints them; stock nbgrader logs a warning.
DELIMITER_NOTES: list[dict[str, Any]] = []

# never quotes the delimiter itself (ClearHiddenTests runs on this text afterwards)
_DELIMITER_NOTE = ("[grader] This cell contained hidden-test delimiter text, which is "
                   "reserved for hidden tests; it is shown as '{inert}' in this feedback.")


class NeutraliseHiddenTestDelimiters(NbGraderPreprocessor):
    """For feedback, before HideHiddenTestTracebacks and ClearHiddenTests: the hidden-test
    delimiters ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS") belong in test cells only. Typed
    into any other cell (a solution, a markdown answer, a free code cell), they make
    nbgrader's ClearHiddenTests raise ("No end hidden tests statement found", "Hidden test
    region detected in a non-grade cell") and the student gets no feedback at all; with both
    delimiters in a solution cell it would silently cut the student's code between them.
    Here the text is made inert in every non-test cell, a note at the top of the cell tells
    the student why, and the cell is recorded (warning + :data:`DELIMITER_NOTES`) for the
    instructor. Test cells come from the gradebook, never from the student."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from grading import hidden

        begin, end = self.begin_test_delimeter, self.end_test_delimeter
        cells = []
        for index, cell in enumerate(nb.cells):
            if hidden.is_test_cell(cell) or not hidden.has_delimiter(cell.source, begin, end):
                continue
            label = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id") \
                or f"#{index + 1}"
            texts = [t for t in (begin, end) if t in cell.source]
            cell.source = hidden.neutralise_delimiters(cell.source, begin, end)
            note = _DELIMITER_NOTE.format(inert="', '".join(t.replace(" ", "-") for t in texts))
            cell.source = (f"# {note}\n" if cell.cell_type == "code" else f"*{note}*\n\n") \
                + cell.source
            cells.append(label)
        if cells:
            info = resources.get("nbgrader", {})
            record = {"student": info.get("student", "?"), "assignment": info.get("assignment", "?"),
                      "notebook": info.get("notebook", "?"), "cells": cells,
                      "text": begin}
            DELIMITER_NOTES.append(record)
            self.log.warning("%s/%s/%s: hidden-test delimiter text in non-test cell(s) %s "
                             "made inert for feedback", record["student"], record["assignment"],
                             record["notebook"], ", ".join(cells))
        return nb, resources


class RestoreCellFlags(NbGraderPreprocessor):
    """Put back the nbgrader flags (grade, solution, locked, points) of every cell whose
    grade_id the gradebook knows, before nbgrader's OverwriteCells runs.

    Why: OverwriteCells restores a locked cell's source, ``locked`` and ``points`` but not
    ``grade``/``solution``; a student who flips ``grade: false`` on a test cell would make
    autograde fail the whole notebook ("Inconsistent checksums"), scoring every cell 0.
    The gradebook (written by generate_assignment) is the authority, as for OverwriteCells.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources
            grades = {c.name: c for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            locked = {c.name: c.locked for c in source_nb.source_cells}
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader")
                if not isinstance(meta, dict) or meta.get("grade_id") not in locked:
                    continue
                name = meta["grade_id"]
                wanted = {"grade": name in grades, "solution": name in solutions,
                          "locked": locked[name]}
                if name in grades:
                    wanted["points"] = float(grades[name].max_score)
                for flag, value in wanted.items():
                    if meta.get(flag) != value:
                        self.log.warning("Restoring %s.%s: %r -> %r", name, flag,
                                         meta.get(flag), value)
                        meta[flag] = value
                if name not in grades:
                    meta.pop("points", None)
        return nb, resources


class DropUnknownCellMetadata(NbGraderPreprocessor):
    """Turn a cell whose nbgrader metadata the gradebook does not know into an ordinary cell.

    Runs first in the autograde sanitize chain. Why: nbgrader's own steps assume every cell
    with nbgrader metadata has a ``grade_id`` (DeduplicateIds, OverwriteCells' missing-cell
    pass raise ``KeyError: 'grade_id'``) and that the metadata is a dict; a student who
    renames a cell's grade_id, invents a graded cell, deletes the grade_id or writes a string
    there would otherwise lose the whole notebook. The gradebook (written by
    generate_assignment) is the authority: metadata that names none of its cells is dropped
    (the cell's code still runs), and a deleted test cell is re-added by OverwriteCells."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                known = {c.name for c in gb.find_notebook(info["notebook"],
                                                          info["assignment"]).source_cells}
            except MissingEntry:
                return nb, resources
        for index, cell in enumerate(nb.cells):
            metadata = cell.get("metadata")
            if not isinstance(metadata, dict) or "nbgrader" not in metadata:
                continue
            meta = metadata["nbgrader"]
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(grade_id, str) and grade_id in known:
                continue
            self.log.warning("Cell %d: nbgrader metadata %r names no cell of the assignment; "
                             "graded as an ordinary cell", index, meta)
            del metadata["nbgrader"]
        return nb, resources
