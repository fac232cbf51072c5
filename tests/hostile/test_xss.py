"""Stored XSS (issue 13, item 2): a hostile submission's feedback page and its formgrader
page carry nothing a browser would run or load.

One course root, two students graded with ``python -m grading release / autograde /
feedback``: ``hostile`` (every payload of :mod:`tests.hostile.xss_cases`: markdown, the
written answer, raw cell, metadata, and outputs made by student code during autograde) and
``benign`` (the same correct submission without payloads). The formgrader page is rendered
here as nbgrader's ``SubmissionHandler`` does it: ``HTMLExporter(config=...)`` with the
course configuration and nbgrader's ``formgrade`` template.

Each page is parsed with :mod:`html.parser`. Everything that can run or load something is
listed (script elements, ``on*`` attributes, javascript:/vbscript:/non-image data: URLs,
srcdoc, iframe/object/embed/base/meta/link/style/form/svg/math/noscript elements, CSS
``url(...)``, attributes that point at the payload URL); the hostile page may list nothing
that the benign page (the template's own) does not. tests/browser/test_xss.py opens the
same kind of pages in Chromium.
"""
from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from tests.hostile import xss_cases as X
from tests.hostile.conftest import scores

pytestmark = pytest.mark.hostile

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ps1"
NAME = X.NOTEBOOK.removesuffix(".ipynb")
HIT = "http://127.0.0.1:9/hit"  # never contacted here: the browser test serves its own

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster",
                  "background", "codebase", "srcset", "cite", "ping"}
ACTIVE_TAGS = {"iframe", "frame", "frameset", "object", "embed", "base", "meta", "link",
               "style", "form", "svg", "math", "applet", "noscript", "template", "portal"}


class ActiveContent(HTMLParser):
    """Everything in a page that could run script or load a resource, as comparable tuples.
    Inline script texts are kept apart (the formgrade template writes per-submission values
    into its own inline script)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[tuple] = set()
        self.scripts: list[tuple[str | None, str]] = []
        self._raw: tuple[str, str | None] | None = None  # inside <script>/<style>
        self._text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = [(n, v or "") for n, v in attrs]
        if tag in ("script", "style"):
            self._raw, self._text = (tag, dict(attrs).get("src")), []
        if tag in ACTIVE_TAGS and tag != "style":
            self.found.add((f"<{tag}>", tuple(attrs)))
        for name, value in attrs:
            squashed = "".join(value.split()).lower()
            if name.startswith("on"):
                self.found.add(("handler", tag, name, value))
            if name == "srcdoc":
                self.found.add(("srcdoc", tag, value))
            if name in URL_ATTRIBUTES and (
                    squashed.startswith(("javascript:", "vbscript:"))
                    or (squashed.startswith("data:") and not squashed.startswith("data:image/"))):
                self.found.add(("url", tag, name, value))
            if name == "style" and ("url(" in squashed or "expression(" in squashed):
                self.found.add(("css", tag, value))
            # a link (<a href>) to an http URL loads nothing until clicked: it is allowed
            loads = name in ("style", "content") or (
                name in URL_ATTRIBUTES and not (tag in ("a", "area") and name == "href"))
            if loads and HIT in value:
                self.found.add(("loads payload URL", tag, name, value))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._raw:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._raw and tag == self._raw[0]:
            text = "".join(self._text)
            if tag == "script":
                self.scripts.append((self._raw[1], text))
            else:
                self.found.add(("<style>", text))
            self._raw = None


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600)


def formgrader_page(root: Path, student: str) -> str:
    """The formgrader's page of one autograded submission, rendered the way nbgrader's
    SubmissionHandler renders it, with the course configuration."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    from grading.config import load_config

    cfg = load_config(root)
    cfg.HTMLExporter.template_name = "formgrade"  # FormgradeExtension.build_extra_config
    cfg.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": ASSIGNMENT, "notebook_id": NAME, "submission_id": student,
                 "index": 0, "total": 2, "base_url": "", "student": student,
                 "last_name": None, "first_name": None,
                 "notebook_path": f"autograded/{student}/{ASSIGNMENT}/{X.NOTEBOOK}"}
    html, _ = HTMLExporter(config=cfg).from_filename(
        str(root / "autograded" / student / ASSIGNMENT / X.NOTEBOOK), resources=resources)
    return html


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("xss-course")
    source = root / "source" / ASSIGNMENT / X.NOTEBOOK
    source.parent.mkdir(parents=True)
    nbformat.write(X.build_source(), source)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'source'\n"
        "c.Execute.timeout = 30\n")
    r = cli("release", ASSIGNMENT, "--course-root", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    released = nbformat.read(root / "release" / ASSIGNMENT / X.NOTEBOOK, as_version=4)
    for student, nb in (("hostile", X.hostile_submission(released, HIT)),
                        ("benign", X.benign_submission(released))):
        target = root / "submitted" / student / ASSIGNMENT / X.NOTEBOOK
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    auto = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2",
               "--no-progress")
    feedback = cli("feedback", ASSIGNMENT, "--course-root", str(root))
    return {"root": root, "autograde": auto, "feedback": feedback}


def page(course, kind: str, student: str) -> str:
    if kind == "feedback":
        path = course["root"] / "feedback" / student / ASSIGNMENT / f"{NAME}.html"
        assert path.exists(), (f"no feedback page {path}:\n{course['feedback'].stdout}"
                               f"{course['feedback'].stderr}")
        return path.read_text()
    return formgrader_page(course["root"], student)


def test_hostile_submission_is_graded_like_the_benign_one(course):
    auto = course["autograde"]
    assert auto.returncode == 0 and "2 graded (2 ok" in auto.stdout, \
        f"autograde should grade both submissions without problems:\n{auto.stdout}{auto.stderr}"
    for student in ("hostile", "benign"):
        nb = nbformat.read(course["root"] / "autograded" / student / ASSIGNMENT / X.NOTEBOOK,
                           as_version=4)
        assert scores(nb).get("test_double") == 1, \
            f"{student}: the correct double() should earn test_double's point: {scores(nb)}"


@pytest.mark.parametrize("kind", ["feedback", "formgrader"])
def test_hostile_page_has_nothing_that_runs_or_loads(course, kind):
    benign, hostile = ActiveContent(page(course, kind, "benign")), \
        ActiveContent(page(course, kind, "hostile"))
    extra = sorted(map(repr, hostile.found - benign.found))
    assert not extra, (f"the {kind} page of the hostile submission has {len(extra)} active "
                       "things the benign page does not (template-made ones excluded):\n  "
                       + "\n  ".join(e[:160] for e in extra))
    assert [src for src, _ in hostile.scripts] == [src for src, _ in benign.scripts], \
        (f"the {kind} page of the hostile submission has other <script> elements than the "
         f"benign one: {[(s, t[:80]) for s, t in hostile.scripts]}")
    leaked = [t[:120] for _, t in hostile.scripts if "XSSHITS" in t or HIT in t]
    assert not leaked, f"a payload is inside a <script> of the {kind} page: {leaked}"


@pytest.mark.parametrize("kind", ["feedback", "formgrader"])
def test_written_answer_payloads_are_shown_as_text(course, kind):
    """The instructor sees what the student wrote (escaped), not an empty answer."""
    text = page(course, kind, "hostile")
    shown = "&lt;script&gt;" + X.beacon_js(HIT, "answer-script").replace("'", "&#x27;")
    alt = "&lt;script&gt;" + X.beacon_js(HIT, "answer-script")
    assert shown in text or alt in text, \
        f"the written answer's <script> should appear as text on the {kind} page"


@pytest.mark.parametrize("kind", ["feedback", "formgrader"])
def test_benign_page_keeps_formatting_math_and_images(course, kind):
    text = page(course, kind, "benign")
    assert "<em>linear</em>" in text and "<strong>test</strong>" in text, \
        f"the written answer's markdown formatting is lost on the {kind} page"
    assert "$2(x + y) = 2x + 2y$" in text, f"the LaTeX of the answer changed on the {kind} page"
    assert f'src="data:image/png;base64,{X.PNG_1X1}"' in text, \
        f"the submission's PNG output is not an inline image on the {kind} page"


def test_payloads_reach_the_autograded_notebook(course):
    """The premise of the page tests: the student's code ran during autograde and its
    hostile outputs are in the autograded notebook (pages are sanitised when rendered)."""
    nb = nbformat.read(course["root"] / "autograded" / "hostile" / ASSIGNMENT / X.NOTEBOOK,
                       as_version=4)
    kinds = {m for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             for m in o.get("data", {})}
    expected = {"application/javascript", "text/html", "image/svg+xml", "text/markdown",
                "application/vnd.jupyter.widget-view+json", "application/x-evil", "image/png"}
    assert expected <= kinds, f"hostile outputs missing from the autograded notebook: " \
                              f"{sorted(expected - kinds)} (found {sorted(kinds)})"
    answer = next(c for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == X.ANSWER_ID)
    assert "<script>" in answer.source, "the hostile written answer did not reach autograde"
