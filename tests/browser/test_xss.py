"""Stored XSS (issue 13, item 2) in a real browser: a hostile submission's feedback page and
its page in nbgrader's formgrader run no script and load nothing from the payload URL.

The course root's ``nbgrader_config.py`` loads the course configuration
(``grading/nbgrader_config.py``), as when the instructor runs ``cd grading && jupyter lab``.
One hostile submission (every payload of :mod:`tests.hostile.xss_cases`: markdown cells,
the written answer, a raw cell, metadata, and outputs its code made during autograde) is
graded with ``python -m grading release / autograde / feedback``. Every payload, if it ran,
would request ``HIT/<name>`` from a loopback server this test runs, set the page title to
``XSS-<name>`` and push ``<name>`` onto ``top.XSSHITS``.

Then Chromium opens the feedback page (served by the loopback server) and the formgrader's
page of the submission (``/formgrader/submissions/<id>/`` of a JupyterLab server on the
course root) and finds none of the three traces, and no handler attribute, javascript: URL
or frame/object/script element in the notebook part of the page. A control script, run in
the same page afterwards, leaves all three traces: the detectors work there.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nbformat
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.hostile import xss_cases as X

from .conftest import start_lab, stop_lab
from .course import REPO

pytestmark = pytest.mark.browser

ASSIGNMENT = "ps1"
STUDENT = "mallory"
NAME = X.NOTEBOOK.removesuffix(".ipynb")
SETTLE_MS = 1500  # after load and network idle: handlers (onerror, ontoggle) have fired

# what a page's notebook part must not contain once the browser has parsed it
_DOM_ACTIVE_JS = """() => {
  const root = document.querySelector('#notebook-container') || document.body;
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'frame', 'object', 'embed', 'base', 'meta', 'link', 'style',
         'form', 'svg', 'math', 'noscript', 'template'].includes(tag)) out.push('<' + tag + '>');
    for (const a of el.attributes) {
      const v = a.value.replace(/\\s/g, '').toLowerCase();
      if (a.name.startsWith('on')) out.push(tag + ' ' + a.name);
      if (a.name === 'srcdoc') out.push(tag + ' srcdoc');
      if (['href', 'src', 'action', 'formaction', 'data', 'xlink:href'].includes(a.name)
          && /^(javascript|vbscript):/.test(v)) out.push(tag + ' ' + a.name + '=' + v.slice(0, 40));
    }
  }
  return out;
}"""


class HitServer:
    """A loopback HTTP server that records every request and serves the pages it is given."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.pages: dict[str, bytes] = {}
        hits, pages = self.hits, self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                hits.append(self.path)
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 204)
                if body is not None:
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body is not None:
                    self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.hit = f"{self.url}/hit"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payload_hits(self) -> list[str]:
        return [p for p in self.hits if p.startswith("/hit/")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, f"python -m grading {args[0]} failed:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def hits():
    server = HitServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory, hits):
    """A course root with the hostile submission autograded and its feedback generated, and
    a JupyterLab (formgrader) server on it, started while the submission is graded."""
    root = tmp_path_factory.mktemp("xss-course")
    source = root / "source" / ASSIGNMENT / X.NOTEBOOK
    source.parent.mkdir(parents=True)
    nbformat.write(X.build_source(), source)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig('nbgrader_config.py', path={str(REPO / 'grading')!r})\n"
        "c.CourseDirectory.source_directory = 'source'\n")
    def grade() -> None:
        _cli("release", ASSIGNMENT, "--course-root", str(root))
        released = nbformat.read(root / "release" / ASSIGNMENT / X.NOTEBOOK, as_version=4)
        target = root / "submitted" / STUDENT / ASSIGNMENT / X.NOTEBOOK
        target.parent.mkdir(parents=True)
        nbformat.write(X.hostile_submission(released, hits.hit), target)
        auto = _cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "1",
                    "--no-progress")
        assert "1 graded (1 ok" in auto.stdout, \
            f"the hostile submission was not graded:\n{auto.stdout}"
        _cli("feedback", ASSIGNMENT, "--course-root", str(root))

    # grading runs in a thread while JupyterLab starts in this one (the server gets SIGTERM
    # when the thread that started it ends: conftest's PR_SET_PDEATHSIG)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        graded = pool.submit(grade)
        server = start_lab(root, tmp_path_factory.mktemp("xss-home"))
        print(f"JupyterLab up after {time.monotonic() - t0:.0f} s", flush=True)
        try:
            graded.result()
        except BaseException:
            stop_lab(server)
            raise
    print(f"graded and JupyterLab up after {time.monotonic() - t0:.0f} s", flush=True)
    try:
        yield {"root": root, "lab": server}
    finally:
        stop_lab(server)


def _settle(page) -> None:
    page.wait_for_load_state("load")
    try:
        page.wait_for_load_state("networkidle", timeout=15_000)
    except PlaywrightTimeout:  # a page that keeps polling never goes idle; the settle time applies
        pass
    # the absence of an event can only be observed over a time window
    page.wait_for_timeout(SETTLE_MS)


def _traces(page, hits: HitServer, requests: list[str]) -> dict[str, list]:
    frames_hits = []
    for frame in page.frames:
        try:
            value = frame.evaluate("() => window.XSSHITS || null")
        except PlaywrightError as exc:  # a frame that navigated away meanwhile
            value = [f"(frame not readable: {type(exc).__name__})"]
        if value:
            frames_hits.append(value)
    title = page.title()
    return {
        "requests to the payload URL (server)": hits.payload_hits(),
        "requests to the payload URL (browser)": [r for r in requests if "/hit/" in r],
        "page title set by a payload": [title] if title.startswith("XSS-") else [],
        "window.XSSHITS": frames_hits,
        "active elements/attributes in the notebook": page.evaluate(_DOM_ACTIVE_JS),
    }


def _assert_clean_then_control(page, hits: HitServer, requests: list[str], what: str) -> None:
    found = {k: v for k, v in _traces(page, hits, requests).items() if v}
    assert not found, (f"{what}: student payloads ran or loaded in Chromium:\n"
                       + "\n".join(f"  {k}: {v}" for k, v in found.items()))
    # control: the same beacon, run by the test in this page, is seen by every detector
    page.evaluate(f"() => {{ {X.beacon_js(hits.hit, 'control')} }}")
    deadline = time.monotonic() + 10
    while "/hit/control" not in hits.hits and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the recorder; the assertion follows
    assert "/hit/control" in hits.hits, f"{what}: the control beacon's request never arrived"
    assert page.title() == "XSS-control", f"{what}: the control beacon did not set the title"
    assert page.evaluate("() => window.XSSHITS") == ["control"]


def _record_requests(page) -> list[str]:
    seen: list[str] = []
    page.context.on("request", lambda request: seen.append(request.url))
    return seen


def test_feedback_page_runs_no_student_script(page, shots, hits, course):
    html = course["root"] / "feedback" / STUDENT / ASSIGNMENT / f"{NAME}.html"
    assert html.exists(), f"no feedback page at {html}"
    hits.pages["/page/feedback.html"] = html.read_bytes()
    hits.hits.clear()
    requests = _record_requests(page)
    page.goto(f"{hits.url}/page/feedback.html", wait_until="load")
    _settle(page)
    assert "XSS cases" in page.locator("body").inner_text(), "the feedback page did not render"
    shots("feedback")
    _assert_clean_then_control(page, hits, requests, "feedback page")


def test_formgrader_page_runs_no_student_script(page, shots, hits, course):
    from nbgrader.api import Gradebook

    lab = course["lab"]
    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gb:
        submission_id = gb.find_submission_notebook(NAME, ASSIGNMENT, STUDENT).id
    hits.hits.clear()
    requests = _record_requests(page)
    page.goto(f"{lab.url}/formgrader/submissions/{submission_id}/?token={lab.token}",
              wait_until="load")
    page.locator(f"input.score#{X.ANSWER_ID}").wait_for()  # the grading view, with its form
    _settle(page)
    answer = page.locator(".nbgrader_cell", has=page.locator(f"input.score#{X.ANSWER_ID}"))
    assert "<script>fetch(" in answer.inner_text(), \
        "the formgrader should show the written answer's <script> as text"
    shots("formgrader")
    _assert_clean_then_control(page, hits, requests, "formgrader page")
