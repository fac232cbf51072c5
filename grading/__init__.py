"""Instructor tooling for the course "Attention, from scratch".

* ``grading/nbgrader_config.py``: the nbgrader configuration (stock ``nbgrader`` commands run
  from ``grading/``);
* ``python -m grading {release,autograde,report,feedback}``: the instructor CLI
  (:mod:`grading.cli`), parallel sandboxed autograding (:mod:`grading.autograde`);
* :mod:`grading.sandbox`: the execution sandbox for student code.
"""
from pathlib import Path

GRADING_DIR = Path(__file__).resolve().parent
REPO = GRADING_DIR.parent
COURSE_DIR = REPO / "course"

__all__ = ["GRADING_DIR", "REPO", "COURSE_DIR"]
