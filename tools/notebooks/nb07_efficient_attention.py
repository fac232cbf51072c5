"""Builder for course/07-efficient-attention/efficient_attention.ipynb (COURSE_SPEC §3, row 07).

Graded: ``online_softmax(x, block_size)`` and ``tiled_attention(Q, K, V, block_size,
causal=False)``. Hidden tests compare with torch built-ins; two of them check *how* the work
is done: a recording array for the streaming softmax (numpy's conversion functions keep it
recording, and a run in which nothing was observed fails), and the peak resident memory of
a forked child process for the tiles (it sees numpy and torch alike; tracemalloc sees numpy
only). Points are split by property, one test cell per property group.
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, locked, md, notebook, solution, tests, write

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "course" / "07-efficient-attention" / "efficient_attention.ipynb"

INTRO = md("""
# 07 · Efficient attention: online softmax and tiled attention

Every query scores every key. For a sequence of `n` tokens that is an `n × n` matrix of
scores, and it is the reason long contexts are expensive. In this notebook you measure that
cost, then remove the memory part of it with the trick behind FlashAttention.

**Learning goals**

- measure the time and the peak memory of naive attention and see them grow like `n²`;
- compute the normaliser of a softmax in **one streaming pass** over blocks, with a
  running maximum and a running sum (*online softmax*);
- compute attention **tile by tile** (blocks of K and V), rescaling the partial output when
  the running maximum changes, exactly equal to the naive result, with or without a causal
  mask;
- compare time and memory of naive, tiled and `torch.nn.functional.scaled_dot_product_attention`.
""")

IMPORTS = code("""
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from helpers import show_attention
from helpers.checks import check_online_softmax, check_tiled_attention
from helpers.checks.efficient import MemoryMeasurementUnavailable, peak_rss_growth

np.set_printoptions(precision=4, suppress=True)
""")

WHY_COST = md("""
## 1. Why: the cost of the score matrix

Naive attention for `Q: (n_q, d)`, `K: (n_k, d)`, `V: (n_k, d_v)`:

$$S = \\frac{Q K^\\top}{\\sqrt{d}} \\;:\\; (n_q, n_k), \\qquad
P = \\operatorname{softmax}(S) \\;:\\; (n_q, n_k), \\qquad O = P V \\;:\\; (n_q, d_v).$$

`S` and `P` hold one number per (query, key) pair. Some tutorials say attention "avoids
processing the whole sequence" because it *focuses* on a few tokens. The weights may focus,
but to know where to focus, every query has to score **every** key first: the work and the
memory are `n_q · n_k`, whatever the weights end up looking like.

The cell below re-defines the naive attention of notebook 04 (in numpy, with an optional
causal mask) and a small tool that measures the time and the peak memory of a call. Peak
memory is measured the way the operating system sees it: the call runs again in a copy of
this process (a forked child), and we read how far the child's peak resident memory rises
above what it held before the call. That counts every allocation, numpy's and torch's
alike. (Python's `tracemalloc` would be simpler, but it sees only memory allocated through
Python, so it misses everything torch allocates.)
""")

NAIVE = locked("""
def naive_attention(Q, K, V, causal=False):
    \"\"\"softmax(Q K^T / sqrt(d)) V, building the full (n_q, n_k) score matrix.\"\"\"
    S = Q @ np.swapaxes(K, -1, -2) / math.sqrt(Q.shape[-1])
    if causal:
        n_q, n_k = S.shape[-2:]
        S = np.where(np.arange(n_k) <= np.arange(n_q)[:, None], S, -np.inf)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    return (P / P.sum(axis=-1, keepdims=True)) @ V


def measure(fn, *args, **kwargs):
    \"\"\"(seconds, peak bytes) of one call fn(*args, **kwargs).

    seconds: wall time of the call here. peak bytes: how far the peak resident memory of a
    forked child process rises while it makes the same call (after one warm-up call), so
    numpy and torch allocations both count; None where the system cannot measure it
    (it needs Linux's /proc).
    \"\"\"
    start = time.perf_counter()
    fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    try:
        peak = peak_rss_growth(lambda: fn(*args, **kwargs), warmup=lambda: fn(*args, **kwargs))
    except MemoryMeasurementUnavailable:
        peak = None
    return seconds, peak
""", "naive_attention")

MEASURE_NAIVE = code("""
# NBVAL_IGNORE_OUTPUT
# (timings and memory vary from machine to machine)
rng = np.random.default_rng(0)
d = 64
print(f"{'n':>6} {'time (ms)':>10} {'peak (MB)':>10} {'peak / (n*n*8 bytes)':>22}")
for n in (256, 512, 1024, 2048):
    Q, K, V = (rng.standard_normal((n, d)) for _ in range(3))
    seconds, peak = measure(naive_attention, Q, K, V)
    if peak is None:
        print(f"{n:>6} {seconds * 1e3:>10.1f} {'n/a':>10} {'n/a':>22}")
    else:
        print(f"{n:>6} {seconds * 1e3:>10.1f} {peak / 1e6:>10.1f} {peak / (n * n * 8):>22.2f}")
""")

AFTER_COST = md("""
**What just happened.** Each doubling of `n` multiplies the peak memory by about 4, and the
last column stays constant: the peak is a fixed number of `n × n` float64 matrices (the
scores, their exponentials, the weights). Time grows the same way once `n` is large enough
for the matrix products to dominate. At `n = 100 000` tokens a single `n × n` float64 matrix
would need 80 GB.

The output, though, is only `(n_q, d_v)`. If we never keep the whole score matrix, memory can
be linear in `n`. The obstacle is softmax: it divides by a sum over the **whole** row and
subtracts the row's maximum, which we only know after seeing every key.
""")

WHY_ONLINE = md("""
## 2. Online softmax: running maximum and running sum in one pass

Read a row `x` in blocks of `block_size` columns, one after another, and keep two numbers per
row: the running maximum `m` and the running sum `ℓ` of `exp(x - m)` over the columns seen so
far. When block `j` arrives:

$$m_{\\text{new}} = \\max\\big(m,\\ \\max_{i \\in j} x_i\\big), \\qquad
\\ell_{\\text{new}} = \\ell \\cdot e^{\\,m - m_{\\text{new}}} + \\sum_{i \\in j} e^{\\,x_i - m_{\\text{new}}}.$$

The factor $e^{m - m_{\\text{new}}}$ is the whole trick: every term already in `ℓ` was
computed as $e^{x_i - m}$, and $e^{x_i - m} \\cdot e^{m - m_{\\text{new}}} = e^{x_i - m_{\\text{new}}}$.
So after the last block, `m` is the row maximum and `ℓ = Σ exp(x_i - m)`, and
`softmax(x) = exp(x - m) / ℓ`. Shapes: `x: (..., n)`, `m` and `ℓ: (..., 1)`.
(Milakov & Gimelshein, 2018.)

Be precise about "one pass": the *normaliser* (`m` and `ℓ`) takes one pass over the blocks,
where the textbook stable softmax needs two (one for the maximum, one for the sum). Writing
the probabilities `exp(x - m) / ℓ` still reads the row a second time, because every
probability needs the final `m` and `ℓ`. Tiled attention (section 3) removes that second
pass too: it never writes the probabilities, it multiplies each block of them by `V` at once.

The picture: one row of 20 scores read in blocks of 6. The running maximum (orange) only
ever goes up; each time it jumps, the sum collected so far must be rescaled.
""")

PICTURE_ONLINE = code("""
row = np.array([1.0, -0.5, 2.0, 0.3, -1.2, 0.8, 0.2, 3.1, -0.7, 1.5, 0.0, 2.2,
                -0.3, 1.1, 4.0, 0.6, 2.7, -1.0, 0.9, 3.3])
block = 6
starts = np.arange(0, row.size, block)
running_max = np.maximum.accumulate([row[s:s + block].max() for s in starts])

fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
ax.bar(np.arange(row.size), row, color="0.6", label="scores x")
ax.step(np.append(starts, row.size), np.append(running_max, running_max[-1]), where="post",
        color="tab:orange", lw=2, label="running max after each block")
for s in starts[1:]:
    ax.axvline(s - 0.5, color="black", ls=":", lw=1)
ax.set(xlabel="column", ylabel="score", title="online softmax reads a row block by block")
ax.legend(loc="upper left", fontsize=8)
plt.show()
""")

TASK_ONLINE = md("""
### Your turn: `online_softmax`

Write `online_softmax(x, block_size)`: the softmax over the last axis of `x`, whose running
maximum and running sum are computed in **one pass over the column blocks**
`x[..., start:start + block_size]`, then normalised. Rules:

- read `x` block by block. A test hands you an array that records how many columns every
  numpy computation on it covers: a computation over all columns before every block was read
  (a "global max" you could not know in a real stream) fails it. The recording survives
  `np.asarray(x)`, `np.array(x)`, `x.astype(...)`, `x.copy()`, reshapes and slices, but it
  only sees numpy: do this exercise in numpy (work done in torch cannot be observed, and a
  run in which nothing could be observed does not get that point);
- the last block may be shorter than `block_size`; any `block_size >= 1` must work, also one
  larger than the row;
- the result must stay right for extreme rows: scores near 1000, a first block far above the
  rest, and rows whose scores are all around -800;
- leading batch dimensions are allowed; do not modify `x`. `x` is float64; results are
  checked to an absolute error of 1e-12.
""")

ONLINE_SOLUTION = solution("""
def online_softmax(x, block_size):
    \"\"\"Softmax over the last axis of x, streaming over blocks of columns.

    x: (..., n) float64 numpy array. block_size: int >= 1, columns per block (the last block
    may be shorter; block_size may exceed n). Returns an array of x's shape equal to
    softmax(x, axis=-1) to an absolute error of 1e-12, finite for any finite x (scores near
    1000, a first block far above the rest, all scores near -800). One pass over the blocks
    keeps a running maximum m (..., 1) and a running sum l (..., 1) of exp(x - m); a second
    pass writes exp(x - m) / l. Graded on how it reads x: no numpy computation may cover
    more than block_size columns of x before every block has been read (the test records
    numpy computations on x, also after np.asarray / np.array / astype; work in numpy).
    x is not modified.
    \"\"\"
    ### BEGIN SOLUTION
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1; got {block_size}")
    n = x.shape[-1]
    m = np.full(x.shape[:-1] + (1,), -np.inf)
    l = np.zeros(x.shape[:-1] + (1,))
    for start in range(0, n, block_size):
        block = x[..., start:start + block_size]
        m_new = np.maximum(m, block.max(axis=-1, keepdims=True))
        l = l * np.exp(m - m_new) + np.exp(block - m_new).sum(axis=-1, keepdims=True)
        m = m_new
    return np.exp(x - m) / l
    ### END SOLUTION
""", "online_softmax")

CHECK_ONLINE = code("check_online_softmax(online_softmax)")

_QUIET = """
import contextlib
import io
import warnings


def quietly_(fn, *args, **kwargs):
    # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
    # test cell as a failure: the answer's warnings and stderr prints are swallowed here
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
"""

TEST_ONLINE = tests(_QUIET + """
import numpy as np
import torch


def softmax_(x):
    return torch.softmax(torch.tensor(x, dtype=torch.float64), dim=-1).numpy()


x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]])
out = quietly_(online_softmax, x.copy(), 3)
assert np.shape(out) == x.shape, f"shape should be {x.shape}; got {np.shape(out)}"
np.testing.assert_allclose(out, softmax_(x), rtol=0, atol=1e-12,
                           err_msg="online_softmax of [1..7] with block_size 3 is not softmax "
                                   "(absolute tolerance 1e-12)")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(2024)
# property: equals softmax(x) when block_size divides the row length
x = rng.normal(size=(4, 24)) * 4
for b in (2, 3, 4, 6, 8, 12, 24):
    out = quietly_(online_softmax, x.copy(), b)
    assert np.shape(out) == x.shape, f"block_size {b}: shape {np.shape(out)}, expected {x.shape}"
    np.testing.assert_allclose(out, softmax_(x), rtol=0, atol=1e-12,
                               err_msg=f"24 columns, block_size {b}: differs from softmax")
# property: any block_size: a last, shorter block (10 columns, block 4), block_size 1, block_size larger than the row
for n in (1, 5, 17, 30):
    x = rng.normal(size=(3, n)) * 4
    for b in (1, 2, 3, 4, 7, 16, 29, 31, 100):
        np.testing.assert_allclose(quietly_(online_softmax, x.copy(), b), softmax_(x),
                                   rtol=0, atol=1e-12,
                                   err_msg=f"{n} columns, block_size {b}: differs from softmax")
# property: a growing row (the max changes in every block) is right
for x in (np.arange(12.0)[None], np.r_[np.zeros(11), 30.0][None], np.arange(0.0, 60.0, 5.0)[None]):
    for b in (1, 4, 5):
        np.testing.assert_allclose(quietly_(online_softmax, x.copy(), b), softmax_(x),
                                   rtol=0, atol=1e-12,
                                   err_msg=f"block_size {b}: wrong when the running maximum grows")
# property: leading batch dims: x of shape (2, 3, 7)
for shape in [(2, 3, 10), (2, 1, 3, 9), (30,)]:
    x = rng.normal(size=shape) * 4
    out = quietly_(online_softmax, x.copy(), 4)
    assert np.shape(out) == shape, f"x of shape {shape}: output shape {np.shape(out)}"
    np.testing.assert_allclose(out, softmax_(x), rtol=0, atol=1e-12,
                               err_msg=f"x of shape {shape}, block_size 4: differs from softmax")
### END HIDDEN TESTS
""", "test_online_softmax", points=2)

TEST_ONLINE_EXTREME = tests(_QUIET + """
import numpy as np
import torch

# extreme rows: scores near 1000, a first block far above the rest, scores near -800
### BEGIN HIDDEN TESTS
def softmax_(x):
    return torch.softmax(torch.tensor(x, dtype=torch.float64), dim=-1).numpy()


rng = np.random.default_rng(99)
# property: large scores: near 1000, and an early block far above the rest
rows = [("scores near 1000", np.array([[1000.0, 1002.0, 999.0, 1005.0, 1001.0]]), (2, 3)),
        ("a first block about 950 above the rest",
         np.r_[950.0, 940.0, 945.0, rng.normal(size=10)][None], (2, 3, 4, 5)),
        ("two rows, the first starting 800 above the rest",
         np.stack([np.r_[800.0, rng.normal(size=8)], rng.normal(size=9)]), (3,))]
for what, x, blocks in rows:
    for b in blocks:
        out = np.asarray(quietly_(online_softmax, x.copy(), b), dtype=np.float64)
        assert np.all(np.isfinite(out)), f"{what}, block_size {b}: non-finite output {out.tolist()}"
        np.testing.assert_allclose(out, softmax_(x), rtol=0, atol=1e-12,
                                   err_msg=f"{what}, block_size {b}: differs from softmax")
# property: very negative scores (around -800) give finite probabilities
x = -800.0 + rng.normal(size=(3, 11))
for b in (2, 4, 20):
    out = np.asarray(quietly_(online_softmax, x.copy(), b), dtype=np.float64)
    assert np.all(np.isfinite(out)), f"scores around -800, block_size {b}: non-finite output"
    np.testing.assert_allclose(out, softmax_(x), rtol=0, atol=1e-12,
                               err_msg=f"scores around -800, block_size {b}: differs from softmax")
### END HIDDEN TESTS
""", "test_online_softmax_extreme", points=1)

TEST_ONLINE_STREAM = tests(_QUIET + """
import numpy as np

# streaming: no computation over more than block_size columns before every block was read
### BEGIN HIDDEN TESTS
class Recorder_(np.ndarray):
    \"\"\"Logs the last-axis width of every numpy ufunc input it takes part in.\"\"\"

    def __array_finalize__(self, obj):
        self.log = getattr(obj, "log", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = []
        for a in inputs:
            if isinstance(a, Recorder_):
                if a.log is not None:
                    a.log.append(a.shape[-1] if a.ndim else 1)
                a = a.view(np.ndarray)
            plain.append(a)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Recorder_) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)


def keep_recording_(convert):
    # np.asarray(x) and friends would drop the recorder; hand one back, same log
    def converted(a, *args, **kwargs):
        out = convert(a, *args, **kwargs)
        if isinstance(a, Recorder_) and type(out) is np.ndarray:
            log = a.log
            out = out.view(Recorder_)
            out.log = log
        return out
    return converted


conversions_ = ("asarray", "asanyarray", "array", "ascontiguousarray", "asfortranarray",
                "copy", "atleast_1d", "atleast_2d", "atleast_3d", "require")
rng = np.random.default_rng(11)
# property: x is read block by block (no maximum over every column first)
for shape, b in [((4, 50), 8), ((3, 2, 21), 5)]:
    x = rng.normal(size=shape)
    rec = x.copy().view(Recorder_)
    rec.log = log = []
    saved_ = {name: getattr(np, name) for name in conversions_}
    try:
        for name, fn in saved_.items():
            setattr(np, name, keep_recording_(fn))
        quietly_(online_softmax, rec, b)        # the values are graded in other cells
    finally:
        for name, fn in saved_.items():
            setattr(np, name, fn)
    n_blocks = -(-shape[-1] // b)
    assert log, ("no numpy computation on x was observed (x was handed to torch or read "
                 "element by element), so the streaming could not be checked")
    first_wide = next((i for i, w in enumerate(log) if w > b), len(log))
    assert first_wide >= n_blocks, (
        f"a computation used {log[first_wide]} columns of x before the {n_blocks} blocks of "
        f"{b} columns had been read: that is not a running (online) maximum")
### END HIDDEN TESTS
""", "test_online_softmax_streaming", points=1)

TEST_ONLINE_INPUT = tests(_QUIET + """
import numpy as np

# x must be left as it was
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(12)
# property: x is not modified
for shape, b in [((3, 10), 4), ((2, 2, 7), 3), ((5,), 10)]:
    x = rng.normal(size=shape) * 3
    x_in = x.copy()
    quietly_(online_softmax, x_in, b)
    assert np.array_equal(x_in, x), f"online_softmax modified its input x (shape {shape})"
### END HIDDEN TESTS
""", "test_online_softmax_input", points=1)

AFTER_ONLINE = md("""
**What just happened.** The softmax never needed the whole row at once: two numbers per row,
updated block by block, were enough. Attention has one more ingredient, the weighted sum of
the values, and the same rescaling trick applies to it.
""")

WHY_TILED = md("""
## 3. Tiled attention (FlashAttention-style)

Walk over the keys and values in blocks `K_j: (B, d)`, `V_j: (B, d_v)`. For all queries at
once compute only one tile of scores, and keep per query a running max `m: (n_q, 1)`, a
running sum `ℓ: (n_q, 1)` and an **unnormalised partial output** `O: (n_q, d_v)`:

$$S_j = \\frac{Q K_j^\\top}{\\sqrt d}\\ (n_q, B),\\quad
m_{\\text{new}} = \\max(m, \\operatorname{rowmax} S_j),\\quad
P_j = e^{\\,S_j - m_{\\text{new}}},\\quad \\alpha = e^{\\,m - m_{\\text{new}}}$$

$$\\ell \\leftarrow \\alpha\\,\\ell + \\operatorname{rowsum} P_j, \\qquad
O \\leftarrow \\alpha\\,O + P_j V_j, \\qquad \\text{and at the end}\\quad \\text{output} = O / \\ell.$$

`O` is rescaled by the same `α` as `ℓ`, for the same reason. Memory: one `(n_q, B)` tile at a
time instead of `(n_q, n_k)`. With `causal=True`, query `i` may see key `k` only when
`k ≤ i`; inside a tile starting at column `start`, compare the **absolute** key index
`start + j` with `i`. (Dao et al., 2022, also tile the queries and fuse everything into one
GPU kernel; the maths is the one above.)

The picture shows the tiles for 12 tokens with `block_size = 4` and a causal mask: each
colour is one block of keys; grey cells are masked and never contribute.
""")

PICTURE_TILES = code("""
n, block = 12, 4
tile_of_key = np.broadcast_to(np.arange(n) // block, (n, n)).astype(float)
causal = np.arange(n) <= np.arange(n)[:, None]
tokens = [f"t{i}" for i in range(n)]
show_attention(tile_of_key, tokens, tokens, mask=causal, vmax=n // block - 1, annotate=False,
               colorbar=False, title="one colour per block of 4 keys; grey = masked (causal)")
plt.show()
""")

TASK_TILED = md("""
### Your turn: `tiled_attention`

Write `tiled_attention(Q, K, V, block_size, causal=False)` with numpy, following the update
rules above. It must equal naive attention for any `n` (also when `n_k` is not a multiple of
`block_size`, or smaller than it), for `n_q ≠ n_k` when not causal, for leading batch
dimensions, and with `causal=True` (which assumes `n_q == n_k`; other shapes are not
graded). Results are checked to an absolute error of `1e-12` (`1e-10` for large scores).

A hidden test measures memory: it calls your function with `n = 4096` tokens and
`block_size = 16` in a forked copy of the kernel and reads how far that process's peak
resident memory rises during the call. Every allocation counts, numpy's or torch's. The
rise must stay below one byte per (query, key) pair (16.8 MB, an eighth of one float64
`4096 × 4096` matrix), so build neither the full scores nor a full `(n, n)` mask.
""")

TILED_SOLUTION = solution("""
def tiled_attention(Q, K, V, block_size, causal=False):
    \"\"\"softmax(Q K^T / sqrt(d)) V computed over blocks of block_size keys (FlashAttention-style).

    Q: (..., n_q, d), K: (..., n_k, d), V: (..., n_k, d_v) float64 numpy arrays; leading dims
    broadcast. block_size: int >= 1 (may exceed n_k). causal: query i may attend to key k only
    when k <= i; causal=True assumes n_q == n_k (other shapes are not graded).
    Returns the output (..., n_q, d_v) as a numpy array, equal to naive attention to an
    absolute error of 1e-12. Keeps a running max (..., n_q, 1), a running sum (..., n_q, 1)
    and an unnormalised output (..., n_q, d_v); never builds the (n_q, n_k) scores or mask.
    Memory is graded as the rise of the process's peak resident memory during one call
    (every allocator counts, numpy and torch alike), measured in a forked child process:
    below n_q * n_k bytes for n = 4096, block_size = 16. Q, K and V are not modified.
    \"\"\"
    ### BEGIN SOLUTION
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1; got {block_size}")
    n_q, d = Q.shape[-2:]
    n_k = K.shape[-2]
    if causal and n_q != n_k:
        raise ValueError(f"causal attention needs n_q == n_k; got {n_q} and {n_k}")
    lead = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    m = np.full(lead + (n_q, 1), -np.inf)
    l = np.zeros(lead + (n_q, 1))
    out = np.zeros(lead + (n_q, V.shape[-1]))
    query_pos = np.arange(n_q)[:, None]
    for start in range(0, n_k, block_size):
        stop = min(start + block_size, n_k)
        S = Q @ np.swapaxes(K[..., start:stop, :], -1, -2) / math.sqrt(d)
        if causal:
            S = np.where(np.arange(start, stop) <= query_pos, S, -np.inf)
        m_new = np.maximum(m, S.max(axis=-1, keepdims=True))
        P = np.exp(S - m_new)
        alpha = np.exp(m - m_new)
        l = alpha * l + P.sum(axis=-1, keepdims=True)
        out = alpha * out + P @ V[..., start:stop, :]
        m = m_new
    return out / l
    ### END SOLUTION
""", "tiled_attention")

CHECK_TILED = code("check_tiled_attention(tiled_attention)")

_SDPA = """
import numpy as np
import torch
import torch.nn.functional as F


def sdpa_(Q, K, V, causal=False):
    q, k, v = (torch.tensor(a, dtype=torch.float64) for a in (Q, K, V))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()


def tiled_(Q, K, V, block_size, causal=False):
    # fresh copies: changing the inputs is graded in its own cell, not here
    return quietly_(tiled_attention, Q.copy(), K.copy(), V.copy(), block_size, causal=causal)
"""

TEST_TILED = tests(_QUIET + _SDPA + """

rng = np.random.default_rng(5)
Q, K, V = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
out = tiled_(Q, K, V, 2)
assert np.shape(out) == (4, 2), f"Q (4, 3), K (6, 3), V (6, 2) should give (4, 2); got {np.shape(out)}"
np.testing.assert_allclose(out, sdpa_(Q, K, V), rtol=0, atol=1e-12,
                           err_msg="tiled_attention with block_size 2 differs from torch SDPA "
                                   "(absolute tolerance 1e-12)")
### BEGIN HIDDEN TESTS
# property: returns (n_q, d_v)
for n_q, n_k, d, d_v in [(5, 7, 4, 3), (1, 9, 2, 2), (3, 1, 4, 5)]:
    out = tiled_(rng.normal(size=(n_q, d)), rng.normal(size=(n_k, d)),
                          rng.normal(size=(n_k, d_v)), 2)
    assert np.shape(out) == (n_q, d_v), f"n_q={n_q}, d_v={d_v}: output shape {np.shape(out)}"
# property: equals softmax(Q K^T / sqrt(d)) V (torch SDPA), block_size 4
for n_q, n_k, d, d_v in [(5, 8, 4, 3), (8, 8, 8, 8), (6, 16, 3, 2)]:
    Q, K, V = rng.normal(size=(n_q, d)) * 2, rng.normal(size=(n_k, d)) * 2, rng.normal(size=(n_k, d_v))
    for b in (1, 2, 4, 8):
        np.testing.assert_allclose(tiled_(Q, K, V, b), sdpa_(Q, K, V), rtol=0, atol=1e-12,
                                   err_msg=f"n_q={n_q}, n_k={n_k}, block_size={b}: differs from SDPA")
# property: any block_size: n_k not divisible (8 keys, block 3), block_size larger than n_k
for n_q, n_k, d, d_v in [(5, 7, 4, 3), (1, 9, 2, 2), (3, 1, 4, 5), (4, 13, 3, 2)]:
    Q, K, V = rng.normal(size=(n_q, d)) * 2, rng.normal(size=(n_k, d)) * 2, rng.normal(size=(n_k, d_v))
    for b in (2, 3, 4, 5, 16, 40):
        np.testing.assert_allclose(tiled_(Q, K, V, b), sdpa_(Q, K, V), rtol=0, atol=1e-12,
                                   err_msg=f"n_q={n_q}, n_k={n_k}, block_size={b}: differs from SDPA")
Q, K, V = np.ones((2, 2)), np.r_[np.zeros((6, 2)), 10 * np.ones((1, 2))], np.arange(14.0).reshape(7, 2)
np.testing.assert_allclose(tiled_(Q, K, V, 3), sdpa_(Q, K, V), rtol=0, atol=1e-12,
                           err_msg="wrong result when the largest score is in the last, partial block")
# property: leading batch dims: (2, 3, n, d)
Q, K, V = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 7, 4)), rng.normal(size=(2, 3, 7, 6))
out = tiled_(Q, K, V, 3)
assert np.shape(out) == (2, 3, 5, 6), f"batched output should be (2, 3, 5, 6); got {np.shape(out)}"
np.testing.assert_allclose(out, sdpa_(Q, K, V), rtol=0, atol=1e-12, err_msg="batched input differs from SDPA")
### END HIDDEN TESTS
""", "test_tiled_attention", points=2)

TEST_TILED_LARGE = tests(_QUIET + _SDPA + """

# large scores, and a first block of keys far above the rest
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(15)
# property: large scores give finite outputs, also when the first keys score far above the rest
Q, K, V = rng.normal(size=(5, 4)) * 30, rng.normal(size=(9, 4)) * 30, rng.normal(size=(9, 3))
for b in (2, 4):
    out = np.asarray(tiled_(Q, K, V, b), dtype=np.float64)
    assert np.all(np.isfinite(out)), f"scores in the thousands, block_size {b}: non-finite output"
    np.testing.assert_allclose(out, sdpa_(Q, K, V), rtol=0, atol=1e-10,
                               err_msg=f"scores in the thousands, block_size {b}: differs from SDPA")
Q = np.full((3, 4), 10.0)
K = np.r_[np.full((2, 4), 30.0), rng.normal(size=(7, 4))]
V = rng.normal(size=(9, 2))
for b in (2, 3):
    out = np.asarray(tiled_(Q, K, V, b), dtype=np.float64)
    assert np.all(np.isfinite(out)), f"first keys about 600 above the rest, block_size {b}: non-finite"
    np.testing.assert_allclose(out, sdpa_(Q, K, V), rtol=0, atol=1e-10,
                               err_msg=f"first keys about 600 above the rest, block_size {b}: differs")
### END HIDDEN TESTS
""", "test_tiled_attention_large", points=1)

TEST_TILED_CAUSAL = tests(_QUIET + _SDPA + """

X = np.random.default_rng(6).normal(size=(5, 4))
out = tiled_(X, X, X, 2, causal=True)
np.testing.assert_allclose(out, sdpa_(X, X, X, causal=True), rtol=0, atol=1e-12,
                           err_msg="causal tiled_attention (5 tokens, block_size 2) differs from SDPA")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(7)
# property: causal=True equals torch SDPA with is_causal=True (7 tokens, block 3)
for n in (1, 2, 7, 10, 16):
    Q, K, V = (rng.normal(size=(n, 3)) * 2 for _ in range(3))
    for b in (1, 2, 3, 4, 16, 20):
        out = np.asarray(tiled_(Q, K, V, b, causal=True), dtype=np.float64)
        assert np.all(np.isfinite(out)), f"n={n}, block_size={b}: non-finite output with causal=True"
        np.testing.assert_allclose(out, sdpa_(Q, K, V, causal=True), rtol=0, atol=1e-12,
                                   err_msg=f"n={n}, block_size={b}: causal output differs from SDPA")
Q, K, V = (rng.normal(size=(2, 2, 9, 4)) for _ in range(3))
np.testing.assert_allclose(tiled_(Q, K, V, 4, causal=True), sdpa_(Q, K, V, causal=True),
                           rtol=0, atol=1e-12, err_msg="batched causal output differs from SDPA")
### END HIDDEN TESTS
""", "test_tiled_attention_causal", points=2)

TEST_TILED_MEMORY = tests("""
import ctypes
import io
import os
import select
import signal
import sys
import time

import numpy as np

# memory: the rise of the peak resident memory during one call, n = 4096, block_size = 16
### BEGIN HIDDEN TESTS
def peak_rise_(call, warmup, timeout=25.0):
    \"\"\"Bytes by which a forked child's peak resident memory (VmHWM) rises during call():
    every allocation counts, numpy's and torch's alike. Returns (bytes or None, error).\"\"\"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        msg = "error: no result"
        try:
            os.close(r)
            sys.stdout = sys.stderr = io.StringIO()
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)   # OpenMP pools do not survive fork
            warmup()                                      # code pages, thread pools
            try:
                ctypes.CDLL(None).malloc_trim(0)          # freed heap must not be reused unseen
            except Exception:
                pass
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")                              # reset VmHWM to the current RSS

            def status(field):
                with open("/proc/self/status") as f:
                    return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ":"))
            base = status("VmRSS")
            call()
            msg = f"ok {status('VmHWM') - base}"
        except BaseException as err:
            msg = f"error: {type(err).__name__}: {err}"
        finally:
            try:
                os.write(w, msg.encode()[:2000])
            finally:
                os._exit(0)
    os.close(w)
    data, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                return None, f"the call took longer than {timeout:.0f} s"
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    text = data.decode(errors="replace")
    if text.startswith("ok "):
        return int(text.split()[1]), ""
    return None, text or "the measuring process died"


rng = np.random.default_rng(8)
n = 4096
Q, K, V = (rng.normal(size=(n, 4)) for _ in range(3))
small = tuple(a[:64] for a in (Q, K, V))
# property: never holds the full (n_q, n_k) score matrix (peak memory, n = 4096, block 16)
for causal in (False, True):
    rise, error = peak_rise_(lambda: tiled_attention(Q, K, V, 16, causal=causal),
                             lambda: tiled_attention(*small, 16, causal=causal))
    assert rise is not None, f"causal={causal}, n={n}: the call failed while memory was measured: {error}"
    assert rise < n * n, (f"causal={causal}: peak memory rose by {rise / 1e6:.1f} MB for n={n}, "
                          f"block_size=16; the limit is {n * n / 1e6:.1f} MB (one byte per "
                          f"query-key pair); the full score matrix is {n * n * 8 / 1e6:.0f} MB")
### END HIDDEN TESTS
""", "test_tiled_attention_memory", points=1)

TEST_TILED_INPUTS = tests(_QUIET + """
import numpy as np

# Q, K and V must be left as they were
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(9)
# property: Q, K and V are not modified
for causal, (n_q, n_k) in ((False, (4, 7)), (True, (6, 6))):
    Q, K, V = rng.normal(size=(n_q, 3)), rng.normal(size=(n_k, 3)), rng.normal(size=(n_k, 2))
    before = [a.copy() for a in (Q, K, V)]
    quietly_(tiled_attention, Q, K, V, 3, causal=causal)
    for name, a, b in zip("QKV", (Q, K, V), before):
        assert np.array_equal(a, b), f"tiled_attention modified its input {name} (causal={causal})"
### END HIDDEN TESTS
""", "test_tiled_attention_inputs", points=1)

AFTER_TILED = md("""
**What just happened.** The output is identical to the naive one, but at any moment only one
`(n_q, block_size)` tile of scores exists. The rescaling by `α` is what makes a single pass
possible: results gathered under an old maximum are corrected, never recomputed.
""")

WHY_BENCH = md("""
## 4. Measured: naive, tiled and PyTorch's fused kernel

`torch.nn.functional.scaled_dot_product_attention` (SDPA) chooses a kernel for you. On a CPU,
torch 2.13 runs a fused, FlashAttention-style kernel for 4-D `(batch, heads, n, d)` inputs,
which is what we pass below. (With 2-D `(n, d)` inputs it takes a path that builds the score
matrix, and its peak memory grows like `n²` again: measure before you trust.) All three are
measured the same way, with `measure` from section 1: the time of a call here, and the rise
of the peak resident memory of a forked child process making the same call, which sees
numpy's and torch's allocations alike. Sizes are small so the notebook stays fast; the trend
is what matters.
""")

BENCH = code("""
# NBVAL_IGNORE_OUTPUT
# (timings and memory vary from machine to machine)
def best_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


sizes = [256, 512, 1024, 2048]
d, block = 32, 128
results = {"naive (numpy)": [], "tiled (numpy)": [], "torch SDPA": []}
rng = np.random.default_rng(0)
torch.manual_seed(0)
for n in sizes:
    Q, K, V = (rng.standard_normal((n, d)) for _ in range(3))
    q, k, v = (torch.from_numpy(a).float()[None, None] for a in (Q, K, V))
    for name, fn in [("naive (numpy)", lambda: naive_attention(Q, K, V)),
                     ("tiled (numpy)", lambda: tiled_attention(Q, K, V, block)),
                     ("torch SDPA", lambda: F.scaled_dot_product_attention(q, k, v))]:
        fn()  # warm-up
        results[name].append((best_time(fn), measure(fn)[1]))
    print(f"n={n:>5}: " + ", ".join(f"{name} {t * 1e3:.1f} ms / "
                                     + (f"{p / 1e6:.2f} MB" if p is not None else "n/a")
                                     for name, [*_, (t, p)] in results.items()))
""")

PLOT_BENCH = code("""
fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
for name, rows in results.items():
    ax_t.plot(sizes, [t * 1e3 for t, _ in rows], "o-", label=name)
    pts = [(n, p / 1e6) for n, (_, p) in zip(sizes, rows) if p is not None]
    if pts:
        ax_m.plot(*zip(*pts), "o-", label=name)
ax_m.plot(sizes, [n * n * 8 / 1e6 for n in sizes], "k:", label="one n x n float64 matrix")
ax_t.set(xscale="log", yscale="log", ylabel="time (ms), log scale",
         title=f"time per call (d = {d}, block_size = {block})")
ax_m.set(ylabel="peak memory (MB)", title="peak memory per call (linear scales)")
ax_t.set_xticks(sizes, [str(n) for n in sizes], minor=False)
ax_t.set_xticks([], minor=True)
ax_t.set_xlabel("sequence length n (log scale)")
ax_m.set_xticks(sizes, [str(n) for n in sizes])
ax_m.set_xlabel("sequence length n")
for ax in (ax_t, ax_m):
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
""")

AFTER_BENCH = md("""
**What just happened.** The naive peak memory grows like `n²` (a few `n × n` matrices, see
the dotted line); the tiled version grows only linearly (the output and a few
`(n, block)` tiles), and so does SDPA, whose fused kernel keeps only small tiles too (in
float32, so its tiles are half the size).

Time is a different story. In numpy the tiled version pays Python overhead for every
block, while the naive one pays for writing and reading several `n × n` matrices; which
of the two wins depends on `n`, the block size and the machine (run the cell with other
sizes and see). Tiling in numpy is about memory, not speed. SDPA gets both: it runs the
same tiling inside one compiled kernel (float32, several cores), so it is fast *and* small.
On a GPU the gain in time is larger still, because the tiles live in fast on-chip memory
and the `n × n` matrix never travels to the slow main memory; that is the "IO-aware" part
of FlashAttention.
""")

SUMMARY = md("""
## Summary

- Naive attention builds `n_q × n_k` scores: time and memory grow like `n²`, measured above.
  Attention does score every key; no part of the sequence is skipped.
- The softmax normaliser can be computed online: a running maximum and a running sum in one
  pass, with the rescaling factor `exp(m_old - m_new)` whenever the maximum grows; writing
  the probabilities reads the row once more.
- Tiled attention applies the same rescaling to the partial output `O`; it gives exactly the
  naive result in one pass over the keys, with one `(n_q, block)` tile in memory at a time,
  also with a causal mask.
- In practice, call `torch.nn.functional.scaled_dot_product_attention`: it chooses a fused
  kernel of this kind for you.

## Going further

- Vaswani et al. (2017), *Attention Is All You Need*: <https://arxiv.org/abs/1706.03762>
- Milakov & Gimelshein (2018), *Online normalizer calculation for softmax*:
  <https://arxiv.org/abs/1805.02867>
- Dao et al. (2022), *FlashAttention: Fast and Memory-Efficient Exact Attention with
  IO-Awareness*: <https://arxiv.org/abs/2205.14135>
- PyTorch: `torch.nn.functional.scaled_dot_product_attention`
  <https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html>
""")


def build() -> Path:
    cells = [INTRO, IMPORTS, WHY_COST, NAIVE, MEASURE_NAIVE, AFTER_COST,
             WHY_ONLINE, PICTURE_ONLINE, TASK_ONLINE, ONLINE_SOLUTION, CHECK_ONLINE,
             TEST_ONLINE, TEST_ONLINE_EXTREME, TEST_ONLINE_STREAM, TEST_ONLINE_INPUT,
             AFTER_ONLINE,
             WHY_TILED, PICTURE_TILES, TASK_TILED, TILED_SOLUTION, CHECK_TILED,
             TEST_TILED, TEST_TILED_LARGE, TEST_TILED_CAUSAL, TEST_TILED_MEMORY,
             TEST_TILED_INPUTS, AFTER_TILED,
             WHY_BENCH, BENCH, PLOT_BENCH, AFTER_BENCH, SUMMARY]
    return write(notebook(cells), TARGET)


if __name__ == "__main__":
    print(build())
