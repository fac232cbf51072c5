"""The stock-nbgrader half of the fair-verdict tests (tests/course/test_verdicts.py has the
product half and the harness's own tests). A file of its own so that pytest-xdist, with
--dist loadfile, grades the two halves on different workers.

    .venv/bin/python -m pytest tests/course/test_verdicts_stock.py -k 03-softmax -q
"""
from tests.course.test_verdicts import graded, grading_tests  # noqa: F401 (graded: a fixture)

test_solution_gets_full_marks, test_blank_release_gets_zero, test_answer_gets_its_verdict = \
    grading_tests(("stock",))
