"""Parallel, resumable autograding on top of nbgrader.

Design (COURSE_SPEC section 5, issue 5):

* One job = one submission (student, assignment). Each job runs in its OWN PROCESS
  (``python -m grading.worker``) with nbgrader's own ``Autograde`` converter, whose Execute
  step is :class:`grading.preprocessors.SandboxedExecute` (one sandboxed kernel per
  notebook). ``--jobs N`` runs N such processes at a time.
* SQLite allows one writer, so a worker never writes the real gradebook: it grades into a
  private copy (taken with SQLite's backup API), and the parent process merges that
  submission's autograde fields (auto scores, needs-manual-grade flags, auto comments,
  timestamp, late penalty) into the real gradebook, one merge at a time under a lock.
  Manual scores are never touched, so a grade given in the formgrader survives a re-run.
* A submission whose notebook cannot be executed at all (invalid JSON, kernel gone, worker
  crash) still gets a grade: its autograded test cells are set to 0, and the reason is kept.
* ``DIR/grading_state.json`` records, per submission, a hash of the submitted files and of
  the source assignment, the status, the reason and the isolation in force; an unchanged,
  already graded submission is skipped unless ``force``.
* ``DIR/.grading.lock`` (flock) keeps two autograde runs off the same course root.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading import cgroups
from grading.config import cell_timeout, load_config

STATE_FILE = "grading_state.json"
LOCK_FILE = ".grading.lock"


# ----------------------------------------------------------------------------- state
def load_state(course_root: Path) -> dict:
    path = Path(course_root) / STATE_FILE
    if not path.is_file():
        return {"version": 1, "submissions": {}}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"version": 1, "submissions": {}}
    state.setdefault("submissions", {})
    return state


def save_state(course_root: Path, state: dict) -> None:
    path = Path(course_root) / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def state_key(assignment: str, student: str) -> str:
    return f"{assignment}/{student}"


@contextlib.contextmanager
def course_lock(course_root: Path):
    """Exclusive lock on the course root for the whole run (another run waits)."""
    path = Path(course_root) / LOCK_FILE
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another grading run on {course_root} ...", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _hash_tree(root: Path, h) -> None:
    if not root.is_dir():
        h.update(b"<missing>")
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if ".ipynb_checkpoints" in rel:
            continue
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())


def submission_digest(submitted: Path, source: Path, timeout: float) -> str:
    h = hashlib.sha256()
    _hash_tree(submitted, h)
    h.update(b"\0source\0")
    _hash_tree(source, h)
    h.update(f"\0timeout={timeout}".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- jobs
@dataclass
class Job:
    assignment: str
    student: str
    submitted: Path
    digest: str = ""
    problems: dict = field(default_factory=dict)   # notebook file name -> intake reason
    notes: list = field(default_factory=list)      # intake notes (extra files, edits, ...)


@dataclass
class Result:
    assignment: str
    student: str
    status: str                    # ok | failed | <sandbox status> (timeout, memory, ...)
    reason: str = ""
    notebooks: dict = field(default_factory=dict)   # name -> {"status", "reason"}
    isolation: str = ""
    seconds: float = 0.0


@dataclass
class Summary:
    graded: list = field(default_factory=list)      # Results that executed normally
    failed: list = field(default_factory=list)      # Results with a problem
    skipped: list = field(default_factory=list)     # (assignment, student, why)
    ignored: list = field(default_factory=list)     # (path, why) not a submission
    isolation: set = field(default_factory=set)
    seconds: float = 0.0
    caps: str = ""                                  # cgroup caps in force (grading/cgroups.py)
    peak_mb: float | None = None                    # highest sandbox memory peak of the run


def source_assignments(source_dir: Path) -> list[str]:
    return sorted(p.name for p in Path(source_dir).iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))


def discover(course_root: Path, source_dir: Path, assignments: list[str] | None):
    """Submissions under DIR/submitted/<student>/<assignment>/, and what was ignored."""
    known = source_assignments(source_dir)
    wanted = set(assignments or known)
    jobs, ignored = [], []
    submitted = Path(course_root) / "submitted"
    if not submitted.is_dir():
        return jobs, ignored
    for sdir in sorted(submitted.iterdir()):
        if sdir.name.startswith("."):
            continue
        if not sdir.is_dir():
            ignored.append((str(sdir), "not a student folder"))
            continue
        for adir in sorted(sdir.iterdir()):
            if adir.name not in known:
                if not adir.name.startswith("."):
                    ignored.append((str(adir), "not an assignment of this course"))
                continue
            if not adir.is_dir():
                ignored.append((str(adir), "not a folder"))
                continue
            if adir.name in wanted:
                jobs.append(Job(adir.name, sdir.name, adir))
    return jobs, ignored


def apply_intake(course_root: Path, source_dir: Path, jobs: list[Job], ignored: list):
    """Run the intake checks of grading/intake.py (when present) over the submissions
    folder: students it rejects (non-UTF-8 or implausible ids, duplicates, links) are not
    graded; a rejected notebook (invalid JSON, wrong name, ...) is still graded as far as
    possible (0 for what cannot run) with the intake's reason; nbformat 3 is converted."""
    try:
        from grading import intake
    except ImportError:
        return jobs, ignored
    names = {j.assignment: sorted(p.name for p in Path(source_dir, j.assignment).glob("*.ipynb"))
             for j in jobs}
    if not names:
        return jobs, ignored
    accepted, skipped = intake.scan_submissions(Path(course_root) / "submitted", names)
    by_path = {Path(sub.path): sub for sub in accepted}
    used, kept, ignored = set(), [], list(ignored)
    for job in jobs:
        student_skips = [k for k in skipped if Path(k.path) == job.submitted.parent]
        if student_skips:
            for k in student_skips:
                if id(k) not in used:
                    ignored.append((str(k.path), k.reason))
                used.add(id(k))
            continue
        for k in skipped:
            kp = Path(k.path)
            if kp == job.submitted or kp.parent == job.submitted:
                used.add(id(k))
                job.problems[kp.name if kp.parent == job.submitted else "*"] = k.reason
        sub = by_path.get(job.submitted)
        if sub is not None:
            job.notes = list(sub.notes)
            if sub.converted:
                intake.write_converted(sub)
        kept.append(job)
    ignored = ignored + [(str(k.path), k.reason) for k in skipped if id(k) not in used
                         and not any(str(k.path) == p for p, _ in ignored)]
    return kept, ignored


def _notebook_cells(source_dir: Path, assignment: str) -> int:
    n = 0
    for path in Path(source_dir, assignment).glob("*.ipynb"):
        try:
            n += sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
        except Exception:
            n += 50
    return n


# ----------------------------------------------------------------------------- gradebook
def _sqlite_path(db_url: str) -> Path:
    assert db_url.startswith("sqlite:///"), f"only SQLite gradebooks are supported: {db_url}"
    return Path(db_url[len("sqlite:///"):])


def copy_gradebook(src: Path, dst: Path) -> None:
    """Consistent snapshot of an SQLite database (safe while others read it)."""
    with contextlib.closing(sqlite3.connect(src)) as s, \
            contextlib.closing(sqlite3.connect(dst)) as d:
        s.backup(d)


def merge_submission(main_url: str, worker_url: str | None, assignment: str, student: str,
                     ungraded: dict[str, str]) -> None:
    """Copy one submission's autograde results from a worker's gradebook copy into the
    real gradebook; set autograded test cells of ``ungraded`` notebooks to 0."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", SAWarning)   # nbgrader's own, harmless
        gb = stack.enter_context(Gradebook(main_url))
        wsub = None
        if worker_url is not None:
            wgb = stack.enter_context(Gradebook(worker_url))
            try:
                wsub = wgb.find_submission(assignment, student)
            except MissingEntry:
                wsub = None
        try:
            gb.find_student(student)
        except MissingEntry:
            gb.add_student(student)
        kwargs = {"timestamp": wsub.timestamp} if wsub is not None and wsub.timestamp else {}
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
        if wsub is not None:
            for wnb in wsub.notebooks:
                nb = gb.find_submission_notebook(wnb.name, assignment, student)
                nb.late_submission_penalty = wnb.late_submission_penalty
                for wg in wnb.grades:
                    g = gb.find_grade(wg.name, wnb.name, assignment, student)
                    g.auto_score = wg.auto_score
                    g.needs_manual_grade = wg.needs_manual_grade
                for wc in wnb.comments:
                    c = gb.find_comment(wc.name, wnb.name, assignment, student)
                    c.auto_comment = wc.auto_comment
        for nb in sub.notebooks:
            if nb.name not in ungraded:
                continue
            for g in nb.grades:
                if g.cell_type != "code" or g.auto_score is not None:
                    continue
                try:
                    gb.find_solution_cell(g.name, nb.name, assignment)
                    continue          # a manually graded code answer: leave it to a human
                except MissingEntry:
                    g.auto_score = 0.0
                    g.needs_manual_grade = g.manual_score is not None
        gb.db.commit()


def assignments_in_gradebook(db_url: str) -> set[str]:
    from nbgrader.api import Gradebook
    if not _sqlite_path(db_url).exists():
        return set()
    with Gradebook(db_url) as gb:
        return {a.name for a in gb.assignments}


def assignment_notebooks(db_url: str, assignment: str) -> list[str]:
    from nbgrader.api import Gradebook
    with Gradebook(db_url) as gb:
        return sorted(n.name for n in gb.find_assignment(assignment).notebooks)


# ----------------------------------------------------------------------------- running
_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt))(: .*)?$")


def _last_error_line(text: str, log: str = "") -> str:
    """The most telling exception line of a traceback (nbgrader's own wrapper exception
    "Please see the above traceback" points at the log, so look there first)."""
    for blob in (log, text):
        found = [m.group(0).strip() for ln in (blob or "").splitlines()
                 if (m := _EXC_LINE.match(ln)) and "NbGraderException" not in ln]
        if found:
            return found[-1][:300]
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "unknown error"


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """os.environ with ``values`` for the duration (inherited by the worker processes)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ensure_tools_on_path() -> None:
    """nbgrader runs the ``alembic`` script of its environment when it creates a
    gradebook; make this interpreter's bin/ folder findable even without an activated venv."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _run_worker(job: Job, course_root: Path, db_url: str, timeout: int, workdir: Path,
                hard_limit: float, db_lock: threading.Lock) -> tuple[dict, str]:
    tag = hashlib.sha1(f"{job.assignment}/{job.student}".encode("utf-8",
                                                                  "surrogateescape")).hexdigest()[:12]
    db_copy = workdir / f"{tag}.db"
    with db_lock:
        copy_gradebook(_sqlite_path(db_url), db_copy)
    worker_url = f"sqlite:///{db_copy}"
    spec = workdir / f"{tag}.spec.json"
    out = workdir / f"{tag}.result.json"
    spec.write_text(json.dumps({"course_root": str(course_root), "assignment": job.assignment,
                                "student": job.student, "db_url": worker_url,
                                "timeout": timeout}))
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.setdefault("MPLBACKEND", "agg")
    with open(workdir / f"{tag}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grading.worker", str(spec), str(out)],
                                cwd=course_root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=hard_limit)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return ({"success": False, "fatal": f"grader timeout: gave up after "
                     f"{hard_limit:.0f} s", "outcomes": []}, worker_url)
    # whatever the worker left behind in its process group goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if not out.is_file():
        return ({"success": False, "outcomes": [],
                 "fatal": f"grader process died (exit status {proc.returncode})"}, worker_url)
    return json.loads(out.read_text()), worker_url


def _interpret(job: Job, raw: dict, notebooks: list[str]) -> tuple[Result, dict[str, str]]:
    """Turn a worker's raw result into a Result and the notebooks left ungraded."""
    outcomes = {o.get("notebook"): o for o in raw.get("outcomes", [])}
    isolation = "; ".join(sorted({o.get("isolation", "") for o in outcomes.values()} - {""}))
    per_nb, ungraded = {}, {}
    failure = raw.get("fatal") or (None if raw.get("success")
                                   else _last_error_line(raw.get("error", ""), raw.get("log", "")))
    for name in notebooks:
        path = job.submitted / f"{name}.ipynb"
        if not path.exists():
            others = sorted(p.name for p in job.submitted.glob("*.ipynb"))
            reason = job.problems.get("*") or (
                f"{name}.ipynb not submitted" + (f" (found: {', '.join(others)})"
                                                 if others else ""))
            per_nb[name] = {"status": "missing", "reason": reason}
            ungraded[name] = reason
        elif f"{name}.ipynb" in job.problems:
            reason = job.problems[f"{name}.ipynb"]
            per_nb[name] = {"status": "failed", "reason": f"could not be graded: {reason}"}
            ungraded[name] = reason
        elif name in outcomes:
            o = outcomes[name]
            per_nb[name] = {"status": o.get("status", "ok"), "reason": o.get("reason", "")}
            if o.get("usage"):  # cgroup caps, peak memory, OOM kills (grading/cgroups.py)
                per_nb[name]["usage"] = o["usage"]
        else:
            reason = failure or "not executed"
            if path.stat().st_size == 0:
                reason = f"invalid notebook: empty file ({reason})"
            per_nb[name] = {"status": "failed", "reason": f"could not be graded: {reason}"}
            ungraded[name] = reason
    bad = {n: v for n, v in per_nb.items() if v["status"] != "ok"}
    status = "ok" if not bad else (next(iter(bad.values()))["status"] if len(bad) == 1
                                   else "failed")
    reason = "; ".join(f"{n}: {v['reason']}" for n, v in bad.items())
    if failure and raw.get("fatal") and not reason:
        status, reason = "failed", raw["fatal"]
    return Result(job.assignment, job.student, status, reason, per_nb, isolation,
                  float(raw.get("seconds") or 0.0)), ungraded


def release(course_root: Path, assignments: list[str], cfg=None, log=print) -> dict[str, str]:
    """nbgrader generate_assignment for each assignment; returns {assignment: error}."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    ensure_tools_on_path()
    course_root = Path(course_root).resolve()
    course_root.mkdir(parents=True, exist_ok=True)
    cfg = cfg or load_config(course_root)
    errors = {}
    for assignment in assignments:
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = assignment
        app = GenerateAssignment(coursedir=coursedir, config=cfg)
        app.force = True
        app.create_assignment = True
        result = capture_log(app)
        if result.get("success"):
            log(f"released {assignment} -> {Path(coursedir.root, coursedir.release_directory, assignment)}")
        else:
            errors[assignment] = _last_error_line(result.get("error", ""), result.get("log", ""))
            log(f"FAILED to release {assignment}: {errors[assignment]}")
    return errors


def autograde(course_root: Path, assignments: list[str] | None = None, *, jobs: int = 1,
              timeout: int | None = None, force: bool = False, progress: bool = True,
              allow_no_cgroups: bool = False, log=print) -> Summary:
    """Grade every (changed) submission, ``jobs`` at a time. With ``jobs`` > 1 each sandbox
    needs a cgroup (grading/cgroups.py): where none can be made this raises
    :class:`grading.cgroups.RefusedError` unless ``allow_no_cgroups`` or
    ``c.SandboxCgroups.allow_parallel_without`` opts out."""
    from tqdm import tqdm

    ensure_tools_on_path()
    course_root = Path(course_root).resolve()
    course_root.mkdir(parents=True, exist_ok=True)
    cfg = load_config(course_root, timeout=timeout)
    timeout = int(cell_timeout(cfg))
    source_dir = Path(course_root, cfg.CourseDirectory.source_directory)
    db_url = cfg.CourseDirectory.get("db_url") or f"sqlite:///{course_root / 'gradebook.db'}"
    summary = Summary()
    start = time.perf_counter()
    # fail closed before anything is graded: parallel sandboxes need their own cgroups
    worker_env, summary.caps = cgroups.run_policy(max(1, jobs), cgroups.settings_from_config(cfg),
                                                  allow_no_cgroups)
    if assignments:
        unknown = sorted(set(assignments) - set(source_assignments(source_dir)))
        if unknown:
            raise ValueError(f"unknown assignment(s) {unknown}; the course has "
                             f"{source_assignments(source_dir)}")

    with course_lock(course_root):
        found, summary.ignored = discover(course_root, source_dir, assignments)
        found, summary.ignored = apply_intake(course_root, source_dir, found, summary.ignored)
        state = load_state(course_root)
        # assignments must be in the gradebook (generate_assignment) before autograding
        missing = sorted({j.assignment for j in found} - assignments_in_gradebook(db_url))
        if missing:
            log(f"not yet released in {course_root}: {missing}; releasing them first")
            failed = release(course_root, missing, cfg, log=log)
            for job in [j for j in found if j.assignment in failed]:
                summary.skipped.append((job.assignment, job.student,
                                        f"assignment could not be released: {failed[job.assignment]}"))
            found = [j for j in found if j.assignment not in failed]

        todo = []
        for job in found:
            job.digest = submission_digest(job.submitted, source_dir / job.assignment, timeout)
            entry = state["submissions"].get(state_key(job.assignment, job.student))
            autograded = course_root / "autograded" / job.student / job.assignment
            if (not force and entry and entry.get("hash") == job.digest
                    and (autograded.is_dir() or entry.get("status") != "ok")):
                summary.skipped.append((job.assignment, job.student, "unchanged since last grading"))
            else:
                todo.append(job)

        db_lock = threading.Lock()
        nb_names = {a: assignment_notebooks(db_url, a) for a in {j.assignment for j in todo}}
        limits = {a: (_notebook_cells(source_dir, a) + 5) * (timeout + 10) + 120
                  for a in nb_names}
        bar = tqdm(total=len(todo), desc="autograde", unit="sub", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
        running: list[str] = []
        bar_lock = threading.Lock()

        def run(job: Job):
            who = f"{job.student}/{job.assignment}"
            with bar_lock:
                running.append(who)
                bar.set_postfix_str("grading " + ", ".join(running[-3:]), refresh=True)
            try:
                return job, *_run_worker(job, course_root, db_url, timeout, workdir,
                                         limits[job.assignment], db_lock)
            finally:
                with bar_lock:
                    running.remove(who)
                    bar.set_postfix_str(("grading " + ", ".join(running[-3:])) if running
                                        else f"last {who}", refresh=False)

        with tempfile.TemporaryDirectory(prefix=".grading-work-", dir=course_root) as tmp, \
                _environ(worker_env):  # the workers' sandboxes read GRADING_JOBS, GRADING_CGROUPS
            workdir = Path(tmp)
            with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures = [pool.submit(run, job) for job in todo]
                for fut in cf.as_completed(futures):
                    job, raw, worker_url = fut.result()
                    result, ungraded = _interpret(job, raw, nb_names[job.assignment])
                    with db_lock:
                        merge_submission(db_url, worker_url, job.assignment, job.student,
                                         ungraded)
                        Path(worker_url[len("sqlite:///"):]).unlink(missing_ok=True)
                    state["submissions"][state_key(job.assignment, job.student)] = {
                        "hash": job.digest, "status": result.status, "reason": result.reason,
                        "notebooks": result.notebooks, "isolation": result.isolation,
                        "notes": job.notes,
                        "seconds": round(result.seconds, 2),
                        "graded_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
                    save_state(course_root, state)
                    if result.isolation:
                        summary.isolation.add(result.isolation)
                    for nb in result.notebooks.values():
                        peak = nb.get("usage", {}).get("peak_mb")
                        if peak is not None and (summary.peak_mb or 0) < peak:
                            summary.peak_mb = peak
                    (summary.graded if result.status == "ok" else summary.failed).append(result)
                    with bar_lock:
                        if result.status != "ok":
                            bar.write(f"  {job.student}/{job.assignment}: {result.status}: "
                                      f"{result.reason}", file=sys.stderr)
                        bar.update(1)
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
