"""Course execution: wall time per source notebook against the time its cells compute.

Kernel start-up and shutdown show up as the difference (overhead). Targets: each notebook
under 60 s on 2 cores, the whole course under 4 minutes.
"""
from __future__ import annotations

import copy
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_TARGET_S = 60.0
COURSE_TARGET_S = 240.0


def _cell_seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def execute_timed(path: Path) -> tuple[float, list[tuple[float, int, str]]]:
    """Execute a copy of the notebook; return wall seconds and (seconds, index, first line)
    for every code cell."""
    nb = copy.deepcopy(nbformat.read(path, as_version=4))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    cells = [(_cell_seconds(c), i, (c.source.splitlines() or [""])[0][:60])
             for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return wall, cells


def run(notebooks: list[Path] | None = None, slowest: int = 3) -> list[dict]:
    paths = notebooks or sorted((REPO / "course").glob("*/*.ipynb"))
    rows = []
    for path in paths:
        wall, cells = execute_timed(path)
        compute = sum(s for s, _, _ in cells)
        top = sorted(cells, reverse=True)[:slowest]
        rows.append({"benchmark": "course", "notebook": str(path.relative_to(REPO)),
                     "wall_s": wall, "cells_s": compute, "overhead_s": wall - compute,
                     "slowest_cells": [f"cell {i} ({s:.2f} s): {line}" for s, i, line in top],
                     "target": f"< {NOTEBOOK_TARGET_S:.0f} s",
                     "met": wall < NOTEBOOK_TARGET_S})
    total = sum(r["wall_s"] for r in rows)
    rows.append({"benchmark": "course", "notebook": "TOTAL", "wall_s": total,
                 "cells_s": sum(r["cells_s"] for r in rows), "overhead_s": None,
                 "target": f"< {COURSE_TARGET_S:.0f} s", "met": total < COURSE_TARGET_S})
    return rows
