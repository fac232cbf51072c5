"""nbgrader configuration of the course "Attention, from scratch".

Run stock nbgrader from this folder (the course root), e.g.::

    cd grading && nbgrader generate_assignment 03-softmax --force
    cd grading && nbgrader autograde 03-softmax
    cd grading && nbgrader generate_feedback 03-softmax
    cd grading && jupyter lab        # formgrader: nbgrader's "Formgrader" panel

`python -m grading ...` loads this same file (and stops on any error in it; stock nbgrader
only logs such an error and continues with defaults, so keep this file trivially simple).

Paths: the course root is the folder nbgrader runs in (here: grading/); release/,
submitted/, autograded/, feedback/ and gradebook.db live there. The SOURCE notebooks are
read from the repository's course/ folder (absolute path), so authors edit one copy.
"""
import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# The repository's course/ folder holds the nbgrader source notebooks.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.course_id = "attention-from-scratch"
c.CourseDirectory.source_directory = os.path.join(_REPO, "course")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            ".DS_Store", "*.bak"]

# Per-cell execution timeout in seconds (nbgrader default: 30). A timed-out cell gets a
# CellTimeoutError output and 0 points; later cells still run.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0

# Before grading, nbgrader metadata naming no cell of the assignment (a renamed grade_id, an
# invented graded cell, a string instead of a dict) is dropped: the cell runs as ordinary code.
# Cell flags a student changed (e.g. grade: false on a test cell) are put
# back from the gradebook, and deleted test cells are re-added (graded, not left to manual).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "grading.preprocessors.DropUnknownCellMetadata",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "grading.preprocessors.RestoreCellFlags",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.OverwriteCells.add_missing_cells = True

# Autograde executes every submission in the sandbox (grading/sandbox.py, see its docs)
# instead of nbgrader's in-process Execute: the same chain as nbgrader's default with only
# the first step replaced. Names are strings so this file imports nothing.
c.Autograde.autograde_preprocessors = [
    "grading.preprocessors.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Students' output is capped in the autograded notebook (and so in the feedback).
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback shows grades, never hidden tests. NeutraliseHiddenTestDelimiters first makes
# delimiter text a student typed into a non-test cell inert (ClearHiddenTests would raise and
# the student would get no feedback). ClearHiddenTests removes the hidden source and
# HideHiddenTestTracebacks (run first, while the markers are still there) reduces errors
# of hidden-test cells to "ExceptionType: message" (a traceback would quote hidden lines).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grading.preprocessors.NeutraliseHiddenTestDelimiters",
    "grading.preprocessors.HideHiddenTestTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Every HTML page made from a student's notebook is sanitised (grading/sanitize.py): the
# feedback, and the formgrader's view of a submission (nbgrader renders it with
# HTMLExporter and this configuration, inside JupyterLab's origin). Markdown, raw cells and
# HTML outputs are cleaned against an allowlist; outputs a page could run or load something
# from (JavaScript, widgets, unknown types, image metadata) are dropped.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "grading.sanitize.clean_html",
                          "markdown2html": "grading.sanitize.SanitizedMarkdown"}
c.HTMLExporter.preprocessors = ["grading.sanitize.SanitizeOutputs"]
c.HTMLExporter.exclude_anchor_links = True  # heading ids are dropped: their links would be dead

# Caps per sandboxed submission: one cgroup each (grading/cgroups.py, grading/README.md
# "Isolation and deployment"), on ALL its processes together. The memory cap in force is
# min(memory_mb, 80% of RAM / --jobs); processes default to the per-process limit + 64; CPU
# to CPUs / --jobs. `python -m grading autograde --jobs N` (N > 1) refuses to run where no
# cgroup can be created unless allow_parallel_without is True (or --allow-no-cgroups).
c.SandboxCgroups.memory_mb = 4096
c.SandboxCgroups.max_processes = 0  # 0: derived
c.SandboxCgroups.cpus = 0.0  # 0: derived
c.SandboxCgroups.allow_parallel_without = False
