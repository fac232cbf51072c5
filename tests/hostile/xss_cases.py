"""Stored cross-site scripting payloads for the pages the grader produces (issue 13, item 2).

A hostile student controls the text of their markdown cells (free cells and the manually
graded written answer), raw cells, cell and notebook metadata, and every output their code
produces during autograde. All of it ends up in two HTML pages: the student's feedback
(``python -m grading feedback``) and the formgrader's view of the autograded submission,
which the instructor opens inside JupyterLab (same origin: a script there acts with the
instructor's login).

Every payload here is named, and every one that would run script calls :func:`beacon_js`:
a request to ``HIT/<name>`` (a loopback URL the browser test serves and records), the page
title ``XSS-<name>`` and ``top.XSSHITS``. Payloads that only load something (a remote image,
a stylesheet, a meta refresh) point at ``HIT/<name>`` too, so any trace names its payload.

:func:`hostile_submission` turns a released notebook of :func:`build_source` into a graded
submission that carries every payload; :func:`benign_submission` is the same submission
without them (its pages tell which scripts the templates themselves ship).
"""
from __future__ import annotations

import base64
import copy

import nbformat
from nbformat.v4 import new_markdown_cell, new_raw_cell

from tools.nbauthor import code, locked, md, notebook, solution, tests, written_answer

NOTEBOOK = "doubling.ipynb"
ANSWER_ID = "why_double"
BENIGN_ANSWER = "Doubling is *linear*: $2(x + y) = 2x + 2y$, so the **test** passes."
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5"
           "ErkJggg==")

DOUBLE = '''
def double(x):
    """Twice x, as a float array."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x, dtype=float)
    ### END SOLUTION
'''
TEST_DOUBLE = '''
assert np.allclose(double([1, 2]), [2, 4]), "double([1, 2]) should be [2, 4]"
### BEGIN HIDDEN TESTS
np.testing.assert_allclose(double(np.arange(3.0)), [0, 2, 4], err_msg="double of 0, 1, 2")
### END HIDDEN TESTS
'''
DOUBLE_OK = "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n"


def build_source() -> nbformat.NotebookNode:
    """Cells: 0 md, 1 locked imports, 2 solution, 3 student code, 4 tests (1 point),
    5 md question, 6 written answer (2 points, manually graded)."""
    return notebook([
        md("# Doubling (synthetic assignment for the XSS cases)"),
        locked("import numpy as np", "imports"),
        solution(DOUBLE, "double"),
        code("pass"),
        tests(TEST_DOUBLE, "test_double", 1),
        md("**Question.** Why is doubling linear?"),
        written_answer("Because 2(x + y) = 2x + 2y.", ANSWER_ID, points=2),
    ])


def beacon_js(hit: str, name: str) -> str:
    """JavaScript that leaves three traces when it runs. No spaces, double quotes or commas:
    it must fit an unquoted or double-quoted attribute, a markdown link and a cell tag
    (nbformat forbids commas in tags). A plain fetch sends its request even where CORS
    then refuses the answer."""
    return (f"fetch('{hit}/{name}');document.title='XSS-{name}';"
            f"(top.XSSHITS=top.XSSHITS||[]).push('{name}')")


def _data_html(hit: str, name: str) -> str:
    page = f"<script>{beacon_js(hit, name)}</script>"
    return "data:text/html;base64," + base64.b64encode(page.encode()).decode()


def markdown_payloads(hit: str, prefix: str) -> dict[str, str]:
    """{name: markdown} for a markdown cell (or a text/markdown output)."""
    def js(name: str) -> str:
        return beacon_js(hit, prefix + name)

    p = prefix
    return {
        p + "script": f"<script>{js('script')}</script>",
        p + "img-onerror": f'<img src="x" onerror="{js("img-onerror")}">',
        p + "svg-script": f"<svg><script>{js('svg-script')}</script></svg>",
        p + "svg-onload": f'<svg onload="{js("svg-onload")}"></svg>',
        p + "iframe-srcdoc": f'<iframe srcdoc="<script>{js("iframe-srcdoc")}</script>"></iframe>',
        p + "iframe-js": f'<iframe src="javascript:{js("iframe-js")}"></iframe>',
        p + "details-ontoggle":
            f'<details open ontoggle="{js("details-ontoggle")}"><summary>s</summary>x</details>',
        p + "object": f'<object data="{_data_html(hit, p + "object")}"></object>',
        p + "embed": f'<embed src="{_data_html(hit, p + "embed")}">',
        p + "meta-refresh": f'<meta http-equiv="refresh" content="0;url={hit}/{p}meta-refresh">',
        p + "style": f"<style>@import url('{hit}/{p}style');</style>",
        p + "style-attr": f"<div style=\"background:url('{hit}/{p}style-attr')\">s</div>",
        p + "link-css": f'<link rel="stylesheet" href="{hit}/{p}link-css">',
        p + "base": f'<base href="{hit}/{p}base/">',
        p + "img-remote": f'<img src="{hit}/{p}img-remote">',
        p + "a-js": f'<a href="javascript:{js("a-js")}">click me</a>',
        p + "md-link-js": f"[click me too](javascript:{js('md-link-js')})",
        p + "form": f'<form action="javascript:{js("form")}"><button>go</button></form>',
        p + "mxss-noscript": f'<noscript><p title="</noscript><img src=x '
                             f'onerror={js("mxss-noscript")}>"></p></noscript>',
        p + "math": f"$x<script>{js('math')}</script>$",
    }


def output_code(hit: str) -> str:
    """Student code for the hostile code cell: every kind of dangerous output."""
    def js(name: str) -> str:
        return beacon_js(hit, name)

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="{js("out-svg")}">'
           f"<script>{js('out-svg')}</script></svg>")
    md_text = "\n\n".join(markdown_payloads(hit, "out-md-").values())
    lines = [
        "from IPython.display import HTML, Javascript, display",
        f"display(HTML({'<script>' + js('out-html-script') + '</script>'!r}))",
        f"display(HTML({'<img src=x onerror=' + chr(34) + js('out-html-img') + chr(34) + '>'!r}))",
        f"display(Javascript({js('out-js')!r}))",
        f"display({{'image/svg+xml': {svg!r}}}, raw=True)",
        f"display({{'text/markdown': {md_text!r}, 'text/plain': 'md'}}, raw=True)",
        f"display({{'text/html': {'<script>' + js('out-isolated') + '</script>'!r}}}, raw=True,"
        " metadata={'text/html': {'isolated': True}})",
        "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'x', "
        "'version_major': 2, 'version_minor': 0}, 'text/plain': 'widget'}, raw=True)",
        f"display({{'application/x-evil': {'<script>' + js('out-custom') + '</script>'!r}, "
        "'text/plain': 'custom'}, raw=True)",
        f"display({{'image/png': {PNG_1X1!r}}}, raw=True, "
        f"metadata={{'image/png': {{'width': {'1 onload=' + js('out-png-width')!r}}}}})",
        f"display({{'image/png': {PNG_1X1!r}}}, raw=True, "
        f"metadata={{'filenames': {{'image/png': {hit + '/out-png-filename'!r}}}}})",
        f"print({'<script>' + js('out-stream') + '</script>'!r})",
        f"HTML({'<img src=x onerror=' + chr(34) + js('out-result') + chr(34) + '>'!r})",
    ]
    return "\n".join(lines)


def _answered(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double":
            cell.source = DOUBLE_OK
    return nb


def _answer_cell(nb: nbformat.NotebookNode):
    return next(c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == ANSWER_ID)


def benign_submission(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A correct submission with a formatted written answer and a PNG output."""
    nb = _answered(released)
    nb.cells[3].source = (f"from IPython.display import display\n"
                          f"display({{'image/png': {PNG_1X1!r}}}, raw=True)")
    _answer_cell(nb).source = BENIGN_ANSWER
    return nb


def hostile_submission(released: nbformat.NotebookNode, hit: str) -> nbformat.NotebookNode:
    """A correct submission (full marks on test_double) carrying every payload."""
    nb = _answered(released)
    nb.cells[3].source = (output_code(hit)
                          + f"\n# </pre><script>{beacon_js(hit, 'code-source')}</script>")
    nb.cells[3].metadata["tags"] = [f'x"><script>{beacon_js(hit, "cell-tag")}</script>']
    _answer_cell(nb).source = "\n\n".join(markdown_payloads(hit, "answer-").values())
    free = new_markdown_cell("\n\n".join(markdown_payloads(hit, "md-").values())
                             + "\n\n![evil](attachment:evil.svg)")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="{beacon_js(hit, "attachment")}">'
           f"<script>{beacon_js(hit, 'attachment')}</script></svg>")
    free["attachments"] = {"evil.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()}}
    raw = new_raw_cell(f"<script>{beacon_js(hit, 'raw-script')}</script>"
                       f'<img src=x onerror="{beacon_js(hit, "raw-img")}">')
    raw.metadata["raw_mimetype"] = "text/html"
    nb.cells[1:1] = [free, raw]  # after the title, before the locked imports
    nb.metadata["title"] = f"</title><script>{beacon_js(hit, 'nb-title')}</script>"
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}
    return nb
