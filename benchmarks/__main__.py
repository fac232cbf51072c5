"""``python -m benchmarks [--only NAME ...] [--quick] [--out FILE]``: print the table,
write it as JSON (default benchmarks/results/latest.json)."""
from __future__ import annotations

import argparse
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from . import autograde, course_exec, heatmap, tiled

SUITES = {"course": course_exec.run, "autograde": autograde.run,
          "heatmap": heatmap.run, "tiled": tiled.run}
QUICK = {"course": {}, "autograde": {"n_submissions": 4},
         "heatmap": {"sizes": (16, 128), "repeats": 2},
         "tiled": {"sizes": (256,), "repeats": 1}}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "; ".join(value)
    return "" if value is None else str(value)


def render(rows: list[dict]) -> str:
    """One block per benchmark: its rows as key=value lines, ratios and targets included."""
    lines = []
    for row in rows:
        head = row["benchmark"]
        body = ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()
                         if k != "benchmark" and v is not None)
        lines.append(f"{head:10s} {body}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--only", nargs="*", choices=sorted(SUITES), default=sorted(SUITES))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "latest.json")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for name in args.only:
        kwargs = QUICK[name] if args.quick else {}
        print(f"running {name} ...", flush=True)
        rows += SUITES[name](**kwargs)
    print(render(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "rows": rows}, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
