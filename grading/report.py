"""Read grades back from the gradebook (and statuses from grading_state.json)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from grading.autograde import load_state, state_key

FIELDS = ["student", "assignment", "notebook", "cell", "score", "max_score", "status", "reason"]


def _num(x) -> float:
    return round(float(x or 0.0), 6)


def cell_rows(course_root: Path, db_url: str) -> list[dict]:
    """One row per student, assignment, notebook and graded cell."""
    from nbgrader.api import Gradebook

    state = load_state(course_root)["submissions"]
    rows = []
    if not Path(db_url[len("sqlite:///"):]).exists():
        return rows
    with Gradebook(db_url) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for sub in sorted(assignment.submissions, key=lambda s: s.student.id):
                entry = state.get(state_key(assignment.name, sub.student.id), {})
                for nb in sorted(sub.notebooks, key=lambda n: n.name):
                    nbstate = entry.get("notebooks", {}).get(nb.name, {})
                    autograded = any(g.auto_score is not None for g in nb.grades)
                    nbstatus = nbstate.get("status") or (
                        "ok" if entry or autograded else "not-autograded")
                    for g in sorted(nb.grades, key=lambda g: g.name):
                        status, reason = nbstatus, nbstate.get("reason", "")
                        if status == "ok" and g.needs_manual_grade and g.manual_score is None:
                            status, reason = "needs-manual-grade", "not graded by hand yet"
                        rows.append({"student": sub.student.id, "assignment": assignment.name,
                                     "notebook": nb.name, "cell": g.name,
                                     "score": _num(g.score), "max_score": _num(g.max_score),
                                     "status": status, "reason": reason})
    return rows


def student_rows(course_root: Path, db_url: str) -> tuple[list[str], list[dict]]:
    """One row per student: the total of each assignment (0 when not submitted), for an LMS."""
    from nbgrader.api import Gradebook, MissingEntry

    if not Path(db_url[len("sqlite:///"):]).exists():
        return ["student", "total", "max_total"], []
    with Gradebook(db_url) as gb:
        assignments = sorted(a.name for a in gb.assignments)
        maxima = {a.name: _num(a.max_score) for a in gb.assignments}
        rows = []
        for student in sorted(gb.students, key=lambda s: s.id):
            row = {"student": student.id}
            for a in assignments:
                try:
                    row[a] = _num(gb.find_submission(a, student.id).score)
                except MissingEntry:
                    row[a] = 0.0
            row["total"] = _num(sum(row[a] for a in assignments))
            row["max_total"] = _num(sum(maxima.values()))
            rows.append(row)
    return ["student", *assignments, "total", "max_total"], rows


def render(rows: list[dict], fields: list[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    # readable table
    if not rows:
        return "(no grades)"
    cells = [[_fmt(r[f]) for f in fields] for r in rows]
    widths = [max(len(f), *(len(c[i]) for c in cells)) for i, f in enumerate(fields)]
    widths = [min(w, 60) for w in widths]
    line = lambda vals: "  ".join(v[:w].ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(fields), line(["-" * w for w in widths]), *map(line, cells)])


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
