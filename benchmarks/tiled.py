"""Tiled attention (notebook 07's solution) against naive numpy attention and torch SDPA:
time and peak extra memory at n = 512 ... 4096 (one head, d = 64).

The tiled implementation is taken from the source notebook's solution cells (executed in a
namespace), so the benchmark measures the code the course teaches. Peak memory of each
method is measured in a fresh subprocess as the rise of the resident-set high-water mark
(VmHWM, reset through /proc/self/clear_refs after a warm-up call) over the resident set
once the inputs exist, which treats numpy and torch alike (tracemalloc cannot see torch).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "course" / "07-efficient-attention" / "efficient_attention.ipynb"
SOLUTION_IDS = ("online_softmax", "tiled_attention")

_CHILD = r"""
import json, math, sys, time
import numpy as np
method, n, d, block, repeats, code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ns = {"np": np, "math": math}
exec(code, ns)
rng = np.random.default_rng(0)
Q, K, V = (rng.standard_normal((n, d)) for _ in range(3))
if method == "sdpa":
    import torch
    torch.set_num_threads(2)
    Qt, Kt, Vt = (torch.from_numpy(a) for a in (Q, K, V))
    fn = lambda: torch.nn.functional.scaled_dot_product_attention(Qt, Kt, Vt)
elif method == "naive":
    def fn():
        s = Q @ K.T / np.sqrt(d)
        w = np.exp(s - s.max(-1, keepdims=True))
        return (w / w.sum(-1, keepdims=True)) @ V
else:
    fn = lambda: ns["tiled_attention"](Q, K, V, block)
def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
fn()  # warm-up: first-call allocations (thread pools, caches) are not the method's
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
base = status_kib("VmRSS")
times = []
for _ in range(repeats):
    t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
peak_kib = status_kib("VmHWM") - base
times.sort()
print(json.dumps({"time_s": times[len(times) // 2], "peak_mib": peak_kib / 1024}))
"""


def solution_code(path: Path = NOTEBOOK) -> str:
    """Source of the notebook's solution cells for the graded functions (with solutions)."""
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade_id") in SOLUTION_IDS]
    if not cells:
        raise LookupError(f"no solution cells {SOLUTION_IDS} in {path}")
    return "\n\n".join(cells)


def measure(method: str, n: int, d: int = 64, block: int = 128, repeats: int = 3) -> dict:
    code = solution_code() if method == "tiled" else ""
    done = subprocess.run([sys.executable, "-c", _CHILD, method, str(n), str(d), str(block),
                           str(repeats), code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes=(512, 1024, 2048, 4096), repeats: int = 3) -> list[dict]:
    rows = []
    for n in sizes:
        res = {m: measure(m, n, repeats=repeats) for m in ("naive", "tiled", "sdpa")}
        rows.append({"benchmark": "tiled", "n": n,
                     **{f"{m}_s": r["time_s"] for m, r in res.items()},
                     **{f"{m}_peak_mib": r["peak_mib"] for m, r in res.items()},
                     "memory_ratio_naive_over_tiled":
                         res["naive"]["peak_mib"] / max(res["tiled"]["peak_mib"], 1e-3)})
    return rows
