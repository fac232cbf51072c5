"""The self-learner's work folder (tools/student_workspace.py): created on first use,
refreshed where the student has not edited a notebook, never overwriting an edit."""
from __future__ import annotations

import json
from pathlib import Path

from tools.student_workspace import MANIFEST, NEW_SUFFIX, course_digest, sync


def _release(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_first_use_copies_every_released_file(tmp_path):
    release = _release(tmp_path / "r1", {"01-a/a.ipynb": "v1", "02-b/b.ipynb": "w1"})
    dest = tmp_path / "work"
    delivered, notes = sync(release, dest, {})
    assert (dest / "01-a/a.ipynb").read_text() == "v1"
    assert (dest / "02-b/b.ipynb").read_text() == "w1"
    assert set(delivered) == {"01-a/a.ipynb", "02-b/b.ipynb"} and notes == []


def test_untouched_notebook_is_refreshed_when_the_course_changes(tmp_path):
    dest = tmp_path / "work"
    delivered, _ = sync(_release(tmp_path / "r1", {"01-a/a.ipynb": "v1"}), dest, {})
    delivered, notes = sync(_release(tmp_path / "r2", {"01-a/a.ipynb": "v2"}), dest, delivered)
    assert (dest / "01-a/a.ipynb").read_text() == "v2"
    assert notes == []


def test_edited_notebook_is_never_overwritten(tmp_path):
    dest = tmp_path / "work"
    delivered, _ = sync(_release(tmp_path / "r1", {"01-a/a.ipynb": "v1"}), dest, {})
    (dest / "01-a/a.ipynb").write_text("my work")
    delivered, notes = sync(_release(tmp_path / "r2", {"01-a/a.ipynb": "v2"}), dest, delivered)
    assert (dest / "01-a/a.ipynb").read_text() == "my work", "the student's edit was overwritten"
    beside = dest / "01-a" / ("a" + NEW_SUFFIX)
    assert beside.read_text() == "v2", "the new release should be left beside the edited notebook"
    assert len(notes) == 1 and "you edited it" in notes[0]
    # and again after a further course change: still kept
    delivered, _ = sync(_release(tmp_path / "r3", {"01-a/a.ipynb": "v3"}), dest, delivered)
    assert (dest / "01-a/a.ipynb").read_text() == "my work"
    assert beside.read_text() == "v3"


def test_deleted_notebook_comes_back(tmp_path):
    dest = tmp_path / "work"
    release = _release(tmp_path / "r1", {"01-a/a.ipynb": "v1"})
    delivered, _ = sync(release, dest, {})
    (dest / "01-a/a.ipynb").unlink()
    sync(release, dest, delivered)
    assert (dest / "01-a/a.ipynb").read_text() == "v1"


def test_course_digest_changes_with_any_source_notebook(tmp_path):
    course = _release(tmp_path / "course", {"01-a/a.ipynb": "x"})
    before = course_digest(course)
    (course / "01-a/a.ipynb").write_text("y")
    assert course_digest(course) != before


def test_manifest_name_is_hidden_from_the_file_browser():
    assert MANIFEST.startswith("."), "JupyterLab hides dot files; the manifest is not course material"
