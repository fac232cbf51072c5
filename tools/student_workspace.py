"""The self-learner's copy of the course: released notebooks in a work folder outside git.

    python tools/student_workspace.py [DEST]      # default: student-work/ (git-ignored)

``make lab`` runs this, then opens JupyterLab on DEST. Each assignment of ``course/`` is
released with nbgrader (``python -m grading release`` into a throwaway course root: solutions
and hidden tests removed, exactly what a class gets) and copied to ``DEST/<assignment>/``:

* a notebook that is not in DEST yet is copied;
* a notebook the student has not touched (its bytes equal what this tool last delivered) is
  refreshed when the course changed;
* a notebook the student has edited is NEVER overwritten; the new release is left beside it
  as ``<name>.new-release.ipynb`` (once per course change) and the tool says so.

What was delivered is recorded in ``DEST/.course-release.json`` (file -> SHA-256), and the
release itself is only rebuilt when a source notebook changed (a hash of ``course/``).
The instructor's source notebooks, with solutions, stay in ``course/`` (``make lab-instructor``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "course"
MANIFEST = ".course-release.json"
NEW_SUFFIX = ".new-release.ipynb"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def course_digest(course: Path = COURSE) -> str:
    """One hash over every source notebook (and any data file) of the course."""
    h = hashlib.sha256()
    for path in sorted(p for p in course.rglob("*") if p.is_file()):
        rel = path.relative_to(course).as_posix()
        if ".ipynb_checkpoints" in rel:
            continue
        h.update(rel.encode() + b"\0" + _sha(path).encode())
    return h.hexdigest()


def release_course(into: Path) -> Path:
    """Release every assignment with the grading CLI into a course root under ``into``;
    return the release folder (``<root>/release``)."""
    root = into / "course-root"
    root.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "grading", "release", "--course-root", str(root)],
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"releasing the course failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return root / "release"


def sync(release: Path, dest: Path, delivered: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Copy the released files into ``dest`` without ever overwriting a student's edit.

    ``delivered`` maps a file (relative to dest) to the SHA-256 of what was last put there.
    Returns the new mapping and one line per file a student had edited."""
    kept: list[str] = []
    new_delivered = dict(delivered)
    for src in sorted(p for p in release.rglob("*") if p.is_file()):
        rel = src.relative_to(release).as_posix()
        target = dest / rel
        fresh = _sha(src)
        if target.exists():
            current = _sha(target)
            if current == fresh:
                new_delivered[rel] = fresh
                continue
            if current != delivered.get(rel):
                # edited by the student: leave it, put the new release beside it
                beside = target.with_name(target.name.removesuffix(".ipynb") + NEW_SUFFIX)
                if not beside.exists() or _sha(beside) != fresh:
                    shutil.copy2(src, beside)
                    kept.append(f"{rel}: you edited it, so it was kept; the updated release is "
                                f"{beside.relative_to(dest).as_posix()}")
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        new_delivered[rel] = fresh
    return new_delivered, kept


def prepare(dest: Path, course: Path = COURSE) -> list[str]:
    """Create or refresh the student work folder; return notes for the student."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    digest = course_digest(course)
    delivered = manifest.get("delivered", {})
    if manifest.get("course") == digest and all((dest / rel).exists() for rel in delivered):
        return []
    with tempfile.TemporaryDirectory(prefix="student-release-") as tmp:
        delivered, notes = sync(release_course(Path(tmp)), dest, delivered)
    manifest_path.write_text(json.dumps({"course": digest, "delivered": delivered},
                                        indent=1, sort_keys=True))
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dest", nargs="?", type=Path, default=REPO / "student-work")
    args = p.parse_args(argv)
    notes = prepare(args.dest)
    for line in notes:
        print(line)
    print(f"student notebooks: {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
