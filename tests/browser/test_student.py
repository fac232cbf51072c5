"""A first-time student in JupyterLab: opens a released notebook, runs it, reads the hint of
a visible check, fills in the solutions, sees the check pass and the heatmaps render, and
clicks nbgrader's Validate.

The server is started the way ``make lab`` starts it: on the student work folder that
``tools/student_workspace.py`` creates (released notebooks only), as root where the tests
run as root (``--allow-root``)."""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tools import student_workspace

from . import lab_ui as ui
from .conftest import start_lab, stop_lab
from .course import (REPO, instructor_solution, nbgrader_meta, pick_student_assignment,
                     png_output_count, solution_code_cells, written_answer_cells)

pytestmark = pytest.mark.browser

WRITTEN_ANSWER = "Subtracting the row maximum keeps exp() from overflowing."


@pytest.fixture(scope="module")
def student_work(tmp_path_factory) -> Path:
    """The self-learner's folder, made by the same tool ``make lab`` runs."""
    work = tmp_path_factory.mktemp("student-work")
    student_workspace.prepare(work)
    return work


@pytest.fixture(scope="module")
def student_lab(student_work, tmp_path_factory):
    """JupyterLab rooted at the student folder (the instructor's course/ is not in it)."""
    server = start_lab(student_work, tmp_path_factory.mktemp("student-home"))
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="module")
def student_notebook(student_work):
    assignment = pick_student_assignment()
    assert not assignment.synthetic, "no course notebook has a graded function with a check cell"
    rel = f"{assignment.name}/{assignment.notebook}"
    assert (student_work / rel).is_file(), f"{rel} missing from the student folder"
    return assignment, rel


def test_make_lab_opens_the_student_folder_and_works_as_root():
    """`make lab` prepares the student folder and serves it, with --allow-root as root."""
    dry = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert "tools/student_workspace.py student-work" in dry, dry
    assert "--ServerApp.root_dir=student-work" in dry, dry
    import os
    if os.geteuid() == 0:
        assert "--allow-root" in dry, f"JupyterLab refuses root without --allow-root:\n{dry}"


def _check_cell_index(nb, grade_id: str) -> int:
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and re.search(rf"\bcheck_{grade_id}\(\s*{grade_id}\b", c.source):
            return i
    raise AssertionError(f"no visible check cell check_{grade_id}({grade_id}) in the notebook")


def _validate(page, shots, step: str, expect: str):
    """Click the Validate toolbar button; return the result dialog's message element."""
    page.locator(f"{ui.PANEL} .validate-button").click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=ui.RUN_TIMEOUT)
    message = dialog.locator(f"#validation-message.validation-{expect}")
    message.wait_for(timeout=5_000)
    shots(step)
    return dialog, message


def test_nbgrader_lab_extension_enabled(student_lab):
    lab = student_lab
    """The page JupyterLab serves loads @jupyter/nbgrader and disables none of it."""
    req = urllib.request.Request(lab.lab_url(), headers={"Authorization": f"token {lab.token}"})
    html = urllib.request.urlopen(req, timeout=30).read().decode()
    match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      html, re.S)
    assert match, "no jupyter-config-data in the JupyterLab page"
    config = json.loads(match.group(1))
    names = [ext["name"] for ext in config.get("federated_extensions", [])]
    assert "@jupyter/nbgrader" in names, f"@jupyter/nbgrader not loaded; extensions: {names}"
    disabled = [d for d in config.get("disabledExtensions", []) if d.startswith("@jupyter/nbgrader")]
    assert not disabled, f"nbgrader lab plugins disabled: {disabled}"


def test_student_runs_fills_and_validates(student_lab, page, shots, student_notebook, student_work):
    lab = student_lab
    assignment, rel = student_notebook
    released = nbformat.read(student_work / rel, as_version=4)
    source = nbformat.read(REPO / "course" / assignment.name / assignment.notebook, as_version=4)
    assert not any("BEGIN SOLUTION" in c.source or "BEGIN HIDDEN TESTS" in c.source
                   for c in released.cells), "the student folder holds solutions or hidden tests"
    source_by_id = {nbgrader_meta(c).get("grade_id"): c for c in source.cells}
    solutions = solution_code_cells(released)
    first_index, first_id = solutions[0]
    check_index = _check_cell_index(released, first_id)
    # every figure of the executed source notebook must render (the synthetic one has 2)
    expected_images = png_output_count(source)
    assert expected_images > 0

    # 1. open the released notebook: no outputs yet, nbgrader's Validate button is there
    ui.open_notebook(page, lab, rel)
    assert page.locator(f"{ui.PANEL} .validate-button").is_visible(), \
        "nbgrader's Validate button is missing from the notebook toolbar"
    assert page.locator(f"{ui.PANEL} .jp-OutputArea-output img").count() == 0
    shots("opened")

    # 2. Run > Run All Cells: the blank exercise stops the run; its check explains why
    ui.menu(page, "Run", "Run All Cells")
    ui.wait_run(page)
    check_out = ui.cell(page, check_index).locator(".jp-OutputArea")
    check_text = check_out.inner_text()
    assert re.search(r"\b0/\d+ checks passed", check_text), check_text
    assert "NotImplementedError" in check_text, check_text
    ui.cell(page, check_index).scroll_into_view_if_needed()
    shots("run-all-blank-check-hint")

    # 3. type a correct implementation into every solution cell (the first one first),
    #    run it and re-run its visible check
    for index, grade_id in solutions:
        ui.replace_cell_source(page, index, instructor_solution(source_by_id[grade_id].source))
        ui.run_cell(page, index)
        if index == first_index:
            ui.run_cell(page, check_index)
            check_out.filter(has_text="All checks passed").wait_for(timeout=120_000)
            check_text = check_out.inner_text()
            n_passed = re.search(r"\b(\d+)/(\d+) checks passed", check_text)
            assert n_passed and n_passed.group(1) == n_passed.group(2), check_text
            assert "FAIL" not in check_text, check_text
            ui.cell(page, check_index).scroll_into_view_if_needed()
            shots("check-passes")
    # ... and answer the written questions (Validate rejects "YOUR ANSWER HERE")
    for index, _, _ in written_answer_cells(released):
        ui.write_markdown_answer(page, index, WRITTEN_ANSWER)
    ui.wait_kernel_idle(page)

    # 4. Kernel > Restart Kernel and Run All Cells: no errors, every heatmap renders
    ui.menu(page, "Kernel", "Restart Kernel and Run All Cells…")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    ui.wait_run(page)
    assert ui.error_outputs(page) == [], ui.error_outputs(page)
    numbered = ui.prompts(page)
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in numbered), \
        f"not every code cell ran: {numbered}"

    images = page.locator(f"{ui.PANEL} .jp-OutputArea-output img")
    assert images.count() == expected_images, (
        f"{images.count()} images rendered; the executed source notebook has "
        f"{expected_images} PNG outputs")
    decoded = images.evaluate_all(
        "els => els.map(el => [el.complete, el.naturalWidth, el.naturalHeight, el.src])")
    for i, (complete, width, height, src) in enumerate(decoded):
        assert complete and width > 0 and height > 0, \
            f"image {i} was not decoded by the browser: {width}x{height}, complete={complete}"
        size, std, colours = ui.png_stats(ui.img_src_png(src))
        assert std > 5 and colours > 16, \
            f"image {i} {size} is blank: grey-level std {std:.1f}, {colours} colours"
    for i in sorted({0, len(decoded) - 1}):  # and as pixels on the screen
        images.nth(i).scroll_into_view_if_needed()
        shown = images.nth(i).screenshot()
        _, std, colours = ui.png_stats(shown)
        assert std > 5 and colours > 16, \
            f"image {i} is blank on screen: grey-level std {std:.1f}, {colours} colours"
    shots("heatmap-rendered", locator=images.first)
    shots("restart-run-all-heatmaps")

    # 5. Validate: success
    dialog, message = _validate(page, shots, "validate-success", "success")
    assert "Success! Your notebook passes all the tests." in message.inner_text()
    dialog.locator(".jp-mod-accept").click()
    assert page.js_errors == [], page.js_errors
