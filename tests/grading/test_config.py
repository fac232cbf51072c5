"""grading/nbgrader_config.py loads cleanly, says what a course needs, and stock nbgrader
accepts it (source notebooks read from the repo's course/ folder)."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from grading.config import COURSE_CONFIG, ConfigError, load_config
from tests.grading.conftest import REPO, run_cli, run_stock_nbgrader


def test_course_config_loads_and_sets_what_a_course_needs(tmp_path):
    cfg = load_config(tmp_path)
    assert cfg.CourseDirectory.course_id == "attention-from-scratch"
    assert Path(cfg.CourseDirectory.source_directory) == REPO / "course"
    assert Path(cfg.CourseDirectory.root) == tmp_path.resolve()
    assert isinstance(cfg.Execute.timeout, int) and 5 <= cfg.Execute.timeout <= 600
    assert "grading.preprocessors.SandboxedExecute" in cfg.Autograde.autograde_preprocessors
    feedback = list(cfg.GenerateFeedback.preprocessors)
    assert feedback.index("grading.preprocessors.HideHiddenTestTracebacks") < \
        feedback.index("nbgrader.preprocessors.ClearHiddenTests")


def test_every_configured_preprocessor_imports(tmp_path):
    from traitlets.utils.importstring import import_item

    cfg = load_config(tmp_path)
    for name in [*cfg.Autograde.autograde_preprocessors, *cfg.GenerateFeedback.preprocessors]:
        assert isinstance(import_item(name), type), name


def test_timeout_override_is_an_integer_nbgrader_accepts(tmp_path):
    from nbgrader.preprocessors import Execute

    cfg = load_config(tmp_path, timeout=7)
    assert Execute(config=cfg).timeout == 7


def test_broken_local_config_stops_the_cli(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 1/0\n")
    with pytest.raises(ConfigError, match="ZeroDivisionError"):
        load_config(tmp_path)
    done = run_cli("report", "--course-root", str(tmp_path))
    assert done.returncode != 0
    assert "ZeroDivisionError" in done.stderr


def test_missing_source_directory_is_an_error(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'nowhere'\n")
    with pytest.raises(ConfigError, match="nowhere"):
        load_config(tmp_path)


def _course_assignments():
    return sorted(p.parent.name for p in (REPO / "course").glob("*/*.ipynb"))


def test_stock_nbgrader_releases_from_the_repo_course_folder(tmp_path):
    """Stock `nbgrader generate_assignment` with the course config (as from grading/),
    here in a scratch root that loads grading/nbgrader_config.py."""
    assignments = _course_assignments()
    assert assignments, "no course notebooks yet"
    assignment = assignments[0]
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig(r'{COURSE_CONFIG}')\n")
    done = run_stock_nbgrader(tmp_path, "generate_assignment", assignment, "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    released = sorted((tmp_path / "release" / assignment).glob("*.ipynb"))
    sources = sorted((REPO / "course" / assignment).glob("*.ipynb"))
    assert [p.name for p in released] == [p.name for p in sources]
    text = released[0].read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert (tmp_path / "gradebook.db").is_file()
    assert not (tmp_path / "source").exists()


def test_formgrader_api_lists_the_course_assignments(tmp_path, monkeypatch):
    """nbgrader's formgrader is built on NbGraderAPI: with the course config it sees every
    assignment of the repo's course/ folder as a source assignment."""
    import os
    import sys

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))   # nbgrader runs `alembic`
    cfg = load_config(tmp_path)
    api = NbGraderAPI(CourseDirectory(config=cfg), config=cfg)
    assert sorted(api.get_source_assignments()) == _course_assignments()
    assert {a["name"] for a in api.get_assignments()} == set(_course_assignments())
