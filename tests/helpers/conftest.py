"""Shared fixtures for the helpers tests: a headless backend, no leaked figures, and a
pinned style plus PNG-baseline comparison for the image tests.

Regenerating the baselines (after an intended change to how a figure looks)::

    HELPERS_REGENERATE_BASELINES=1 .venv/bin/python -m pytest -o addopts="" \
        tests/helpers -k baseline

then LOOK at every PNG in tests/helpers/baseline/ before committing it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in this process

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.testing import set_font_settings_for_testing  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

BASELINE_DIR = Path(__file__).parent / "baseline"
REGENERATE = os.environ.get("HELPERS_REGENERATE_BASELINES") == "1"
# RMS difference (0-255 scale) allowed between a rendering and its baseline: absorbs
# anti-aliasing noise, far below a changed colour, label or hatch.
TOLERANCE = 2.0


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def fixed_style():
    """matplotlib's default style with the test fonts (DejaVu Sans, no hinting)."""
    with matplotlib.rc_context():
        matplotlib.style.use("default")
        set_font_settings_for_testing()
        matplotlib.rcParams["savefig.dpi"] = "figure"
        yield


@pytest.fixture
def match_baseline(fixed_style, tmp_path):
    """``match_baseline(fig, name)``: fail unless ``fig`` looks like baseline/<name>.png."""

    def check(fig: Figure, name: str) -> None:
        actual = tmp_path / f"{name}.png"
        fig.savefig(actual, metadata={"Software": None})
        expected = BASELINE_DIR / f"{name}.png"
        if REGENERATE:
            BASELINE_DIR.mkdir(exist_ok=True)
            shutil.copyfile(actual, expected)
        assert expected.exists(), (f"no baseline {expected}; create it with "
                                   f"HELPERS_REGENERATE_BASELINES=1 (see conftest.py)")
        diff = compare_images(str(expected), str(actual), tol=TOLERANCE)
        assert diff is None, f"{name} differs from its baseline: {diff}"

    return check

