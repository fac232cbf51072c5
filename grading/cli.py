"""``python -m grading``: the instructor CLI (COURSE_SPEC section 5).

    python -m grading release   [ASSIGNMENT...]              [--course-root DIR]
    python -m grading autograde [ASSIGNMENT...] [--jobs N] [--timeout S] [--force] [--no-progress]
                                [--allow-no-cgroups]
    python -m grading report    [--format table|csv|json] [--per-student]
    python -m grading feedback  [ASSIGNMENT...]

``--course-root`` defaults to the repository's grading/ folder; any other folder (even a
fresh, empty one) works: the source notebooks are always read from the repository's
course/ folder (``grading/nbgrader_config.py``). Exit status: 0 unless the command itself
could not run (bad configuration, unknown assignment, a release that failed, ``--jobs`` > 1
where no cgroup can cap each submission, see grading/cgroups.py); problems with single
submissions are listed in the output and in ``report``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grading import GRADING_DIR
from grading.config import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course-root", type=Path, default=GRADING_DIR, metavar="DIR",
                        help="nbgrader course root (default: %(default)s)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", parents=[common],
                       help="nbgrader generate_assignment into DIR/release/")
    r.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")

    a = sub.add_parser("autograde", parents=[common],
                       help="grade DIR/submitted/<student>/<assignment>/ in parallel")
    a.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    a.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="submissions graded at once, each in its own process and sandboxed "
                        "kernel (default: number of CPUs, %(default)s)")
    a.add_argument("--timeout", type=int, default=None, metavar="S",
                   help="per-cell timeout in seconds (default: c.Execute.timeout of the config)")
    a.add_argument("--force", action="store_true",
                   help="re-grade submissions that are unchanged since they were last graded")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.add_argument("--allow-no-cgroups", action="store_true",
                   help="grade with --jobs > 1 even where no cgroup can cap each submission's "
                        "total memory, processes and CPU (per-process limits only; "
                        "c.SandboxCgroups.allow_parallel_without in nbgrader_config.py)")

    rep = sub.add_parser("report", parents=[common], help="print grades")
    rep.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rep.add_argument("--per-student", action="store_true",
                     help="one row per student with per-assignment totals (for an LMS)")

    f = sub.add_parser("feedback", parents=[common],
                       help="HTML feedback per autograded submission into DIR/feedback/")
    f.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    return p


def _check_assignments(wanted: list[str], known: list[str]) -> None:
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"unknown assignment(s) {unknown}; the course has {known}")


def cmd_release(args, cfg) -> int:
    from grading.autograde import release, source_assignments

    known = source_assignments(Path(args.course_root, cfg.CourseDirectory.source_directory))
    _check_assignments(args.assignments, known)
    errors = release(args.course_root, args.assignments or known, cfg)
    return 1 if errors else 0


def _printable(text: str) -> str:
    """File names may be undecodable bytes (surrogate escapes): show them, never crash."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def cmd_autograde(args, cfg) -> int:
    from grading.autograde import autograde

    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if args.timeout is not None and args.timeout < 1:
        raise ValueError("--timeout must be at least 1 second")
    s = autograde(args.course_root, args.assignments or None, jobs=args.jobs,
                  timeout=args.timeout, force=args.force, progress=not args.no_progress,
                  allow_no_cgroups=args.allow_no_cgroups)
    for path, why in s.ignored:
        print(_printable(f"ignored {path}: {why}"))
    problems = [r for r in s.failed]
    not_executed = [r for r in problems if r.status in ("failed", "missing")]
    print(f"autograde: {len(s.graded) + len(problems)} graded "
          f"({len(s.graded)} ok, {len(problems) - len(not_executed)} with problems, "
          f"{len(not_executed)} failed to execute), {len(s.skipped)} skipped, "
          f"{len(s.ignored)} ignored, in {s.seconds:.1f} s with --jobs {args.jobs}")
    for r in problems:
        print(f"  {r.status:<12} {r.student}/{r.assignment}: {r.reason}")
    for assignment, student, why in s.skipped:
        print(f"  skipped      {student}/{assignment}: {why}")
    if s.isolation:
        print("isolation: " + " | ".join(sorted(s.isolation)))
        if any("WARNING" in i for i in s.isolation):  # no sandbox, or limits missing
            print("!" * 78 + "\nWARNING: some submissions were graded WITHOUT the full "
                  "sandbox (see 'isolation' above):\nstudent code could read hidden tests "
                  "and the gradebook, or ran without some limits.\n" + "!" * 78)
    print("caps: " + s.caps + ("" if s.peak_mb is None else
                               f"; highest memory peak of a submission: {s.peak_mb:.0f} MB"))
    return 0


def cmd_report(args, cfg) -> int:
    from grading.report import FIELDS, cell_rows, render, student_rows

    db_url = cfg.CourseDirectory.get("db_url") or \
        f"sqlite:///{Path(args.course_root).resolve() / 'gradebook.db'}"
    if args.per_student:
        fields, rows = student_rows(args.course_root, db_url)
    else:
        fields, rows = FIELDS, cell_rows(args.course_root, db_url)
    print(render(rows, fields, args.format))
    return 0


def cmd_feedback(args, cfg) -> int:
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    from grading.autograde import source_assignments

    root = Path(args.course_root).resolve()
    known = source_assignments(Path(root, cfg.CourseDirectory.source_directory))
    _check_assignments(args.assignments, known)
    wanted = set(args.assignments or known)
    autograded = root / "autograded"
    pairs = sorted((a.name, s.name) for s in (autograded.iterdir() if autograded.is_dir() else [])
                   if s.is_dir() for a in s.iterdir() if a.is_dir() and a.name in wanted)
    done = failed = 0
    from grading.preprocessors import DELIMITER_NOTES
    for assignment, student in pairs:
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id, coursedir.student_id = assignment, student
        app = GenerateFeedback(coursedir=coursedir, config=cfg)
        app.force = True
        seen = len(DELIMITER_NOTES)
        result = capture_log(app)
        for note in DELIMITER_NOTES[seen:]:  # a student typed hidden-test delimiters
            print(_printable(f"  note   {note['student']}/{note['assignment']}/{note['notebook']}: "
                             f"'{note['text']}' in cell(s) {', '.join(note['cells'])} made "
                             "inert (reserved for test cells)"))
        if result.get("success"):
            done += 1
        else:
            failed += 1
            err = (result.get("error") or "").strip().splitlines()
            print(f"  FAILED {student}/{assignment}: {err[-1] if err else 'unknown error'}")
    print(f"feedback: {done} written to {root / 'feedback'}, {failed} failed")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.course_root = Path(args.course_root).resolve()
    from grading.autograde import ensure_tools_on_path
    ensure_tools_on_path()
    try:
        args.course_root.mkdir(parents=True, exist_ok=True)
        cfg = load_config(args.course_root, timeout=getattr(args, "timeout", None))
        return {"release": cmd_release, "autograde": cmd_autograde, "report": cmd_report,
                "feedback": cmd_feedback}[args.command](args, cfg)
    except (ConfigError, ValueError) as exc:
        print(f"python -m grading {args.command}: error: {exc}", file=sys.stderr)
        return 2
