"""Temporary nbgrader course roots for the browser tests.

The browser tests drive whatever notebooks the course has. They prefer the real ones
(03-softmax, then 01-queries-keys-values for the student path; 02-scaling, which has a
manually graded written answer, for the instructor path) and fall back to a small synthetic
assignment built here with ``tools/nbauthor.py`` when those are not (yet) in ``course/``.

Releases go through ``python -m grading release --course-root DIR`` (COURSE_SPEC section 5)
when ``grading/cli.py`` exists; the synthetic assignment, which is not in ``course/``, is
released with stock ``nbgrader generate_assignment``.
"""
from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"
COURSE_ID = "attention-from-scratch"
SYNTHETIC = "99-browser-check"
SYNTHETIC_NB = "browser_check.ipynb"
SYNTHETIC_IMAGES = 2  # figures the synthetic notebook shows

CONFIG = f"""\
c = get_config()
c.CourseDirectory.course_id = "{COURSE_ID}"
c.Execute.timeout = 120
"""

# (assignment, notebook) in order of preference
STUDENT_CANDIDATES = [("03-softmax", "softmax.ipynb"),
                      ("01-queries-keys-values", "queries_keys_values.ipynb")]
INSTRUCTOR_CANDIDATES = [("02-scaling", "scaling.ipynb")]

SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


@dataclass(frozen=True)
class Assignment:
    name: str
    notebook: str

    @property
    def synthetic(self) -> bool:
        return self.name == SYNTHETIC

    def source_path(self, root: Path) -> Path:
        return root / "source" / self.name / self.notebook

    def release_path(self, root: Path) -> Path:
        return root / "release" / self.name / self.notebook


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_code_cells(nb) -> list[tuple[int, str]]:
    """(index, grade_id) of every code solution cell, in order."""
    return [(i, nbgrader_meta(c)["grade_id"]) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and nbgrader_meta(c).get("solution")]


def written_answer_cells(nb) -> list[tuple[int, str, float]]:
    return [(i, nbgrader_meta(c)["grade_id"], float(nbgrader_meta(c).get("points", 0)))
            for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and nbgrader_meta(c).get("solution")
            and nbgrader_meta(c).get("grade")]


def instructor_solution(source_cell_source: str) -> str:
    """The source solution cell with the ``### BEGIN/END SOLUTION`` lines removed: what a
    student who got everything right would have in the cell."""
    return SOLUTION_MARKERS.sub("", source_cell_source)


def png_output_count(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))


def _has_check_cell(nb, grade_id: str) -> bool:
    return any(c.cell_type == "code" and f"check_{grade_id}(" in c.source for c in nb.cells)


def _usable_student(path: Path) -> bool:
    if not path.exists():
        return False
    nb = nbformat.read(path, as_version=4)
    sols = solution_code_cells(nb)
    return bool(sols) and _has_check_cell(nb, sols[0][1]) and png_output_count(nb) > 0


def _usable_instructor(path: Path) -> bool:
    return path.exists() and bool(written_answer_cells(nbformat.read(path, as_version=4)))


def pick_student_assignment() -> Assignment:
    for name, nb in STUDENT_CANDIDATES:
        if _usable_student(COURSE / name / nb):
            return Assignment(name, nb)
    return Assignment(SYNTHETIC, SYNTHETIC_NB)


def pick_instructor_assignment() -> Assignment:
    for name, nb in INSTRUCTOR_CANDIDATES:
        if _usable_instructor(COURSE / name / nb):
            return Assignment(name, nb)
    return Assignment(SYNTHETIC, SYNTHETIC_NB)


def course_assignments() -> list[str]:
    """Assignment folders in the repository's course/ (those with a notebook)."""
    if not COURSE.is_dir():
        return []
    return sorted(p.name for p in COURSE.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


# --------------------------------------------------------------------------- synthetic

def build_synthetic(path: Path) -> Path:
    """A small graded notebook with the course's cell conventions: a heatmap, a solution
    cell, its visible check, an autograded test cell with hidden tests, a written answer."""
    sys.path.insert(0, str(REPO))
    try:
        from tools.nbauthor import code, locked, md, notebook, solution, tests, write, \
            written_answer
    finally:
        sys.path.remove(str(REPO))
    cells = [
        md("# Browser check\nA synthetic assignment used by the browser tests."),
        locked("""
            import numpy as np
            import matplotlib.pyplot as plt
            from helpers.checks._framework import Checker

            def check_softmax(fn):
                checker = Checker("softmax")
                x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])
                with checker.check("each row sums to 1", hint="normalise over the last axis"):
                    assert np.allclose(fn(x).sum(-1), 1), "rows do not sum to 1"
                with checker.check("large inputs give no NaN", hint="subtract the row max"):
                    assert not np.isnan(fn(x)).any(), "NaN in the output"
                return checker.report()
            """, "imports"),
        code("""
            scores = np.array([[2.0, 0.5, -1.0], [0.0, 1.5, 0.3], [-0.5, 0.2, 2.5]])
            fig, ax = plt.subplots(figsize=(3, 3))
            ax.imshow(np.exp(scores) / np.exp(scores).sum(-1, keepdims=True), cmap="viridis")
            ax.set_title("attention weights")
            plt.show()
            """),
        solution('''
            def softmax(x, axis=-1):
                """Numerically stable softmax of ``x`` along ``axis``."""
                ### BEGIN SOLUTION
                z = np.exp(x - np.max(x, axis=axis, keepdims=True))
                return z / z.sum(axis=axis, keepdims=True)
                ### END SOLUTION
            ''', "softmax"),
        code("check_softmax(softmax)"),
        tests("""
            assert np.allclose(softmax(np.zeros(3)), 1 / 3), "uniform input should give 1/3"
            ### BEGIN HIDDEN TESTS
            assert not np.isnan(softmax(np.array([1e4, 0.0]))).any(), "NaN for large input"
            ### END HIDDEN TESTS
            """, "test_softmax", points=1),
        md("**Question.** Why subtract the maximum before exponentiating?"),
        written_answer("Because exp overflows for large inputs.", "why_max", points=2),
        code("""
            fig, ax = plt.subplots(figsize=(3, 3))
            ax.imshow(softmax(scores), cmap="magma")
            plt.show()
            """),
    ]
    return write(notebook(cells), path)


# --------------------------------------------------------------------------- course root

def _run(cmd: list[str], root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)
    # nbgrader runs `alembic` from PATH: make this environment's bin/ come first
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                           f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def nbgrader(args: list[str], root: Path) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"],
                root)


def grading_cli_available() -> bool:
    return (REPO / "grading" / "cli.py").exists()


def init_course_root(root: Path) -> Path:
    """An empty course root with every course assignment in source/ and a config."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "source").mkdir(exist_ok=True)
    for name in course_assignments():
        if not (root / "source" / name).exists():
            shutil.copytree(COURSE / name, root / "source" / name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if not (root / "nbgrader_config.py").exists():
        (root / "nbgrader_config.py").write_text(CONFIG)
    return root


def release(root: Path, assignment: Assignment) -> Path:
    """Release one assignment into root/release/; returns the released notebook."""
    if assignment.release_path(root).exists():
        return assignment.release_path(root)
    if assignment.synthetic:
        build_synthetic(assignment.source_path(root))
        nbgrader(["generate_assignment", assignment.name, "--force"], root)
    elif grading_cli_available():
        _run([sys.executable, "-m", "grading", "release", assignment.name,
              "--course-root", str(root)], root)
    else:
        nbgrader(["generate_assignment", assignment.name, "--force"], root)
    if not (root / "nbgrader_config.py").exists():
        (root / "nbgrader_config.py").write_text(CONFIG)
    path = assignment.release_path(root)
    assert path.exists(), f"release did not write {path}"
    return path


def solved_copy(released_nb, source_nb, answer: str | None = None):
    """The released notebook with every code solution cell filled in from the source (and
    written answers set to ``answer`` when given): a correct student submission."""
    nb = copy.deepcopy(released_nb)
    by_id = {nbgrader_meta(c).get("grade_id"): c for c in source_nb.cells}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = instructor_solution(by_id[meta["grade_id"]].source)
        elif meta.get("solution") and answer is not None:
            cell.source = answer
    return nb


def submit_and_autograde(root: Path, assignment: Assignment, student: str,
                         answer: str) -> None:
    """Submit a correct notebook for ``student`` and autograde it with nbgrader."""
    released = nbformat.read(release(root, assignment), as_version=4)
    source = nbformat.read(assignment.source_path(root), as_version=4)
    target = root / "submitted" / student / assignment.name / assignment.notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(solved_copy(released, source, answer), target)
    (target.parent / "timestamp.txt").write_text("2026-11-25 12:00:00.000000 UTC")
    nbgrader(["autograde", assignment.name, f"--student={student}", "--force"], root)
