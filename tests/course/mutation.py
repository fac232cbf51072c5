"""Grade variants of a source notebook with nbgrader and report points per test cell.

Every graded exercise keeps a catalogue of plausible wrong answers (mutants) in
``tests/course/test_mutants_<assignment>.py``. This module turns each mutant into a student
submission (the source notebook with one or more solution cells replaced), autogrades all of
them in a throwaway course root with nbgrader, and returns the auto score of every
autograded cell, so a test can assert that each mutant loses points where it should.

    scores = autograde_variants("03-softmax", "softmax.ipynb", {
        "solution": {},                                   # unchanged: full marks
        "no_max_subtraction": {"softmax_solution": "def softmax(x, axis=-1): ..."},
    }, tmp_path)
    scores["no_max_subtraction"]["test_softmax"]  -> 0.0

The special variant value ``BLANK`` submits the released (blank) notebook.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"
BLANK = "__blank__"

CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "attention-from-scratch"
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
"""


def _run(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="0")
    # nbgrader runs `alembic` by name: the venv's bin/ must be on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args,
                           f"--CourseDirectory.root={root}"],
                          cwd=root, env=env, capture_output=True, text=True)


def _replace_solutions(nb: nbformat.NotebookNode, replacements: dict[str, str]):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    found = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            if not cell.metadata["nbgrader"].get("solution"):
                raise ValueError(f"{grade_id} is not a solution cell; mutants replace "
                                 "solution cells only")
            cell.source = replacements[grade_id]
            found.add(grade_id)
    missing = set(replacements) - found
    if missing:
        raise KeyError(f"no solution cell with grade_id {sorted(missing)}")
    return nb


def autograde_variants(assignment: str, notebook: str, variants: dict, tmp_path: Path,
                       timeout: int = 60) -> dict[str, dict[str, float]]:
    """Autograde each variant as its own student; return {variant: {grade_id: score}}.

    ``variants`` maps a variant (student) name to ``{solution grade_id: new source}`` or
    to ``BLANK``. The returned dict also has a ``"_total"`` entry per variant.
    """
    from nbgrader.api import Gradebook

    root = Path(tmp_path) / "course-root"
    shutil.copytree(COURSE / assignment, root / "source" / assignment)
    (root / "nbgrader_config.py").write_text(CONFIG.format(timeout=timeout))
    done = _run(["generate_assignment", assignment, "--force"], root)
    if done.returncode:
        raise RuntimeError(f"generate_assignment failed:\n{done.stdout}\n{done.stderr}")

    source_nb = nbformat.read(root / "source" / assignment / notebook, as_version=4)
    release_dir = root / "release" / assignment
    for student, replacements in variants.items():
        target = root / "submitted" / student / assignment
        shutil.copytree(release_dir, target)
        if replacements != BLANK:
            nbformat.write(_replace_solutions(source_nb, replacements), target / notebook)

    done = _run(["autograde", assignment, "--force"], root)
    if done.returncode:
        # nbgrader exits 1 when one kernel dies; the others are still graded.
        print(done.stdout[-3000:], done.stderr[-3000:])

    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in variants:
            submission = gb.find_submission(assignment, student)
            nb = next(n for n in submission.notebooks if n.name == Path(notebook).stem)
            per_cell = {g.name: float(g.score) for g in nb.grades if g.cell_type == "code"}
            per_cell["_total"] = float(submission.score)
            scores[student] = per_cell
    return scores


def max_points(assignment: str, notebook: str) -> dict[str, float]:
    """{grade_id: points} for every autograded code cell of a source notebook."""
    nb = nbformat.read(COURSE / assignment / notebook, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
