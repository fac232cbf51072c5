"""A first-time instructor in JupyterLab: opens nbgrader's Formgrader from the Nbgrader
menu, sees the course's assignments, opens the autograded submission of a student, gives
points to its manually graded written answer, and the points land in the gradebook."""
from __future__ import annotations

import re
import time

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from . import lab_ui as ui
from .course import (course_assignments, pick_instructor_assignment, submit_and_autograde,
                     written_answer_cells)

pytestmark = pytest.mark.browser

STUDENT = "ada"
ANSWER = ("The variance of q.k grows linearly with d_k, so the scores must be divided by "
          "sqrt(d_k) to keep the softmax out of saturation.")


@pytest.fixture(scope="module")
def graded_submission(course_root):
    """One correct submission, autograded with nbgrader into the course's gradebook."""
    assignment = pick_instructor_assignment()
    submit_and_autograde(course_root, assignment, STUDENT, ANSWER)
    return assignment


def _grade(course_root, assignment, grade_id):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gb:
        sub = gb.find_submission(assignment.name, STUDENT)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.name == grade_id:
                    return grade.manual_score, grade.max_score, grade.needs_manual_grade
    raise AssertionError(f"no grade {grade_id} for {STUDENT} in {assignment.name}")


def test_instructor_grades_written_answer(lab, page, shots, graded_submission, course_root):
    assignment = graded_submission
    notebook_id = assignment.notebook.removesuffix(".ipynb")
    source = nbformat.read(assignment.source_path(course_root), as_version=4)
    _, grade_id, points = written_answer_cells(source)[0]
    given = points / 2  # partial credit, so that neither default (0 or full) can pass
    manual, max_score, needs = _grade(course_root, assignment, grade_id)
    assert manual is None and needs, "the written answer should await manual grading"
    assert max_score == points

    # 1. JupyterLab: Nbgrader > Formgrader opens the formgrader in a tab
    page.goto(lab.lab_url())
    ui.menu(page, "Nbgrader", "Formgrader")
    frame = page.locator("#formgrader iframe").element_handle().content_frame()
    frame.locator("a", has_text="Manage Assignments").first.wait_for()

    # 2. Manage Assignments lists every assignment of the course
    expected = sorted(set(course_assignments()) | {assignment.name})
    for name in expected:
        frame.locator("td a", has_text=re.compile(rf"^{re.escape(name)}$")).wait_for()
    shots("formgrader-assignments")

    # 3. Manual Grading > assignment > notebook > the submission (each click waits for the
    #    new page's URL, so that no link of the previous page is clicked)
    def follow(link, url_regex: str) -> None:
        link.click()
        frame.wait_for_url(re.compile(url_regex))

    notebook_url = f"/formgrader/gradebook/{assignment.name}/{notebook_id}"
    follow(frame.locator("a", has_text="Manual Grading").first, r"/formgrader/gradebook/?$")
    follow(frame.locator(f"td a[href$='/formgrader/gradebook/{assignment.name}']"),
           rf"/formgrader/gradebook/{re.escape(assignment.name)}/?$")
    follow(frame.locator(f"td a[href$='{notebook_url}']"), rf"{re.escape(notebook_url)}/?$")
    frame.locator("tr", has_text="Submission #1").wait_for()
    shots("formgrader-submissions")
    follow(frame.locator("td a", has_text="Submission #1"), r"/formgrader/submissions/[^/]+/?$")

    # 4. the written answer, as the student wrote it, with a score box: give points
    score = frame.locator(f"input.score#{grade_id}")
    score.wait_for()
    answer_cell = frame.locator(".nbgrader_cell", has=score)
    assert ANSWER[:40] in frame.locator("body").inner_text(), \
        "the student's written answer is not shown on the grading page"
    # the formgrader binds its save handlers once its page scripts have loaded: under load,
    # a score typed before that is never sent, as for a too-quick human
    frame.wait_for_load_state("load")
    try:
        frame.wait_for_load_state("networkidle", timeout=10_000)
    except PlaywrightTimeout:  # JupyterLab's own polling may never let the page go idle
        pass
    score.scroll_into_view_if_needed()

    # 5. the points are in the gradebook (the formgrader saves asynchronously)
    for attempt in range(2):
        score.fill(f"{given:g}")
        score.press("Tab")  # change event: formgrader saves the score
        deadline = time.monotonic() + 30
        while (state := _grade(course_root, assignment, grade_id))[0] is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the database, the assertion follows
        if state[0] is not None:
            break
    manual, _, needs = state
    assert manual == pytest.approx(given), f"gradebook has manual score {manual}, gave {given}"
    assert not needs, "the cell still needs manual grading after it was graded"
    shots("formgrader-points-given", locator=answer_cell)

    # 6. back to the submission list (breadcrumb) and into the submission again: kept
    follow(frame.locator(f"a[href$='{notebook_url}']").first, rf"{re.escape(notebook_url)}/?$")
    follow(frame.locator("td a", has_text="Submission #1"), r"/formgrader/submissions/[^/]+/?$")
    score = frame.locator(f"input.score#{grade_id}")
    score.wait_for()
    assert float(score.input_value()) == pytest.approx(given)
    score.scroll_into_view_if_needed()
    shots("formgrader-score-persisted", locator=frame.locator(".nbgrader_cell", has=score))
