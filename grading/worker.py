"""Grade ONE submission in this process (started by :mod:`grading.autograde`).

    python -m grading.worker SPEC.json RESULT.json

SPEC holds course_root, assignment, student, db_url (a private copy of the gradebook) and
timeout. nbgrader's own Autograde converter runs against that copy, writing the autograded
notebooks to the course root's autograded/<student>/<assignment>/; the parent merges the
grades into the real gradebook. RESULT gets success, per-notebook outcomes and the error.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def grade(spec: dict) -> dict:
    # jsonschema's optional IRI checker builds a grammar at import (seconds per process);
    # nbformat validation does not need it.
    sys.modules.setdefault("rfc3987_syntax", None)
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.converters import Autograde
    from nbgrader.utils import capture_log

    from grading import preprocessors
    from grading.config import load_config

    start = time.perf_counter()
    cfg = load_config(Path(spec["course_root"]), timeout=spec.get("timeout"),
                      db_url=spec["db_url"])
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = spec["assignment"]
    coursedir.student_id = spec["student"]
    app = Autograde(coursedir=coursedir, config=cfg)
    app.force = True
    app.create_student = True
    preprocessors.OUTCOMES.clear()
    result = capture_log(app)
    return {"success": bool(result.get("success")), "error": result.get("error", ""),
            "log": result.get("log", "")[-20000:], "outcomes": list(preprocessors.OUTCOMES),
            "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    try:
        result = grade(spec)
    except Exception as exc:  # reported by the parent
        import traceback
        result = {"success": False, "error": traceback.format_exc(), "log": "",
                  "outcomes": [], "seconds": 0.0, "fatal": f"{type(exc).__name__}: {exc}"}
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
