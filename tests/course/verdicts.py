"""Grade answer catalogues through the product path and through stock nbgrader.

Each answer of a catalogue (``tests/course/answers/aNN_*.py``) becomes a student of a
throwaway course root. A student hands in the released notebook with every solution cell
filled in by the source solution, except the cells the answer replaces. Two graders score
them:

* ``"product"``: ``python -m grading release`` + ``autograde --jobs 2`` + ``report --format
  json``, exactly what an instructor runs (sandbox, tamper guard, restored cell flags).
  One student per answer.
* ``"stock"``: stock ``nbgrader generate_assignment`` + one ``nbgrader autograde`` process
  for every student (nbgrader's own Execute, no sandbox): the second opinion. To halve its
  cost, answers to *different* functions share a student ("bundle") when each loses only
  cells of its own function; each answer is then judged on its own function's cells and the
  cells no bundle member owns.

Controls, graded by both: ``"solution"`` (the whole source solution) and ``"blank"`` (the
whole release). Answers are handed in *slim*: the graded cells plus the ungraded code cells
they need (found from the names they use), without demos and plots, as a student who
deleted those cells would. The control ``"solution/slim"`` proves that slimming loses
nothing: it must get full marks too.

    runs = grade("01-queries-keys-values", "queries_keys_values.ipynb", ANSWERS, tmp_path)
    runs["product"].scores["dot_scores/picogpt_k_T_2d_only"]["test_dot_scores_batch"] -> 0.0

From a shell: ``.venv/bin/python -m tests.course.verdicts a01_queries_keys_values [product|stock]``.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tests.course.answers import Answer
from tests.course.submissions import (  # noqa: F401 (re-exported for the tests)
    BLANK, CONTROLS, COURSE, REPO, SLIM_SOLUTION, SOLUTION, bundles, grade_cells,
    graded_functions, max_points, owner, slim, student_ids, submissions)

GRADERS = ("product", "stock")
STOCK_CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "attention-from-scratch"
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
"""


@dataclass
class Run:
    """What one grader said about every answer (and control) of one assignment."""

    grader: str
    scores: dict[str, dict[str, float]]      # answer -> {grade_id: score[, "_total": total]}
    problems: dict[str, str] = field(default_factory=dict)   # answer -> grader's complaint
    bundled: dict[str, list[str]] = field(default_factory=dict)  # answer -> other answers
    why: dict[str, dict[str, str]] = field(default_factory=dict)  # answer -> cell -> output
    seconds: float = 0.0                      # wall time of the autograde command
    cpu_seconds: float = 0.0                  # CPU time of it and the processes it waited for
    submissions: int = 0                      # notebooks the grader executed

    def cost(self) -> str:
        n = max(self.submissions, 1)
        return (f"{self.grader}: {self.submissions} submissions in {self.seconds:.1f} s wall "
                f"({self.seconds / n:.2f} s each), {self.cpu_seconds:.1f} s CPU "
                f"({self.cpu_seconds / n:.2f} s each)")


# ------------------------------------------------------------------- graders

def _env() -> dict[str, str]:
    # nbgrader runs `alembic` and jupyter kernels by name: the venv's bin/ must be on PATH.
    return dict(os.environ, PYTHONHASHSEED="0",
                PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))


def _cpu() -> float:
    """CPU seconds of the children this process has waited for (they pass on theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str], cwd: Path, what: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=_env(), text=True,
                          capture_output=True, timeout=3600)
    if check and done.returncode:
        raise RuntimeError(f"{what} exited {done.returncode}:\n{done.stdout[-4000:]}\n"
                           f"{done.stderr[-4000:]}")
    return done


def _hand_in(root: Path, assignment: str, notebook: str, groups: dict[str, list[str]],
             answers: dict[str, Answer]) -> dict[str, str]:
    """Write one submission per group; returns {student id: group name}."""
    variants = {g: ({} if members == [SOLUTION] or members == [SLIM_SOLUTION] else
                    None if members == [BLANK] else
                    {k: v for m in members for k, v in answers[m].cells.items()})
                for g, members in groups.items()}
    subs = submissions(assignment, notebook, root / "release" / assignment / notebook, variants)
    ids = student_ids(list(subs))
    for group, nb in subs.items():
        folder = root / "submitted" / ids[group] / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / notebook)
    return {sid: group for group, sid in ids.items()}


def _outputs(root: Path, by_id: dict[str, str], assignment: str, notebook: str):
    """{group: {grade_id: why it lost points}} from the autograded notebooks: the error, or
    the stderr text (nbgrader scores a test cell with any stderr output as failed)."""
    out: dict[str, dict[str, str]] = {}
    for sid, group in by_id.items():
        path = root / "autograded" / sid / assignment / notebook
        if not path.is_file():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error":
                    out.setdefault(group, {})[gid] = f"{o['ename']}: {o['evalue']}"[:300]
                elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                    lines = o["text"].strip().splitlines() or [""]
                    first = next((l for l in lines if "Warning" in l), lines[0])
                    out.setdefault(group, {}).setdefault(gid, f"wrote to stderr: {first[:250]}")
    return out


def _spread(run: Run, per_group: dict[str, dict[str, float]], groups: dict[str, list[str]],
            answers: dict[str, Answer], functions: dict[str, list[str]],
            why: dict[str, dict[str, str]]) -> None:
    """Give every member of a group the cells that are not another member's."""
    for group, members in groups.items():
        if group not in per_group:
            for m in members:
                run.problems.setdefault(m, "no grades for this submission")
            continue
        for m in members:
            others = [o for o in members if o != m]
            theirs = {c for o in others for f in answers[o].cells for c in functions.get(f, [])}
            run.scores[m] = {c: s for c, s in per_group[group].items()
                             if c not in theirs and not (others and c == "_total")}
            run.why[m] = {c: w for c, w in why.get(group, {}).items() if c in run.scores[m]}
            if others:
                run.bundled[m] = others
            if group in run.problems and m != group:
                run.problems[m] = run.problems[group]


def _controls_and(answers: dict[str, Answer], groups: dict[str, list[str]]):
    return {**{c: [c] for c in CONTROLS}, **groups}


def grade_product(assignment: str, notebook: str, answers: dict[str, Answer], workdir: Path,
                  jobs: int = 2) -> Run:
    """Every answer as its own student through ``python -m grading``."""
    root = Path(workdir) / "product"
    _run(["grading", "release", assignment, "--course-root", str(root)], REPO, "grading release")
    groups = _controls_and(answers, {name: [name] for name in answers})
    by_id = _hand_in(root, assignment, notebook, groups, answers)
    start, cpu = time.perf_counter(), _cpu()
    _run(["grading", "autograde", assignment, "--course-root", str(root), "--jobs", str(jobs),
          "--no-progress"], REPO, "grading autograde")
    run = Run("product", {}, seconds=time.perf_counter() - start, cpu_seconds=_cpu() - cpu,
              submissions=len(by_id))
    rows = json.loads(_run(["grading", "report", "--format", "json", "--course-root", str(root)],
                           REPO, "grading report").stdout)
    per_group: dict[str, dict[str, float]] = {}
    for row in rows:
        group = by_id[row["student"]]
        cells = per_group.setdefault(group, {"_total": 0.0})
        cells[row["cell"]] = float(row["score"])
        cells["_total"] += float(row["score"])
        if row["status"] not in ("ok", "needs-manual-grade"):
            run.problems[group] = f"{row['status']}: {row['reason']}"
    _spread(run, per_group, groups, {**answers, **{c: Answer({}, frozenset()) for c in CONTROLS}},
            {}, _outputs(root, by_id, assignment, notebook))
    return run


def grade_stock(assignment: str, notebook: str, answers: dict[str, Answer], workdir: Path,
                timeout: int = 60) -> Run:
    """Bundled answers through stock nbgrader: one ``nbgrader autograde`` for all students."""
    from nbgrader.api import Gradebook, MissingEntry

    root = Path(workdir) / "stock"
    shutil.copytree(COURSE / assignment, root / "source" / assignment)
    (root / "nbgrader_config.py").write_text(STOCK_CONFIG.format(timeout=timeout))
    arg_root = f"--CourseDirectory.root={root}"
    _run(["nbgrader", "generate_assignment", assignment, "--force", arg_root], root,
         "nbgrader generate_assignment")
    functions = graded_functions(assignment, notebook)
    groups = _controls_and(answers, bundles(answers, functions))
    by_id = _hand_in(root, assignment, notebook, groups, answers)
    start, cpu = time.perf_counter(), _cpu()
    # stock nbgrader exits 1 when a kernel dies; the other students are still graded
    done = _run(["nbgrader", "autograde", assignment, "--force", arg_root], root,
                "nbgrader autograde", check=False)
    run = Run("stock", {}, seconds=time.perf_counter() - start, cpu_seconds=_cpu() - cpu,
              submissions=len(by_id))
    per_group: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for sid, group in by_id.items():
            try:
                sub = gb.find_submission(assignment, sid)
            except MissingEntry:
                run.problems[group] = (f"not graded; nbgrader autograde exited {done.returncode}: "
                                       f"{done.stderr[-500:]}")
                continue
            nb = next(n for n in sub.notebooks if n.name == Path(notebook).stem)
            cells = {g.name: float(g.score) for g in nb.grades if g.cell_type == "code"}
            per_group[group] = {**cells, "_total": float(sub.score)}
    _spread(run, per_group, groups, {**answers, **{c: Answer({}, frozenset()) for c in CONTROLS}},
            functions, _outputs(root, by_id, assignment, notebook))
    return run


def grade(assignment: str, notebook: str, answers: dict[str, Answer], workdir: Path,
          graders: tuple[str, ...] = GRADERS) -> dict[str, Run]:
    """{grader: Run} for the answers and the controls."""
    fns = {"product": grade_product, "stock": grade_stock}
    return {g: fns[g](assignment, notebook, answers, Path(workdir)) for g in graders}


def _main(argv: list[str]) -> int:
    import importlib
    import tempfile

    if not argv:
        print("usage: python -m tests.course.verdicts aNN_<name> [product|stock]")
        return 2
    mod = importlib.import_module(f"tests.course.answers.{argv[0]}")
    full = max_points(mod.ASSIGNMENT, mod.NOTEBOOK)
    with tempfile.TemporaryDirectory() as tmp:
        for grader, run in grade(mod.ASSIGNMENT, mod.NOTEBOOK, mod.ANSWERS, Path(tmp),
                                 tuple(argv[1:]) or GRADERS).items():
            print(run.cost())
            for name, cells in sorted(run.scores.items()):
                lost = {c: f"{s:g}/{full[c]:g}" for c, s in cells.items()
                        if c in full and s < full[c]}
                print(f"  {name:45s} lost: {lost or '-'}"
                      + (f"  [{run.problems[name]}]" if name in run.problems else ""))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
