"""Find text of hidden tests and solutions in generated feedback HTML."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat

_REGIONS = [("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"), ("BEGIN SOLUTION", "END SOLUTION")]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def html_text(path: Path) -> str:
    """The visible text of an HTML page (syntax-highlighting spans joined), whitespace
    collapsed."""
    parser = _Text()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return norm(html.unescape("".join(parser.parts)))


def secret_lines(source_nb: Path, release_nb: Path | None = None, min_len: int = 12) -> set[str]:
    """Non-trivial lines inside hidden-test and solution regions of a source notebook that
    do not also appear in the released notebook (e.g. in a docstring or a demo cell: those
    are public anyway)."""
    nb = nbformat.read(source_nb, as_version=4)
    public = ""
    if release_nb is not None:
        public = "\n".join(norm(ln) for c in nbformat.read(release_nb, as_version=4).cells
                           for ln in c.source.splitlines())
    secrets = set()
    for cell in nb.cells:
        inside = None
        for line in cell.source.splitlines():
            for begin, end in _REGIONS:
                if begin in line:
                    inside = end
                    break
            else:
                if inside and inside in line:
                    inside = None
                elif inside:
                    text = norm(line)
                    if (len(text) >= min_len and not text.startswith("#")
                            and text not in public):
                        secrets.add(text)
    return secrets


def leaked(html_path: Path, secrets: set[str]) -> list[str]:
    text = html_text(html_path)
    return sorted(s for s in secrets if s in text)
