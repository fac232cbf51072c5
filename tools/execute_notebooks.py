"""Re-execute course notebooks in place so their committed outputs are fresh.

    python tools/execute_notebooks.py            # build (tools/notebooks/*.py) and run all
    python tools/execute_notebooks.py course/03-softmax/softmax.ipynb   # just one

Each notebook runs in its own folder with a fresh kernel, deterministically (PYTHONHASHSEED
fixed, notebooks seed their own RNGs). Volatile metadata is dropped so re-running without a
change gives a byte-identical file.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT_S = 300


def build_all() -> None:
    """Run every builder in tools/notebooks/ (each writes its course/ notebook)."""
    sys.path.insert(0, str(REPO))
    for builder in sorted((REPO / "tools" / "notebooks").glob("[!_]*.py")):
        module = importlib.import_module(f"tools.notebooks.{builder.stem}")
        module.build()


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    # explicitly, not setdefault: a CI machine's MPLBACKEND=Agg would leave every figure out
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    start = time.perf_counter()
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--no-build", action="store_true",
                        help="execute the committed notebooks without rebuilding them")
    args = parser.parse_args(argv)
    if not args.notebooks and not args.no_build:
        build_all()
    paths = args.notebooks or sorted((REPO / "course").glob("*/*.ipynb"))
    for path in paths:
        print(f"executing {path.relative_to(REPO) if path.is_absolute() else path} ...",
              end=" ", flush=True)
        print(f"{execute(path):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
