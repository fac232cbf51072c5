"""grading/sanitize.py: what the allowlist keeps and drops, and that the course's own
notebooks render the same with and without it (text, math, tables, links, figures).

The hostile end-to-end cases (a submission graded by the CLI) are in
tests/hostile/test_xss.py and, in Chromium, tests/browser/test_xss.py.
"""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grading.config import load_config
from grading.sanitize import SanitizedMarkdown, SanitizeOutputs, clean_html

REPO = Path(__file__).resolve().parents[2]
COURSE_NOTEBOOKS = sorted((REPO / "course").glob("*/*.ipynb"))
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5"
       "ErkJggg==")


class Tokens(HTMLParser):
    """A page as (start tag, attributes) / (text) tokens, for comparing what a browser would
    show regardless of how the HTML is spelled (quotes, entities, <br/> or <br>)."""

    def __init__(self, page: str, *, drop_attrs: tuple[str, ...] = ()) -> None:
        super().__init__(convert_charrefs=True)
        self.drop_attrs = drop_attrs
        self.tokens: list[tuple] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tokens.append((tag, tuple(sorted((n, v) for n, v in attrs
                                              if n not in self.drop_attrs))))

    def handle_endtag(self, tag):
        self.tokens.append(("/" + tag,))

    def handle_data(self, data):
        if data.strip():
            self.tokens.append(("text", " ".join(data.split())))


@pytest.mark.parametrize("fragment, expected", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('<img src="x" onerror="alert(1)">', ""),
    ('<img src="https://example.org/a.png">', ""),  # no remote loads (a beacon)
    ('<img src="data:image/png;base64,AAAA" width="3" onload="x()">',
     '<img src="data:image/png;base64,AAAA" width="3">'),
    ('<img src="data:text/html;base64,AAAA">', ""),
    ('<a href="javascript:alert(1)">a</a>', "<a>a</a>"),
    ('<a href="JaVa&#x53;cript:alert(1)">a</a>', "<a>a</a>"),
    ('<a href="data:text/html,x">a</a>', "<a>a</a>"),
    ('<a href="https://arxiv.org/abs/1706.03762">p</a>',
     '<a href="https://arxiv.org/abs/1706.03762">p</a>'),
    ('<a href="#top" target="_blank" name="x">t</a>', '<a href="#top">t</a>'),
    ('<h1 id="test_double">T</h1>', "<h1>T</h1>"),  # ids could shadow the formgrader's fields
    ('<div style="background:url(https://x/y)">s</div>', "<div>s</div>"),
    ('<span class="score">s</span>', "<span>s</span>"),
    ('<span class="k nf">def</span>', '<span class="k nf">def</span>'),
    ("<svg onload=alert(1)></svg>", "&lt;svg onload=alert(1)&gt;&lt;/svg&gt;"),
    ('<iframe srcdoc="<script>x</script>"></iframe>',
     '&lt;iframe srcdoc="&lt;script&gt;x&lt;/script&gt;"&gt;&lt;/iframe&gt;'),
    ('<details open ontoggle="x()"><summary>s</summary></details>',
     '<details open><summary>s</summary></details>'),
    ("a <!-- hidden --> b", "a  b"),
])
def test_clean_html_escapes_or_drops_what_could_run_or_load(fragment, expected):
    assert clean_html(fragment) == expected, f"clean_html({fragment!r})"


@pytest.mark.parametrize("fragment", [
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></p></noscript>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<svg><p><style><img src=x onerror=alert(1)></style></p></svg>',
    "<<script>script>alert(1)<</script>/script>",
])
def test_clean_html_output_is_stable_under_reparsing(fragment):
    """Mutation-XSS shapes: the cleaned text cleans to itself and holds no live tag."""
    once = clean_html(fragment)
    assert clean_html(once) == once, f"cleaning {fragment!r} twice changed it"
    live = [t for t in Tokens(once).tokens if not t[0].startswith(("/", "text"))]
    bad = [t for t in live if t[0] in ("script", "style", "svg", "math", "img", "noscript")
           or any(name.startswith("on") for name, _ in t[1])]
    assert not bad, f"{fragment!r} left live {bad} after cleaning: {once!r}"


def _output_bundle(data: dict, metadata: dict | None = None):
    return new_output("display_data", data=data, metadata=metadata or {})


def test_sanitize_outputs_drops_scripts_widgets_and_unsafe_metadata():
    nb = new_notebook(cells=[new_code_cell("x", outputs=[
        _output_bundle({"application/javascript": "alert(1)"}),
        _output_bundle({"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                        "text/plain": "widget"}),
        _output_bundle({"text/html": "<b>b</b><script>x</script>", "text/plain": "b"}),
        _output_bundle({"text/markdown": "**m** <img src=x onerror=y()>"}),
        _output_bundle({"image/png": PNG},
                       {"image/png": {"width": "1 onload=x()", "height": 20},
                        "filenames": {"image/png": "https://example.org/beacon"}}),
    ])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb, _ = SanitizeOutputs().preprocess(nb, {})
    out = [o["data"] for o in nb.cells[0].outputs]
    assert out[0] == {"text/plain": "[output of type application/javascript not shown]"}
    assert out[1] == {"text/plain": "widget"}
    assert out[2] == {"text/html": "<b>b</b>&lt;script&gt;x&lt;/script&gt;", "text/plain": "b"}
    assert out[3] == {"text/html": "<p><strong>m</strong> </p>\n"}, out[3]
    assert out[4] == {"image/png": PNG}, "the PNG itself must stay as it was"
    assert nb.cells[0].outputs[4]["metadata"] == {"image/png": {"height": 20}}
    assert "widgets" not in nb.metadata


def test_course_config_sanitises_every_html_page(tmp_path):
    """Feedback and formgrader both build an HTMLExporter from the course configuration."""
    (tmp_path / "source").mkdir()
    exporter = HTMLExporter(config=load_config(tmp_path))
    assert exporter.sanitize_html, "HTMLExporter.sanitize_html should be True"
    env = exporter.environment
    assert env.filters["clean_html"] is clean_html, "clean_html is not the course allowlist"
    assert isinstance(env.filters["markdown2html"], SanitizedMarkdown), \
        "markdown2html is not the sanitising filter (nbgrader's templates never call clean_html)"
    assert any(isinstance(p, SanitizeOutputs) and p.enabled for p in exporter._preprocessors), \
        "SanitizeOutputs is not an enabled preprocessor of the course's HTMLExporter"


def test_markdown_linking_a_missing_attachment_is_shown_as_text(tmp_path):
    """Stock nbconvert raises for ``![x](attachment:missing.png)``: one markdown cell could
    break the student's feedback and the instructor's formgrader page."""
    (tmp_path / "source").mkdir()
    nb = new_notebook(cells=[new_markdown_cell("see ![plot](attachment:missing.png) <b>x</b>")])
    html, _ = HTMLExporter(config=load_config(tmp_path)).from_notebook_node(nb)
    assert "see ![plot](attachment:missing.png) &lt;b&gt;x&lt;/b&gt;" in html, \
        "the cell's markdown should be shown as escaped text"


def _course_exporter(tmp_path: Path, sanitised: bool) -> HTMLExporter:
    """The formgrader's exporter (template 'formgrade'), with or without the course's
    sanitising configuration."""
    from nbgrader.server_extensions.formgrader import handlers

    (tmp_path / "source").mkdir(exist_ok=True)
    cfg = load_config(tmp_path)
    if not sanitised:
        for key in ("sanitize_html", "filters", "preprocessors"):
            cfg.HTMLExporter.pop(key, None)
    cfg.HTMLExporter.template_name = "formgrade"
    cfg.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    cfg.HTMLExporter.exclude_anchor_links = True
    return HTMLExporter(config=cfg)


@pytest.mark.skipif(not COURSE_NOTEBOOKS, reason="no course notebooks in course/")
def test_course_notebooks_render_the_same_when_sanitised(tmp_path):
    """Every course notebook, as the formgrader shows it: the same tags, text (math
    included), links, tables and inline PNG figures with and without sanitising; only
    element ids differ (they are dropped)."""
    stock, safe = _course_exporter(tmp_path, False), _course_exporter(tmp_path, True)
    resources = {"assignment_id": "a", "notebook_id": "n", "submission_id": "s", "index": 0,
                 "total": 1, "base_url": "", "student": "s", "last_name": None,
                 "first_name": None, "notebook_path": "n.ipynb"}
    for path in COURSE_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        a, _ = stock.from_notebook_node(nb, resources=dict(resources))
        b, _ = safe.from_notebook_node(nbformat.read(path, as_version=4),
                                       resources=dict(resources))
        ta, tb = Tokens(a, drop_attrs=("id",)).tokens, Tokens(b, drop_attrs=("id",)).tokens
        first = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), None)
        assert ta == tb, (f"{path.relative_to(REPO)} renders differently when sanitised, "
                          f"first at token {first}: {ta[first:first + 3] if first else ta[-3:]}"
                          f" became {tb[first:first + 3] if first else tb[-3:]}")
        pngs = sum(1 for c in nb.cells for o in c.get("outputs", [])
                   if "image/png" in o.get("data", {}))
        assert b.count('src="data:image/png;base64,') == pngs, \
            f"{path.relative_to(REPO)}: {pngs} PNG figures, not all shown when sanitised"
