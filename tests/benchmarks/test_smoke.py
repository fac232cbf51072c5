"""The benchmark code runs on tiny sizes, so it cannot rot. No timing is asserted here:
the targets are checked by ``python -m benchmarks`` itself and reported, not tested."""
from __future__ import annotations

import json

from benchmarks import __main__ as bench
from benchmarks import course_exec, heatmap, tiled


def test_heatmap_benchmark_reports_a_ratio_per_size():
    rows = heatmap.run(sizes=(8, 16), repeats=1)
    assert [r["n"] for r in rows] == [8, 16]
    assert all(r["ratio"] > 0 for r in rows)


def test_tiled_benchmark_measures_all_three_methods():
    (row,) = tiled.run(sizes=(64,), repeats=1)
    for method in ("naive", "tiled", "sdpa"):
        assert row[f"{method}_s"] > 0, f"{method} was not timed: {row}"
        assert row[f"{method}_peak_mib"] >= 0


def test_course_benchmark_times_cells_and_overhead():
    path = course_exec.REPO / "course" / "00-setup" / "setup.ipynb"
    rows = course_exec.run([path])
    nb_row, total = rows
    assert nb_row["cells_s"] > 0 and nb_row["wall_s"] >= nb_row["cells_s"]
    assert total["notebook"] == "TOTAL"


def test_cli_writes_json_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--only", "heatmap", "--quick", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows and "heatmap" in capsys.readouterr().out


def test_autograde_benchmark_grades_equal_on_a_few_submissions():
    from benchmarks import autograde
    (row,) = autograde.run(n_submissions=3, jobs=2)
    assert row["grades_equal"] and row["speedup"] > 0
