"""Hidden tests stay hidden, and a student cannot break their own feedback (issue 13, items 1
and 5), through `python -m grading release`, `autograde` and `feedback`.

One course, an assignment of two notebooks (the second is graded while the first one's
autograded notebook, hidden tests included, already sits in the same autograded folder):

* ``searcher``: cell 3 walks the whole readable filesystem (not /proc, /sys, /dev; the
  read-only system and Python trees for data-like files only) and every /proc/<pid>/environ
  and cmdline, looking for needles built at run time (so the search never finds its own
  source): the hidden-test delimiter, two distinctive hidden-test lines, and a control string
  that IS in a file of the submission (proof that the search reads what it can). It also tries
  to open the runner's /proc entries. ``double`` prints the source line of its caller (the
  hidden test calls it: the in-process route nothing can close, so the output redaction has
  to catch it). The ``halve`` cell, which runs after test_double, prints what ``In``, ``_ih``,
  ``Out``, the history, ``linecache`` and ``last_execution_result`` hold, and searches the
  files again (IPython's history database, kernel temp files).
* ``delimiter``: the text ``BEGIN HIDDEN TESTS`` in a solution cell and in a free code cell
  (nbgrader's ClearHiddenTests raised on it and the student got no feedback).

On the code before issue 13 this failed: the search found /tmp/submission/doubling.ipynb
(hidden tests restored by nbgrader) and, for the second notebook, the autograded
doubling.ipynb; ``In``/``_ih``/``linecache`` held the test cells; the caller line printed by
``double`` reached the feedback HTML; ``feedback`` failed for ``delimiter``.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.grading.leaks import html_text, norm
from tests.hostile.conftest import ASSIGNMENT, HOSTILE_INDEX, build_notebook, outputs_text
from tools.nbauthor import write

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("doubling", "second")
REDACTED = "[grader: removed output that quoted hidden tests]"

# Needles, each written split so that this file (and the probe's own cell) never contains
# them whole.
SEARCH = r'''
import os, sys
_needles = {"marker": "BEGIN " + "HIDDEN", "hidden-double": "double of 0, 1, " + "2",
            "hidden-halve": "halve(np.arange" + "(3.0)), [0, 0.5",
            "control": "probe-" + "control-7f3a"}
_bulk = tuple({sys.prefix, sys.base_prefix, "/usr", "/etc"})
# the installed software (nbgrader's own docs and the grader's code mention the delimiter):
# a bare delimiter there is not a course's hidden test; a hidden-test line anywhere is
_code = tuple(os.path.dirname(__import__(m).__file__) for m in ("grading", "helpers"))
_datalike = (".ipynb", ".db", ".sqlite", ".sqlite3", ".json", "-journal", ".html", ".log",
             ".bak", ".tmp", ".txt", ".csv", ".md")

def _search(tag):
    found, n = set(), 0
    for d, dirs, files in os.walk("/"):
        if d == "/":
            dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev")]
        bulk = d.startswith(_bulk)
        for f in files:
            p = os.path.join(d, f)
            if bulk and not f.endswith(_datalike):
                continue
            try:
                if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) > 50_000_000:
                    continue
                with open(p, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            n += 1
            env = " [software]" if bulk or d.startswith(_code) else ""
            for k, v in _needles.items():
                if v.encode() in data:
                    found.add(k + " in " + p + env)
    for pid in os.listdir("/proc"):
        for what in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            n += 1
            for k, v in _needles.items():
                if v.encode() in data:
                    found.add(k + f" in /proc/{pid}/{what}")
    print(tag, "SEARCHED", n, "files")
    for x in sorted(found):
        print(tag, "FOUND", x)

_search("S1")
_pp = os.getppid()
print("PARENT", open(f"/proc/{_pp}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:200])
for _what in ("environ", "mem", "fd/0", "fd"):
    try:
        if _what == "fd":
            print("RUNNER-PROC", _what, "READABLE", os.listdir(f"/proc/{_pp}/fd"))
        else:
            open(f"/proc/{_pp}/{_what}", "rb").close()
            print("RUNNER-PROC", _what, "READABLE")
    except OSError as e:
        print("RUNNER-PROC", _what, "blocked", type(e).__name__)
'''

DOUBLE_SPY = '''
def double(x):
    import inspect
    for frame in inspect.stack()[1:3]:
        print("CALLER", "".join(frame.code_context or []).strip())
    return 2 * np.asarray(x, dtype=float)
'''

HALVE_SPY = r'''
def halve(x):
    return np.asarray(x, dtype=float) / 2

import linecache, re
_ip = get_ipython()
_texts = {
    "In": "\n".join(In), "_ih": "\n".join(_ih), "Out": repr(Out),
    "_i-vars": "\n".join(str(v) for k, v in list(globals().items())
                          if re.fullmatch(r"_i+\d*", k)),
    "history": "\n".join(str(h[2]) for h in _ip.history_manager.get_range(raw=True)),
    "history-parsed": "\n".join(str(h[2]) for h in _ip.history_manager.get_range(raw=False)),
    "linecache": "\n".join("".join(v[2]) for v in list(linecache.cache.values())
                           if isinstance(v, tuple) and len(v) > 2),
    "last_execution_result": str(getattr(getattr(_ip.last_execution_result, "info", None),
                                         "raw_cell", "")),
}
_in_needles = ["double of 0, 1, " + "2", "BEGIN " + "HIDDEN"]
print("IN-PROCESS checked", sorted(_texts))
print("IN-PROCESS hits", sorted(k for k, t in _texts.items() for n in _in_needles if n in t))
_search("S2")
'''


def cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)


def answer(release: nbformat.NotebookNode, *, free: str = "pass", double: str | None = None,
           halve: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    ok = {"double": "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n",
          "halve": "def halve(x):\n    return np.asarray(x, dtype=float) / 2\n"}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "double":
            c.source = double or ok["double"]
        elif gid == "halve":
            c.source = halve or ok["halve"]
    nb.cells[HOSTILE_INDEX].source = free
    return nb


def hidden_lines() -> set[str]:
    """Every non-trivial line between BEGIN and END HIDDEN TESTS of the source notebook."""
    out, inside = set(), False
    for c in build_notebook().cells:
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(norm(line)) >= 12:
                out.add(norm(line))
    assert len(out) == 2, f"expected the two hidden lines of the synthetic notebook, got {out}"
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks-course")
    for name in NOTEBOOKS:
        write(build_notebook(), root / "source" / ASSIGNMENT / f"{name}.ipynb")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'source'\n"
        "c.Execute.timeout = 240\n")
    r = cli("release", ASSIGNMENT, "--course-root", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    release = nbformat.read(root / "release" / ASSIGNMENT / "doubling.ipynb", as_version=4)

    searcher = answer(release, free=SEARCH, double=DOUBLE_SPY, halve=HALVE_SPY)
    delimiter = answer(
        release, free="note = 'my own ### BEGIN HIDDEN TESTS ... END HIDDEN TESTS'\nprint(note)",
        double="def double(x):\n    # BEGIN HIDDEN TESTS (a student's note, not a test)\n"
               "    return 2 * np.asarray(x, dtype=float)\n")
    for student, nb in {"searcher": searcher, "delimiter": delimiter}.items():
        folder = root / "submitted" / student / ASSIGNMENT
        for name in NOTEBOOKS:
            write(nb, folder / f"{name}.ipynb")
    control = root / "submitted" / "searcher" / ASSIGNMENT / "notes" / "control.txt"
    control.parent.mkdir(parents=True)
    control.write_text("probe-control-7f3a: a file of the student's own\n")

    auto = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2",
               "--no-progress")
    feedback = cli("feedback", ASSIGNMENT, "--course-root", str(root))
    print(auto.stdout, auto.stderr[-3000:], feedback.stdout, feedback.stderr[-3000:])
    return {"root": root, "auto": auto, "feedback": feedback}


def autograded(course, student: str, name: str) -> nbformat.NotebookNode:
    path = course["root"] / "autograded" / student / ASSIGNMENT / f"{name}.ipynb"
    assert path.is_file(), f"no autograded notebook {path}:\n{course['auto'].stdout}"
    return nbformat.read(path, as_version=4)


def by_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_readable_file_holds_hidden_tests(course, name):
    nb = autograded(course, "searcher", name)
    text = outputs_text(nb.cells[HOSTILE_INDEX]) + outputs_text(by_id(nb, "halve"))
    for tag in ("S1", "S2"):
        searched = re.search(rf"{tag} SEARCHED (\d+) files", text)
        assert searched and int(searched.group(1)) > 1000, \
            f"the search probe {tag} did not run through (output: {text[:2000]})"
        # the control string in the student's own file is found: the probe does read files
        assert f"{tag} FOUND control in /tmp/submission/notes/control.txt" in text, text[:3000]
    leaks = [ln for ln in text.splitlines() if " FOUND " in ln and "FOUND control" not in ln
             and not ("FOUND marker" in ln and ln.endswith("[software]"))]
    assert not leaks, f"student code could read hidden tests in {name}: {leaks}"


def test_runner_proc_entries_are_not_readable(course):
    text = outputs_text(autograded(course, "searcher", "doubling").cells[HOSTILE_INDEX])
    assert "PARENT" in text and "grading._sandbox_runner" in text, \
        f"the probe did not identify the runner as the kernel's parent: {text[-2000:]}"
    for what in ("environ", "mem", "fd/0", "fd"):
        assert f"RUNNER-PROC {what} blocked" in text, \
            f"/proc/<runner>/{what} is readable by student code (runner not non-dumpable?)"


def test_history_and_linecache_hold_no_test_cells(course):
    text = outputs_text(by_id(autograded(course, "searcher", "doubling"), "halve"))
    assert "IN-PROCESS checked ['In', 'Out', '_i-vars', '_ih', 'history', 'history-parsed', " \
           "'last_execution_result', 'linecache']" in text, text[:2000]
    assert "IN-PROCESS hits []" in text, \
        f"test cell source reachable from a later cell: {text[:2000]}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_outputs_quoting_hidden_tests_are_redacted(course, name):
    nb = autograded(course, "searcher", name)
    secrets = hidden_lines()
    for i, c in enumerate(nb.cells):
        text = norm(outputs_text(c) + json.dumps(c.get("outputs", [])))
        quoted = [s for s in secrets if s in text]
        assert not quoted, f"cell {i} of the autograded {name} quotes hidden tests: {quoted}"
    # double printed its hidden caller line: the grader replaced it by a note
    assert REDACTED in outputs_text(by_id(nb, "test_double")), \
        outputs_text(by_id(nb, "test_double"))[:2000]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_feedback_holds_no_hidden_test_line(course, name):
    page = course["root"] / "feedback" / "searcher" / ASSIGNMENT / f"{name}.html"
    assert page.is_file(), f"no feedback for searcher: {course['feedback'].stdout}"
    text = html_text(page)
    leaked = [s for s in hidden_lines() if s in text]
    assert not leaked, f"feedback of searcher/{name} shows hidden test lines: {leaked}"


def test_searcher_keeps_its_points(course):
    rep = cli("report", "--format", "json", "--course-root", str(course["root"]))
    rows = [r for r in json.loads(rep.stdout) if r["student"] in ("searcher", "delimiter")]
    got = {(r["student"], r["notebook"], r["cell"]): r["score"] for r in rows}
    want = {(s, n, c): 1.0 for s in ("searcher", "delimiter") for n in NOTEBOOKS
            for c in ("test_double", "test_halve")}
    assert got == want, f"hostile but correct submissions lost points: {got}"


def test_delimiter_text_in_student_cells_still_gets_feedback(course):
    out = course["feedback"].stdout
    assert "FAILED" not in out, out
    for name in NOTEBOOKS:
        page = course["root"] / "feedback" / "delimiter" / ASSIGNMENT / f"{name}.html"
        assert page.is_file(), f"no feedback for delimiter/{name}: {out}"
        text = html_text(page)
        assert "reserved for hidden tests" in text, \
            f"the feedback does not tell the student why their cell was changed: {text[:1500]}"
    # the instructor sees which cells: the solution cell by id, the free cell by position
    line = next((ln for ln in out.splitlines() if "delimiter/" in ln), "")
    assert "double" in line and "#4" in line and "BEGIN HIDDEN TESTS" in line, out
