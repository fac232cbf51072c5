"""Robust intake of a submissions folder (issue 6, COURSE_SPEC section 6).

``scan_submissions(submitted_dir, assignments)`` walks ``submitted/<student>/<assignment>/`` and
returns ``(accepted, skipped)``: every submission that can be graded, with notes about anything
odd in it, and every path that cannot, with the reason. It never raises for anything a
student put in the folder and never modifies it.

Decisions:

* A student folder whose name is not valid UTF-8, hidden (``.DS_Store``, ``.ipynb_checkpoints``),
  a symbolic link, a file, or not a plausible student id is skipped.
* Student ids that are equal after Unicode NFKC normalisation and case folding (``Alice`` and
  ``alice``) are all skipped: which one is the real student is for the instructor to decide,
  grading both would give one person two rows (or two people one).
* Assignment folders that are not in ``assignments`` are skipped; so is an assignment folder
  that holds no expected notebook (with the ``.ipynb`` files found, e.g. a wrong name or a
  notebook in a nested folder, named in the reason).
* Notebook checks: empty file, over ``max_notebook_bytes``, not UTF-8, invalid JSON (a JSON
  error at the end of the data is reported as "truncated JSON"), not a notebook, nbformat 3
  (converted to 4: accepted with a note, the converted notebook in ``Submission.converted``;
  write it back with :func:`write_converted` before stock nbgrader reads the folder), nbformat
  older than 3 or newer than 4.
* With ``source_notebooks`` given, locked and test cells are compared with the source by
  ``grade_id``: deleted, edited or with changed nbgrader metadata are noted. nbgrader's
  autograde restores them from the gradebook (``OverwriteCells``), so the notes record what the
  student changed; the grade is not affected (tests/hostile verify the restore).
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
MAX_FOLDER_BYTES = 200 * 1024 * 1024
_STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$")


@dataclass
class Submission:
    student: str
    assignment: str
    path: Path  # the assignment folder submitted/<student>/<assignment>
    notebooks: dict[str, Path]  # expected notebook name (with .ipynb) -> file
    missing: list[str] = field(default_factory=list)  # expected notebooks not submitted
    converted: dict[str, nbformat.NotebookNode] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Skip:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{_show(self.path)}: {self.reason}"


def _show(path: Path) -> str:
    """A printable path even when it holds bytes that are not UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _valid_utf8(name: str) -> bool:
    try:
        os.fsencode(name).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def _nb_name(name: str) -> str:
    return name if name.endswith(".ipynb") else name + ".ipynb"


def check_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES
                   ) -> tuple[nbformat.NotebookNode | None, str | None, list[str]]:
    """(notebook as v4 or None, reason it cannot be graded or None, notes)."""
    notes: list[str] = []
    try:
        if path.is_symlink():
            return None, "the notebook is a symbolic link", notes
        size = path.stat().st_size
    except OSError as exc:
        return None, f"unreadable: {exc.strerror}", notes
    if size == 0:
        return None, "empty file (0 bytes)", notes
    if size > max_bytes:
        return None, f"file too large ({size} bytes; limit {max_bytes})", notes
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable: {exc.strerror}", notes
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"invalid notebook: not UTF-8 text (byte {exc.start})", notes
    if not text.strip():
        return None, "empty file (only whitespace)", notes
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1 or "Unterminated string" in exc.msg:
            return None, (f"invalid notebook: truncated JSON (ends at line {exc.lineno}, "
                          f"column {exc.colno})"), notes
        return None, f"invalid notebook: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", notes
    except RecursionError:
        return None, "invalid notebook: JSON nested too deeply", notes
    if not isinstance(data, dict) or "nbformat" not in data:
        return None, "invalid notebook: JSON without an nbformat version (not a notebook)", notes
    version = data.get("nbformat")
    if not isinstance(version, int):
        return None, f"invalid notebook: nbformat version {version!r} is not a number", notes
    if version < 3:
        return None, f"old nbformat version {version}: cannot be converted (re-save it in Jupyter)", notes
    if version > 4:
        return None, f"nbformat version {version} is newer than this grader supports (4)", notes
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return None, f"invalid notebook: {type(exc).__name__}: {str(exc)[:200]}", notes
    if version == 3:
        notes.append("old nbformat version 3: converted to version 4")
    if not isinstance(nb.get("cells"), list):
        return None, "invalid notebook: no list of cells", notes
    try:
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        notes.append(f"notebook does not validate against the nbformat schema ({first}); graded anyway")
    return nb, None, notes


def _cell_map(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    out = {}
    for cell in nb.get("cells", []):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            out.setdefault(gid, cell)
    return out


def compare_with_source(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Notes on locked/test cells the student deleted, edited, or whose metadata changed."""
    notes = []
    sub = _cell_map(nb)
    ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])]
    dupes = sorted({i for i in ids if i and ids.count(i) > 1})
    if dupes:
        notes.append(f"duplicate grade_id in the submission: {', '.join(dupes)}")
    for gid, cell in _cell_map(source).items():
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("locked") or meta.get("grade")):
            continue
        if meta.get("solution"):
            continue
        kind = "test cell" if meta.get("grade") else "locked cell"
        mine = sub.get(gid)
        if mine is None:
            notes.append(f"{kind} {gid} deleted (restored from the gradebook at autograde)")
            continue
        mmeta = mine.get("metadata", {}).get("nbgrader", {})
        changed = sorted(k for k in ("grade", "locked", "solution", "points", "task")
                         if mmeta.get(k) != meta.get(k))
        if changed:
            notes.append(f"{kind} {gid}: nbgrader metadata changed ({', '.join(changed)}); "
                         "restored from the gradebook at autograde")
        if mine.get("source") != cell.get("source") and not meta.get("grade"):
            notes.append(f"{kind} {gid} edited (restored from the gradebook at autograde)")
        elif meta.get("grade") and _visible(mine.get("source", "")) != _visible(cell.get("source", "")):
            notes.append(f"{kind} {gid} edited (restored from the gradebook at autograde)")
    return notes


def _visible(src: str) -> str:
    """A test cell's source without its hidden part (the release never had it)."""
    return re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", src, flags=re.S).strip()


def _folder_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def scan_submissions(submitted_dir: Path, assignments: dict[str, list[str]], *,
                     source_notebooks: dict[str, dict[str, nbformat.NotebookNode]] | None = None,
                     max_notebook_bytes: int = MAX_NOTEBOOK_BYTES
                     ) -> tuple[list[Submission], list[Skip]]:
    """Scan ``submitted_dir/<student>/<assignment>/``. ``assignments`` maps each assignment to
    its notebook names (with or without ``.ipynb``); ``source_notebooks`` (optional) maps
    assignment -> notebook name -> source notebook, to compare locked cells."""
    submitted_dir = Path(submitted_dir)
    accepted: list[Submission] = []
    skipped: list[Skip] = []
    if not submitted_dir.is_dir():
        return accepted, [Skip(submitted_dir, "no submissions folder")]
    expected = {a: [_nb_name(n) for n in nbs] for a, nbs in assignments.items()}

    students: list[Path] = []
    for entry in sorted(submitted_dir.iterdir(), key=lambda p: os.fsencode(p.name)):
        name = entry.name
        if not _valid_utf8(name):
            skipped.append(Skip(entry, "student folder name is not valid UTF-8"))
        elif name.startswith("."):
            skipped.append(Skip(entry, "hidden file or folder"))
        elif entry.is_symlink():
            skipped.append(Skip(entry, "symbolic link, not a student folder"))
        elif not entry.is_dir():
            skipped.append(Skip(entry, "a file, not a student folder"))
        elif not _STUDENT_ID.match(name):
            skipped.append(Skip(entry, "not a valid student id (letters, digits, _ . @ + - only)"))
        else:
            students.append(entry)

    groups: dict[str, list[Path]] = {}
    for s in students:
        groups.setdefault(_fold(s.name), []).append(s)
    for group in groups.values():
        if len(group) > 1:
            names = ", ".join(repr(p.name) for p in group)
            for p in group:
                skipped.append(Skip(p, f"duplicate student: {names} differ only in case or "
                                       "Unicode form; rename or merge by hand"))
            continue
        student_dir = group[0]
        student = student_dir.name
        for adir in sorted(student_dir.iterdir(), key=lambda p: os.fsencode(p.name)):
            aname = adir.name
            if not _valid_utf8(aname):
                skipped.append(Skip(adir, "name is not valid UTF-8"))
                continue
            if aname.startswith("."):
                skipped.append(Skip(adir, "hidden file or folder"))
                continue
            if adir.is_symlink():
                skipped.append(Skip(adir, "symbolic link"))
                continue
            if not adir.is_dir():
                hint = ""
                if aname.endswith(".ipynb"):
                    hint = " (a notebook directly in the student folder: it belongs in <assignment>/)"
                skipped.append(Skip(adir, f"unexpected file in the student folder{hint}"))
                continue
            if aname not in expected:
                close = [a for a in expected if _fold(a) == _fold(aname)]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                skipped.append(Skip(adir, f"unknown assignment {aname!r}{hint}"))
                continue
            sub = _scan_assignment(student, aname, adir, expected[aname], skipped,
                                   (source_notebooks or {}).get(aname, {}), max_notebook_bytes)
            if sub is not None:
                accepted.append(sub)
    return accepted, skipped


def _scan_assignment(student, aname, adir, names, skipped, sources, max_bytes):
    sub = Submission(student=student, assignment=aname, path=adir, notebooks={})
    size = _folder_bytes(adir)
    if size > MAX_FOLDER_BYTES:
        skipped.append(Skip(adir, f"assignment folder too large ({size} bytes; limit {MAX_FOLDER_BYTES})"))
        return None
    for entry in sorted(adir.iterdir(), key=lambda p: os.fsencode(p.name)):
        n = entry.name
        if not _valid_utf8(n):
            sub.notes.append(f"file name {_show(Path(n))!r} is not valid UTF-8; ignored")
        elif n in names:
            continue
        elif n.startswith(".") or n == "__pycache__":
            continue
        elif entry.is_dir():
            nested = sorted(p.relative_to(adir).as_posix() for p in entry.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts)
            if nested:
                sub.notes.append(f"nested folder {n}/ holds {', '.join(nested)}; not graded "
                                 "(notebooks must be directly in the assignment folder)")
            else:
                sub.notes.append(f"extra folder {n}/ (kept, not graded)")
        elif n.endswith(".ipynb"):
            sub.notes.append(f"unexpected notebook {n} (expected {', '.join(names)}); not graded")
        elif n.endswith(".py") and n[:-3] in {"numpy", "torch", "math", "helpers", "grading"}:
            sub.notes.append(f"file {n} shadows a library module; the grader imports the "
                             "real one first")
        else:
            sub.notes.append(f"extra file {n} (kept, not graded)")
    for name in names:
        path = adir / name
        if not path.exists() and not path.is_symlink():
            sub.missing.append(name)
            continue
        nb, reason, notes = check_notebook(path, max_bytes)
        if reason:
            skipped.append(Skip(path, reason))
            continue
        sub.notebooks[name] = path
        sub.notes.extend(f"{name}: {n}" for n in notes)
        if any("converted" in n for n in notes):
            sub.converted[name] = nb
        if name in sources or name[:-6] in sources:
            src = sources.get(name, sources.get(name[:-6]))
            sub.notes.extend(f"{name}: {n}" for n in compare_with_source(nb, src))
    if not sub.notebooks:
        found = sorted(p.relative_to(adir).as_posix() for p in adir.rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts)
        already = any(s.path.parent == adir for s in skipped if s.path.name in names)
        if not already:
            if found:
                reason = (f"no notebook named {', '.join(names)}; found {', '.join(found)} "
                          "(wrong file name or nested folder)")
            else:
                reason = f"no notebook named {', '.join(names)} in the folder"
            skipped.append(Skip(adir, reason))
        return None
    return sub


def write_converted(sub: Submission) -> list[Path]:
    """Write converted (nbformat 3 -> 4) notebooks over the submitted files, keeping the
    original next to it as ``<name>.v3.orig``. Returns the rewritten paths."""
    done = []
    for name, nb in sub.converted.items():
        path = sub.notebooks[name]
        backup = path.with_name(path.name + ".v3.orig")
        if not backup.exists():
            backup.write_bytes(path.read_bytes())
        nbformat.write(nb, path)
        done.append(path)
    return done


_FLAGS = ("grade", "solution", "locked", "task", "points")


def restore_nbgrader_metadata(nb: nbformat.NotebookNode, source: nbformat.NotebookNode
                              ) -> list[str]:
    """Put back the nbgrader flags (grade, solution, locked, task, points) of every cell whose
    grade_id is in the source notebook; returns what was changed.

    Why: nbgrader's OverwriteCells restores a locked cell's source, ``locked`` and ``points``,
    but not ``grade``/``solution``; a student who flips ``grade: false`` on a test cell makes
    autograde fail for the whole notebook ("Inconsistent checksums for cell ..."), i.e. every
    cell scores 0 with no clear reason. Run this on the submitted notebook before autograde.
    """
    src = {}
    for cell in source.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id"):
            src[meta["grade_id"]] = (cell.get("cell_type"), meta)
    changed = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(meta, dict) or meta.get("grade_id") not in src:
            continue
        kind, want = src[meta["grade_id"]]
        for flag in _FLAGS:
            if flag in want and meta.get(flag) != want[flag]:
                changed.append(f"{meta['grade_id']}.{flag}: {meta.get(flag)!r} -> {want[flag]!r}")
                meta[flag] = want[flag]
            elif flag not in want and flag in meta and flag == "points":
                changed.append(f"{meta['grade_id']}.points removed")
                del meta[flag]
        if cell.get("cell_type") != kind:
            changed.append(f"{meta['grade_id']}: cell type {cell.get('cell_type')} (source: {kind}); "
                           "left for nbgrader to report")
    return changed
