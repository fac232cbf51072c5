"""grading.intake.scan_submissions: every odd thing in a submissions folder is either accepted
with a note or skipped with a reason; nothing raises, nothing is modified."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v3 import new_code_cell as v3_code_cell
from nbformat.v3 import new_notebook as v3_notebook
from nbformat.v3 import new_worksheet

from grading.intake import check_notebook, compare_with_source, scan_submissions, write_converted
from tests.hostile.conftest import build_notebook

ASSIGNMENTS = {"ps1": ["doubling.ipynb"], "ps2": ["halving"]}


def put(root: Path, rel: str, data: bytes | str | nbformat.NotebookNode) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, nbformat.NotebookNode):
        nbformat.write(data, path)
    elif isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def reasons(skipped) -> dict[str, str]:
    return {os.fsencode(s.path).decode("utf-8", "backslashreplace").split("/submitted/")[-1]: s.reason
            for s in skipped}


@pytest.fixture
def sub(tmp_path):
    root = tmp_path / "submitted"
    root.mkdir()
    return root


def test_a_clean_submission_is_accepted(sub):
    put(sub, "alice/ps1/doubling.ipynb", build_notebook())
    accepted, skipped = scan_submissions(sub, ASSIGNMENTS)
    assert skipped == []
    [s] = accepted
    assert (s.student, s.assignment, list(s.notebooks)) == ("alice", "ps1", ["doubling.ipynb"])
    assert s.notes == [] and s.missing == []


def test_every_bad_notebook_gets_its_reason(sub):
    good = nbformat.writes(build_notebook())
    put(sub, "empty/ps1/doubling.ipynb", b"")
    put(sub, "blank/ps1/doubling.ipynb", b"   \n")
    put(sub, "trunc/ps1/doubling.ipynb", good[: len(good) // 2])
    put(sub, "garbage/ps1/doubling.ipynb", "{not json at all} trailing")
    put(sub, "latin/ps1/doubling.ipynb", "{\"a\": \"caf\xe9\"}".encode("latin-1"))
    put(sub, "notnb/ps1/doubling.ipynb", json.dumps({"hello": 1}))
    put(sub, "v2/ps1/doubling.ipynb", json.dumps({"nbformat": 2, "worksheets": []}))
    put(sub, "v9/ps1/doubling.ipynb", json.dumps({"nbformat": 9, "cells": []}))
    _, skipped = scan_submissions(sub, ASSIGNMENTS)
    r = reasons(skipped)
    assert r["empty/ps1/doubling.ipynb"] == "empty file (0 bytes)"
    assert r["blank/ps1/doubling.ipynb"] == "empty file (only whitespace)"
    assert r["trunc/ps1/doubling.ipynb"].startswith("invalid notebook: truncated JSON")
    assert r["garbage/ps1/doubling.ipynb"].startswith("invalid notebook: not valid JSON")
    assert r["latin/ps1/doubling.ipynb"].startswith("invalid notebook: not UTF-8")
    assert "not a notebook" in r["notnb/ps1/doubling.ipynb"]
    assert r["v2/ps1/doubling.ipynb"].startswith("old nbformat version 2")
    assert "newer than" in r["v9/ps1/doubling.ipynb"]


def test_old_nbformat_3_is_converted_with_a_note(sub):
    nb3 = v3_notebook(worksheets=[new_worksheet(cells=[v3_code_cell(input="x = 1")])])
    path = put(sub, "old/ps1/doubling.ipynb", nbformat.v3.writes_json(nb3))
    original = path.read_bytes()
    accepted, skipped = scan_submissions(sub, ASSIGNMENTS)
    assert skipped == []
    [s] = accepted
    assert any("nbformat version 3: converted" in n for n in s.notes)
    assert s.converted["doubling.ipynb"].nbformat == 4
    assert path.read_bytes() == original  # scanning never writes
    write_converted(s)
    assert nbformat.read(path, as_version=nbformat.NO_CONVERT).nbformat == 4
    assert path.with_name("doubling.ipynb.v3.orig").read_bytes() == original


def test_wrong_names_nested_folders_and_stray_files(sub):
    nb = build_notebook()
    put(sub, "wrongname/ps1/Doubling (1).ipynb", nb)
    put(sub, "nested/ps1/ps1/doubling.ipynb", nb)
    put(sub, "loose/doubling.ipynb", nb)
    put(sub, "extra/ps1/doubling.ipynb", nb)
    put(sub, "extra/ps1/notes.txt", "hi")
    put(sub, "extra/ps1/numpy.py", "allclose = lambda *a, **k: True")
    put(sub, "extra/ps1/copy.ipynb", nb)
    put(sub, "extra/ps9/doubling.ipynb", nb)
    put(sub, "extra/PS1x/doubling.ipynb", nb)
    put(sub, "README.txt", "not a student")
    put(sub, ".DS_Store", b"\0")
    accepted, skipped = scan_submissions(sub, ASSIGNMENTS)
    r = reasons(skipped)
    assert "wrong file name" in r["wrongname/ps1"] and "Doubling (1).ipynb" in r["wrongname/ps1"]
    assert "ps1/doubling.ipynb" in r["nested/ps1"] and "nested folder" in r["nested/ps1"]
    assert "belongs in <assignment>/" in r["loose/doubling.ipynb"]
    assert r["extra/ps9"] == "unknown assignment 'ps9'"
    assert r["README.txt"] == "a file, not a student folder"
    assert r[".DS_Store"] == "hidden file or folder"
    [s] = accepted
    assert s.student == "extra"
    notes = "\n".join(s.notes)
    assert "extra file notes.txt" in notes
    assert "numpy.py shadows a library module" in notes
    assert "unexpected notebook copy.ipynb" in notes


def test_duplicate_students_and_bad_names(sub):
    nb = build_notebook()
    put(sub, "Alice/ps1/doubling.ipynb", nb)
    put(sub, "alice/ps1/doubling.ipynb", nb)
    put(sub, "Jose\u0301/ps1/doubling.ipynb", nb)  # decomposed é: not a valid id anyway
    put(sub, "bob smith/ps1/doubling.ipynb", nb)
    bad = os.fsdecode(b"caf\xe9")  # a Latin-1 byte in a name: not UTF-8
    (sub / bad / "ps1").mkdir(parents=True)
    nbformat.write(nb, sub / bad / "ps1" / "doubling.ipynb")
    put(sub, "carol/ps1/doubling.ipynb", nb)
    accepted, skipped = scan_submissions(sub, ASSIGNMENTS)
    r = reasons(skipped)
    assert r["Alice"].startswith("duplicate student") and r["alice"].startswith("duplicate student")
    assert "not valid UTF-8" in r["caf\\xe9"]
    assert "not a valid student id" in r["bob smith"]
    assert [s.student for s in accepted] == ["carol"]
    assert all(str(s) for s in skipped)  # printable even with non-UTF-8 bytes


def test_symlinks_are_not_followed(sub, tmp_path):
    secret = tmp_path / "gradebook.db"
    secret.write_text("secret")
    (sub / "mallory" / "ps1").mkdir(parents=True)
    (sub / "mallory" / "ps1" / "doubling.ipynb").symlink_to(secret)
    (sub / "linky").symlink_to(tmp_path)
    _, skipped = scan_submissions(sub, ASSIGNMENTS)
    r = reasons(skipped)
    assert r["mallory/ps1/doubling.ipynb"] == "the notebook is a symbolic link"
    assert r["linky"] == "symbolic link, not a student folder"


def test_missing_notebook_of_a_multi_notebook_assignment_is_listed(sub):
    put(sub, "dave/ps2/halving.ipynb", build_notebook())
    accepted, _ = scan_submissions(sub, {"ps2": ["halving", "extra.ipynb"]})
    [s] = accepted
    assert s.missing == ["extra.ipynb"] and list(s.notebooks) == ["halving.ipynb"]


def test_no_submissions_folder(tmp_path):
    accepted, skipped = scan_submissions(tmp_path / "nope", ASSIGNMENTS)
    assert accepted == [] and skipped[0].reason == "no submissions folder"


def test_edited_deleted_and_relabelled_locked_cells_are_noted(sub):
    source = build_notebook()
    nb = build_notebook()
    cells = nb.cells
    cells[4].source = "pass  # I removed the asserts"  # edited test_double
    cells[1].metadata["nbgrader"]["locked"] = False  # unlocked the imports cell
    cells[6].metadata["nbgrader"]["points"] = 100  # more points for test_halve
    del cells[6]  # ...and then deleted it
    put(sub, "eve/ps1/doubling.ipynb", nb)
    accepted, skipped = scan_submissions(sub, ASSIGNMENTS,
                                         source_notebooks={"ps1": {"doubling.ipynb": source}})
    assert skipped == []
    notes = "\n".join(accepted[0].notes)
    assert "test cell test_double edited" in notes
    assert "test cell test_halve deleted" in notes
    assert "locked cell imports: nbgrader metadata changed (locked)" in notes
    assert "restored from the gradebook" in notes


def test_release_version_of_a_test_cell_is_not_an_edit():
    source = build_notebook()
    release = build_notebook()
    src = release.cells[4].source
    release.cells[4].source = src[: src.index("### BEGIN HIDDEN TESTS")]
    assert compare_with_source(release, source) == []


def test_check_notebook_accepts_schema_oddities_with_a_note(tmp_path):
    nb = build_notebook()
    data = json.loads(nbformat.writes(nb))
    data["cells"][0]["unexpected_key"] = 1
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps(data))
    got, reason, notes = check_notebook(p)
    assert reason is None and got is not None
    assert any("schema" in n for n in notes)


def test_restore_nbgrader_metadata_undoes_flag_flips():
    from grading.intake import restore_nbgrader_metadata
    source = build_notebook()
    nb = build_notebook()
    nb.cells[4].metadata["nbgrader"].update(grade=False, points=100)
    nb.cells[2].metadata["nbgrader"]["solution"] = False
    changed = restore_nbgrader_metadata(nb, source)
    assert changed == ["double.solution: False -> True", "test_double.grade: False -> True",
                       "test_double.points: 100 -> 1"]
    assert nb.cells[4].metadata == source.cells[4].metadata
    assert restore_nbgrader_metadata(nb, source) == []


def test_restored_metadata_lets_stock_nbgrader_checksum_match():
    from nbgrader.utils import compute_checksum

    from grading.intake import restore_nbgrader_metadata
    source = build_notebook()
    nb = build_notebook()
    nb.cells[4].metadata["nbgrader"]["grade"] = False
    assert compute_checksum(nb.cells[4]) != compute_checksum(source.cells[4])
    restore_nbgrader_metadata(nb, source)
    assert compute_checksum(nb.cells[4]) == compute_checksum(source.cells[4])
