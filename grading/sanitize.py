"""Sanitised HTML for every page the grader produces or the formgrader shows.

Everything a student wrote or printed is untrusted when the instructor opens it: markdown
cells (the written answers too), raw cells, cell and notebook metadata, and every output the
student's code produced during autograde. It reaches two pages: the feedback HTML
(``GenerateFeedback``) and the formgrader's view of an autograded submission, which nbgrader
renders with ``HTMLExporter(config=...)`` from the course's ``nbgrader_config.py`` and shows
inside JupyterLab, same origin: a script there acts with the instructor's login.

Stock nbconvert is not enough: ``HTMLExporter.sanitize_html`` defaults to False, and even
when True, nbgrader's ``feedback`` and ``formgrade`` templates render markdown cells with
``markdown2html`` and never call ``clean_html``. So ``grading/nbgrader_config.py`` sets
three things on ``HTMLExporter``, which both pages use:

* ``filters``: ``clean_html`` is :func:`clean_html` (an allowlist, below) and
  ``markdown2html`` is :class:`SanitizedMarkdown` (the exporter's own markdown rendering,
  then :func:`clean_html`), so every markdown cell, text/markdown output, raw cell and
  text/html output that a template renders is cleaned, whichever template it is;
* ``preprocessors``: :class:`SanitizeOutputs` cleans each output's HTML, drops what a page
  could run or load (JavaScript, widgets, unknown mime types, image metadata such as
  ``filenames`` or a ``width`` that the template writes unquoted), and the notebook's widget
  state, before any template sees the notebook;
* ``sanitize_html = True``: nbconvert's own switch (drops its JavaScript and widget blocks
  and cleans outputs in the templates too).

The allowlist keeps what course text and ordinary answers use: paragraphs, headings,
emphasis, lists, tables, code (with pygments' classes), links to http(s)/mailto/relative
URLs, and images embedded as ``data:image/...`` (PNG figures, notebook attachments). It
drops every ``on*`` handler, ``style``, ``id`` and ``name`` (an id could shadow the
formgrader's own score fields), and escapes (shows as text) every other tag: script, svg,
math, iframe, object, embed, form, input, meta, link, base, style, noscript. LaTeX math is
text to the sanitiser and stays as it was for MathJax.
"""
from __future__ import annotations

import html as html_lib
import re
import threading
from typing import Any

from bleach.html5lib_shim import Filter
from bleach.sanitizer import Cleaner
from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import InvalidNotebook, markdown2html_mistune
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool
from traitlets.config import LoggingConfigurable

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
})
# bleach checks the scheme of href/src against these; "data" is narrowed to images below
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
# class values: pygments token classes (k, nf, s1, ...), code-block and table classes. A
# student's class="score" or "navbar-fixed-top" would restyle or capture the formgrader's UI.
_CLASS_NAME = r"(?:[a-z]{1,3}[0-9]?|highlight|hl-[\w+-]+|language-[\w+-]+|dataframe)"
_CLASS = re.compile(rf"{_CLASS_NAME}(?:\s+{_CLASS_NAME})*")
_CLASS_TAGS = frozenset({"code", "div", "pre", "span", "table"})
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*",
                         re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]{1,5}%?")


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """bleach's attribute check (values arrive with entities decoded)."""
    if name in ("title", "alt"):  # shown as text (a tooltip, a caption)
        return True
    if name == "class":
        return tag in _CLASS_TAGS and _CLASS.fullmatch(value.strip()) is not None
    if tag == "a" and name == "href":
        return not value.strip().lower().startswith("data:")  # bleach then checks the scheme
    if tag == "img" and name == "src":
        return _DATA_IMAGE.fullmatch(value.strip()) is not None  # no remote or relative loads
    if tag == "img" and name in ("width", "height"):
        return _NUMBER.fullmatch(value.strip()) is not None
    if tag in ("td", "th") and name in ("colspan", "rowspan"):
        return _NUMBER.fullmatch(value.strip()) is not None
    if tag in ("td", "th") and name == "align":
        return value.strip().lower() in ("left", "right", "center")
    if tag == "ol" and name == "start":
        return _NUMBER.fullmatch(value.strip()) is not None
    return tag == "details" and name == "open"


class _DropImagesWithoutSource(Filter):
    """An <img> whose src was refused would show as a broken image: leave it out."""

    def __iter__(self):
        for token in super().__iter__():
            if (token["type"] in ("StartTag", "EmptyTag") and token["name"] == "img"
                    and (None, "src") not in token["data"]):
                continue
            yield token


_CLEANERS = threading.local()  # a bleach Cleaner must not be shared between threads


def clean_html(text: Any) -> str:
    """``text`` (an HTML fragment) with everything outside the allowlist escaped or dropped.

    Disallowed tags are escaped, so the instructor sees what the student wrote; disallowed
    attributes and comments are dropped. Idempotent: cleaning twice gives the same text.
    """
    text = text.decode() if isinstance(text, bytes) else str(text)
    cleaner = getattr(_CLEANERS, "cleaner", None)
    if cleaner is None:
        cleaner = _CLEANERS.cleaner = Cleaner(
            tags=ALLOWED_TAGS, attributes=_allowed_attribute, protocols=ALLOWED_PROTOCOLS,
            strip=False, strip_comments=True, filters=[_DropImagesWithoutSource])
    return cleaner.clean(text)


class SanitizedMarkdown(LoggingConfigurable):
    """The ``markdown2html`` Jinja filter: the exporter's own rendering, then :func:`clean_html`.

    Registered through ``HTMLExporter.filters``, nbconvert builds it with the exporter as
    ``parent`` and it replaces the stock filter in every template (nbgrader's templates call
    ``markdown2html`` for markdown cells and instructor comments).
    """

    # Jinja passes the template context first (as for functions decorated with pass_context):
    # the exporter's renderer reads the cell's attachments from it.
    jinja_pass_arg = pass_context(lambda context, source: source).jinja_pass_arg

    def __call__(self, context: Any, source: str) -> str:
        render = getattr(self.parent, "markdown2html", None)
        try:
            html = render(context, source) if render else markdown2html_mistune(source)
        except InvalidNotebook as exc:  # e.g. a link to an attachment the cell does not have
            self.log.warning("markdown shown as text: %s", exc)
            html = f"<pre>{html_lib.escape(source)}</pre>"
        return clean_html(html)


# Output mime types a template renders harmlessly: as text (escaped), as an <img> with a
# data: URL (an SVG in an <img> runs no script and loads nothing), or not at all.
SAFE_MIME_TYPES = frozenset({"text/plain", "text/latex", "image/png", "image/jpeg",
                             "image/gif", "image/svg+xml", "application/json"})
_ATTACHMENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/svg+xml"})
_IMAGE_METADATA = {"width": (int, float), "height": (int, float), "alt": (str,),
                   "unconfined": (bool,)}


def _safe_output_metadata(meta: dict) -> dict:
    """Only numeric width/height, alt text and ``unconfined`` survive: the templates write
    ``width`` unquoted (``width=1 onload=...`` would be live) and ``filenames`` as an
    ``<img src>`` (a load from anywhere)."""
    def keep(d: dict) -> dict:
        return {k: v for k, v in d.items() if k in _IMAGE_METADATA
                and isinstance(v, _IMAGE_METADATA[k])
                and (k == "unconfined" or not isinstance(v, bool))}

    out = keep(meta)
    for mime in ("image/png", "image/jpeg", "image/gif"):
        if isinstance(meta.get(mime), dict):
            out[mime] = keep(meta[mime])
    return out


class SanitizeOutputs(Preprocessor):
    """Make a notebook safe to render as HTML, whatever the template does with it.

    Outputs: text/html is cleaned, text/markdown becomes cleaned text/html, safe types stay,
    everything else (application/javascript, widget views, custom types) is dropped and, if
    nothing is left, replaced by a line saying what was removed. Image metadata is reduced
    to numeric size, alt text and ``unconfined``. Raw cells are cleaned; markdown
    attachments keep only image types; the notebook's widget state is dropped. Markdown cell
    sources are left to :class:`SanitizedMarkdown`: cleaning markdown source as HTML would
    break block quotes, autolinks and math.
    """

    enabled = Bool(True, help="Run this preprocessor (nbconvert's default is off).").tag(
        config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        nb.metadata.pop("widgets", None)  # classic/lab templates would load widget JS for it
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict,
                        index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") in ("display_data", "execute_result"):
                    self._sanitise_output(output)
        elif cell.cell_type == "raw":
            cell.source = clean_html(cell.source)
        elif cell.cell_type == "markdown" and "attachments" in cell:
            # an attachment with no image left is dropped: its link then renders as text
            kept = {name: {m: v for m, v in bundle.items()
                           if m in _ATTACHMENT_TYPES and isinstance(v, str)}
                    for name, bundle in cell.attachments.items() if isinstance(bundle, dict)}
            cell.attachments = {name: bundle for name, bundle in kept.items() if bundle}
        return cell, resources

    def _sanitise_output(self, output: NotebookNode) -> None:
        data = output.get("data", {})
        clean: dict[str, Any] = {}
        if isinstance(data.get("text/markdown"), str):
            clean["text/html"] = clean_html(markdown2html_mistune(data["text/markdown"]))
        if isinstance(data.get("text/html"), (str, list)):
            raw = data["text/html"]
            clean["text/html"] = clean_html("".join(raw) if isinstance(raw, list) else raw)
        clean.update({m: v for m, v in data.items() if m in SAFE_MIME_TYPES})
        dropped = sorted(m for m in data if m not in clean and m != "text/markdown")
        if dropped:
            self.log.info("dropped output types %s", ", ".join(dropped))
            if not clean:
                clean["text/plain"] = f"[output of type {', '.join(dropped)} not shown]"
        output["data"] = NotebookNode(clean)
        output["metadata"] = NotebookNode(_safe_output_metadata(output.get("metadata") or {}))
