"""Load the nbgrader configuration for a course root, failing loudly.

Stock nbgrader logs an exception raised inside ``nbgrader_config.py`` and carries on with
defaults; every ``python -m grading`` command loads the configuration through
:func:`load_config` instead, which raises :class:`ConfigError`.

Layering: the course configuration ``grading/nbgrader_config.py`` first, then the course
root's own ``nbgrader_config.py`` when the root is another folder and has one, then the
command-line overrides. ``CourseDirectory.root`` is always the course root given.
"""
from __future__ import annotations

from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from grading import GRADING_DIR

COURSE_CONFIG = GRADING_DIR / "nbgrader_config.py"


class ConfigError(RuntimeError):
    """The nbgrader configuration could not be loaded."""


def _load_file(path: Path) -> Config:
    loader = PyFileConfigLoader(path.name, path=str(path.parent))
    try:
        return loader.load_config()
    except Exception as exc:  # any error in the file is fatal here
        raise ConfigError(f"error in {path}: {type(exc).__name__}: {exc}") from exc


def config_files(course_root: Path) -> list[Path]:
    files = [COURSE_CONFIG]
    local = Path(course_root) / "nbgrader_config.py"
    if local.is_file() and local.resolve() != COURSE_CONFIG.resolve():
        files.append(local)
    return files


def load_config(course_root: Path, *, timeout: int | None = None,
                db_url: str | None = None) -> Config:
    """The merged nbgrader :class:`Config` for ``course_root``."""
    course_root = Path(course_root).resolve()
    cfg = Config()
    for path in config_files(course_root):
        cfg.merge(_load_file(path))
    cfg.CourseDirectory.root = str(course_root)
    if db_url is not None:
        cfg.CourseDirectory.db_url = db_url
    if timeout is not None:
        cfg.Execute.timeout = int(timeout)  # nbgrader's Execute.timeout is an Integer
    source = cfg.CourseDirectory.get("source_directory", "source")
    if not Path(course_root, source).is_dir():
        raise ConfigError(f"source directory {Path(course_root, source)} does not exist")
    return cfg


def cell_timeout(cfg: Config) -> float:
    """The per-cell execution timeout in force (nbgrader's default is 30 s)."""
    if "timeout" in cfg.Execute:
        return float(cfg.Execute.timeout)
    if "timeout" in cfg.ExecutePreprocessor:
        return float(cfg.ExecutePreprocessor.timeout)
    return 30.0
