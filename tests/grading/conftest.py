from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m grading ARGS`` in a subprocess, as an instructor would run it."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_stock_nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Stock ``nbgrader`` run from the course root ``root`` (its own nbgrader_config.py)."""
    env = dict(os.environ, PYTHONHASHSEED="0",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def run_cli_here(*args: str) -> subprocess.CompletedProcess:
    """``python -m grading ARGS`` in this process (cheaper for read-only commands)."""
    import contextlib
    import io

    from grading.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return subprocess.CompletedProcess(["python", "-m", "grading", *args], rc,
                                       out.getvalue(), err.getvalue())
