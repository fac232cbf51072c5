"""grading.sandbox: status summary, limits, and the no-bubblewrap fallback (loud)."""
from __future__ import annotations

import time

import pytest

from grading import sandbox
from grading.sandbox import Limits, execute_notebook
from tests.hostile.conftest import build_notebook, scores


def test_summarise_groups_cells_and_picks_the_most_serious():
    status, reason = sandbox._summarise([
        {"kind": "output-limit", "cell": "#4", "detail": "too much"},
        {"kind": "tampered", "cell": "test_a", "detail": "grading integrity: x"},
        {"kind": "tampered", "cell": "test_b", "detail": "grading integrity: x"},
    ])
    assert status == "tampered"
    assert reason == ("tampered in cells test_a, test_b: grading integrity: x; "
                      "output limit in cell #4: too much")
    assert sandbox._summarise([]) == ("ok", "")


def test_wall_timeout_is_derived_from_the_cells():
    assert Limits(cell_timeout=10).derived_wall_timeout(3) == 120 + 3 * 20
    assert Limits(wall_timeout=7).derived_wall_timeout(100) == 7


def test_wall_clock_limit_kills_the_run_and_fails_untested_cells(tmp_path):
    nb = build_notebook("import time\ntime.sleep(120)")
    t0 = time.monotonic()
    out = execute_notebook(nb, tmp_path, Limits(cell_timeout=300, wall_timeout=15))
    assert time.monotonic() - t0 < 60
    assert out.status == "timeout" and "wall-clock" in out.reason
    assert scores(out.notebook) == {"test_double": 0, "test_halve": 0}


def test_without_bubblewrap_it_says_so_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADING_NO_BWRAP", "1")
    sandbox._bwrap.cache_clear()
    try:
        assert sandbox.isolation_summary().startswith("WARNING: NO SANDBOX")
        with pytest.warns(sandbox.SandboxWarning):
            out = execute_notebook(build_notebook("import os\nos._exit(2)"), tmp_path,
                                   Limits(cell_timeout=60))
        assert out.isolation.startswith("WARNING: NO SANDBOX")
        assert out.status == "dead-kernel" and "code 2" in out.reason
        assert scores(out.notebook) == {"test_double": 1, "test_halve": 1}
    finally:
        monkeypatch.delenv("GRADING_NO_BWRAP")
        sandbox._bwrap.cache_clear()


def test_notebook_kernelspec_is_ignored(tmp_path):
    nb = build_notebook("import sys\nprint(sys.executable)")
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "evil", "language": "python"}
    out = execute_notebook(nb, tmp_path, Limits(cell_timeout=60))
    assert out.status == "ok", out.reason
    assert scores(out.notebook) == {"test_double": 1, "test_halve": 1}


def test_default_course_root_data_in_grading_is_hidden(tmp_path):
    """grading/ is bound for its code, but it is also the default course root: a gradebook
    (which stores hidden tests) or a submissions folder there must be out of sight."""
    import uuid
    from pathlib import Path

    import grading
    pkg = Path(grading.__file__).resolve().parent
    probe_file = pkg / f"_probe_{uuid.uuid4().hex}.db"
    probe_dir = pkg / f"_probe_{uuid.uuid4().hex}"
    probe_file.write_text("hidden tests live here")
    probe_dir.mkdir()
    (probe_dir / "other_student.ipynb").write_text("{}")
    try:
        nb = build_notebook(
            f"import os\n"
            f"try:\n    seen_file = open({str(probe_file)!r}).read()\n"
            f"except OSError:\n    seen_file = ''\n"
            f"try:\n    seen_dir = os.listdir({str(probe_dir)!r})\n"
            f"except OSError:\n    seen_dir = []\n"
            f"assert seen_file == '' and seen_dir == [], (seen_file, seen_dir)\n"
            f"assert os.path.exists({str(pkg / 'sandbox.py')!r})")
        out = execute_notebook(nb, tmp_path, Limits(cell_timeout=60))
        student_cell = next(c for c in out.notebook.cells
                            if "seen_file" in c.source and c.cell_type == "code")
        errors = [o for o in student_cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"the sandbox could read the course-root data: {errors}"
    finally:
        probe_file.unlink()
        (probe_dir / "other_student.ipynb").unlink()
        probe_dir.rmdir()
