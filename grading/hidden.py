"""Hidden-test text: find it in a notebook, keep it out of outputs and feedback (issue 13).

* :func:`hidden_lines` lists the non-trivial source lines between ``BEGIN HIDDEN TESTS`` and
  ``END HIDDEN TESTS`` of the autograded test cells of a notebook (as restored from the
  gradebook before execution).
* :func:`redact_outputs` is the last line of defence after execution: every output line of
  the executed notebook that quotes one of those lines is replaced by :data:`NOTE`, before
  the notebook becomes the autograded notebook (and so the feedback). Student code runs in
  the same Python process as the hidden tests that call it, so it can always observe what
  reaches it (its arguments, its caller's frame); printing a hidden line verbatim is the
  obvious way to smuggle it out, and this closes that one. Encoded copies (reversed,
  base64...) are not recognised: see grading/README.md, "What stays possible in-process".
* :func:`neutralise_delimiters` is for feedback: a cell that is not a test cell (a solution,
  a markdown answer, a free code cell) never legitimately holds hidden tests, but a student
  can type the delimiter text; nbgrader's ClearHiddenTests would then raise and the student
  would get no feedback at all.
"""
from __future__ import annotations

import html
import re
from typing import Iterable

from nbformat import NotebookNode

BEGIN = "BEGIN HIDDEN TESTS"
END = "END HIDDEN TESTS"
NOTE = "[grader: removed output that quoted hidden tests]"
MIN_LEN = 10  # shorter lines ("else:", "x = f(1)") are not worth hiding and would over-match

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TAGS = re.compile(r"<[^>]{0,2000}>")
_WS = re.compile(r"\s+")
_BINARY = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


def _norm(text: str) -> str:
    return _WS.sub(" ", _ANSI.sub("", text)).strip()


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: a graded code cell that is not a solution."""
    md = cell.get("metadata", {}).get("nbgrader", {}) or {}
    return cell.get("cell_type") == "code" and bool(md.get("grade")) and not md.get("solution")


def hidden_lines(nb: NotebookNode, begin: str = BEGIN, end: str = END) -> set[str]:
    """Whitespace-normalised lines of at least MIN_LEN characters inside hidden-test regions
    of the notebook's test cells, minus lines that also appear outside such regions, whole
    or as part of a visible line (those are public anyway, e.g. a visible assert repeated in
    the hidden part)."""
    secret: set[str] = set()
    public: set[str] = set()
    for cell in nb.get("cells", []):
        inside = False
        test = is_test_cell(cell)
        for line in str(cell.get("source", "")).splitlines():
            if test and begin in line:
                inside = True
                continue
            if test and end in line:
                inside = False
                continue
            text = _norm(line)
            (secret if inside else public).add(text)
    # a fragment that the student can read anyway (inside a visible line, e.g. the
    # "softmax(x, axis=0)" of a visible assert message) is not secret: redacting it would
    # remove that visible message from the student's feedback
    public_text = "\n".join(public)
    return {s for s in secret - public if len(s) >= MIN_LEN and s not in public_text}


def _quotes(text: str, secrets: Iterable[str]) -> bool:
    flat = _norm(html.unescape(text))
    return any(s in flat for s in secrets)


def _redact_text(text: str, secrets: set[str]) -> tuple[str, bool]:
    """Replace every line of ``text`` that quotes a secret line; (new text, changed)."""
    if not _quotes(text, secrets):
        # also catches a secret split over lines only if it is whole on one line: the
        # common case (print, traceback); see the module docstring for what is not caught
        return text, False
    out, changed = [], False
    for line in text.split("\n"):
        if _quotes(line, secrets):
            if not out or out[-1] != NOTE:
                out.append(NOTE)
            changed = True
        else:
            out.append(line)
    if not changed:  # the secret spans several lines of this output: drop it whole
        return NOTE, True
    return "\n".join(out), True


def _coalesce_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name (a line printed in pieces is then
    one line again)."""
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] = str(merged[-1].get("text", "")) + str(out.get("text", ""))
        else:
            merged.append(out)
    return merged


def redact_outputs(nb: NotebookNode, secrets: set[str]) -> list[int]:
    """Remove every quotation of a ``secrets`` line from the outputs of ``nb`` (in place):
    stream text and tracebacks line by line, error values, and rich outputs whole. Returns
    the indices of the cells changed.

    One exception: the traceback of an error in a test cell that holds hidden tests is
    kept, so that the instructor sees which hidden line failed (in the formgrader). It never
    reaches a student: the feedback chain's HideHiddenTestTracebacks reduces such errors to
    "ExceptionType: message" (the message IS redacted here)."""
    changed_cells: list[int] = []
    if not secrets:
        return changed_cells
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not cell.get("outputs"):
            continue
        changed = False
        outputs = _coalesce_streams(list(cell["outputs"]))
        for out in outputs:
            kind = out.get("output_type")
            if kind == "stream":
                out["text"], c = _redact_text(str(out.get("text", "")), secrets)
                changed |= c
            elif kind == "error":
                tb = []
                own_test = is_test_cell(cell) and BEGIN in str(cell.get("source", ""))
                for entry in out.get("traceback", []) or []:
                    if own_test:
                        tb.append(entry)
                        continue
                    new, c = _redact_text(str(entry), secrets)
                    tb.append(new)
                    changed |= c
                out["traceback"] = tb
                out["evalue"], c = _redact_text(str(out.get("evalue", "")), secrets)
                changed |= c
            elif kind in ("display_data", "execute_result", "update_display_data"):
                data = out.get("data", {}) or {}
                for mime in list(data):
                    if mime in _BINARY:
                        continue
                    value = data[mime]
                    text = value if isinstance(value, str) else str(value)
                    if _quotes(text, secrets) or (
                            "html" in mime or "svg" in mime) and _quotes(_TAGS.sub("", text), secrets):
                        data[mime] = NOTE if isinstance(value, str) else {"note": NOTE}
                        changed = True
        if changed:
            cell["outputs"] = outputs
            changed_cells.append(index)
    return changed_cells


def neutralise_delimiters(source: str, begin: str = BEGIN, end: str = END) -> str:
    """The source with every occurrence of the two delimiters made inert for
    ClearHiddenTests ("BEGIN HIDDEN TESTS" -> "BEGIN-HIDDEN-TESTS")."""
    for word in (begin, end):
        source = source.replace(word, word.replace(" ", "-"))
    return source


def has_delimiter(source: str, begin: str = BEGIN, end: str = END) -> bool:
    return begin in source or end in source
