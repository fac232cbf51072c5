"""Checks for notebook 07 (efficient attention): ``online_softmax`` and ``tiled_attention``.

Expected values come from ``torch.softmax`` and
``torch.nn.functional.scaled_dot_product_attention`` (float64), never from a reference
solution. Two properties look at *how* the result is computed, because a correct value
alone does not show that the work streams (the instruments live in ``_instruments.py``):

- ``online_softmax`` gets an array that records how many columns every numpy computation
  on it covers; a computation over all columns before the blocks were read means the max
  was not a running one, and a run in which nothing numpy did on ``x`` could be observed
  fails too (the property is then unproven, not passed).
- ``tiled_attention`` runs in a forked child process whose peak resident memory is
  measured: every allocator counts (numpy, torch...). The rise must stay below one byte per
  (query, key) pair, which no implementation that builds the full score matrix (or a full
  ``(n, n)`` mask) can reach.
"""
from __future__ import annotations

import tracemalloc
from typing import Callable

import numpy as np

from ._framework import Checker, Report
from ._instruments import (MemoryMeasurementUnavailable, observe_columns, peak_rss_growth,
                           stream_problem)

__all__ = ["check_online_softmax", "check_tiled_attention", "peak_bytes", "peak_rss_growth",
           "MemoryMeasurementUnavailable"]

TOL = dict(rtol=0.0, atol=1e-12)   # float64 softmax/attention: absolute error below 1e-12


# --- references (torch built-ins) ----------------------------------------------------------
def _torch_softmax(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.softmax(torch.from_numpy(np.array(x, dtype=np.float64)), dim=-1).numpy()


def _torch_attention(Q, K, V, causal: bool = False) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.from_numpy(np.array(a, dtype=np.float64)) for a in (Q, K, V))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()


def _close(out, ref) -> bool:
    out = np.asarray(out, dtype=np.float64)
    return out.shape == ref.shape and np.allclose(out, ref, **TOL)


def peak_bytes(fn: Callable, *args, **kwargs) -> int:
    """Peak bytes allocated through Python's allocator (numpy, not torch) while ``fn`` runs:
    the fallback where :func:`peak_rss_growth` cannot measure (no Linux /proc)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn(*args, **kwargs)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()


# --- online_softmax ------------------------------------------------------------------------
_RESCALE_HINT = ("when a block brings a larger maximum, everything summed so far was "
                 "exponentiated against the old maximum: multiply the running sum by "
                 "exp(old_max - new_max) before adding the new block.")


def check_online_softmax(fn: Callable) -> Report:
    """Property checks for ``online_softmax(x, block_size)``; returns a printable Report."""
    checker = Checker("online_softmax")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 12)) * 3

    with checker.check("equals softmax(x) when block_size divides the row length",
                       hint=_RESCALE_HINT):
        out = np.asarray(fn(x.copy(), 4))
        assert _close(out, _torch_softmax(x)), \
            f"rows sum to {np.round(out.sum(-1), 4).tolist()}; differs from torch.softmax"

    with checker.check("a growing row (the max changes in every block) is right",
                       hint=_RESCALE_HINT):
        ramp = np.arange(10.0)[None, :]
        out = np.asarray(fn(ramp.copy(), 2))
        assert _close(out, _torch_softmax(ramp)), \
            f"online_softmax(arange(10), 2) rows sum to {np.round(out.sum(-1), 4).tolist()}"

    with checker.check("any block_size: a last, shorter block (10 columns, block 4), "
                       "block_size 1, block_size larger than the row",
                       hint="the blocks start at 0, b, 2b, ... up to the row length; the last "
                            "one may be shorter than block_size and still counts, and one "
                            "block may hold the whole row."):
        y = rng.normal(size=(2, 10))
        for arr, b in ((y, 4), (x, 1), (x, 50)):
            out = np.asarray(fn(arr.copy(), b))
            assert _close(out, _torch_softmax(arr)), \
                f"block_size={b} on {arr.shape[-1]} columns: differs from torch.softmax"

    with checker.check("large scores: near 1000, and an early block far above the rest",
                       hint="subtract the running maximum, i.e. the largest score seen so far, "
                            "not the current block's own maximum: a later, smaller block "
                            "must not become the reference, or exp(old_max - block_max) "
                            "overflows."):
        for row in ([1000.0, 1001.0, 1002.0, 999.0, 1003.0],
                    [900.0, 905.0, 0.0, 1.0, -2.0, 3.0, 0.5]):
            arr = np.array([row])
            out = np.asarray(fn(arr.copy(), 2), dtype=np.float64)
            assert np.all(np.isfinite(out)) and _close(out, _torch_softmax(arr)), \
                f"online_softmax({row}, 2) gave {np.round(out, 4).tolist()}"

    with checker.check("very negative scores (around -800) give finite probabilities",
                       hint="start the running maximum at -inf, not at 0: with every score "
                            "near -800, exp(score - 0) is 0.0 for all of them and the sum "
                            "is 0."):
        low = np.array([[-800.0, -801.0, -799.5, -802.0, -800.5]])
        out = np.asarray(fn(low.copy(), 2), dtype=np.float64)
        assert np.all(np.isfinite(out)) and _close(out, _torch_softmax(low)), \
            f"online_softmax of scores near -800 gave {np.round(out, 4).tolist()}"

    with checker.check("leading batch dims: x of shape (2, 3, 7)",
                       hint="work on the last axis only (x[..., start:stop], keepdims=True)."):
        cube = rng.normal(size=(2, 3, 7))
        out = np.asarray(fn(cube.copy(), 3))
        assert _close(out, _torch_softmax(cube)), "wrong values or shape for a 3-D input"

    with checker.check("x is read block by block (no maximum over every column first)",
                       hint="online means the blocks arrive one after another: keep a running "
                            "maximum updated block by block instead of taking x.max() upfront. "
                            "Work with numpy on x (np.asarray(x) or astype are fine): the "
                            "check records numpy's computations on x, not torch's."):
        _, log = observe_columns(fn, x, 4)
        problem = stream_problem(log, x.shape[-1], 4)
        assert not problem, problem

    with checker.check("x is not modified", hint="build new arrays instead of writing into x."):
        before = x.copy()
        x_in = x.copy()
        fn(x_in, 4)
        assert np.array_equal(x_in, before), "the input array changed"
    return checker.report()


# --- tiled_attention -----------------------------------------------------------------------
MEMORY_N = 4096       # the memory property: n = 4096 tokens, d = 4, block_size 16


def _memory_problem(fn: Callable, rng: np.random.Generator, checker: Checker) -> str:
    n = MEMORY_N
    q, k, v = (rng.normal(size=(n, 4)) for _ in range(3))
    small = tuple(a[:64] for a in (q, k, v))
    try:
        grew = peak_rss_growth(lambda: fn(q, k, v, 16, causal=True),
                               warmup=lambda: fn(*small, 16, causal=True))
        what = "peak memory"
    except MemoryMeasurementUnavailable:
        checker.note("peak memory was measured with tracemalloc here (numpy only); the "
                     "grader measures the whole process on Linux, torch included.")
        grew, what = peak_bytes(fn, q, k, v, 16, causal=True), "peak numpy memory"
    except RuntimeError as err:
        return f"the call with n={n} failed: {err}"
    if grew >= n * n:
        return (f"{what} rose by {grew / 1e6:.1f} MB for n={n}, block_size=16; the limit is "
                f"{n * n / 1e6:.1f} MB (one byte per query-key pair); the full score matrix "
                f"is {n * n * 8 / 1e6:.0f} MB")
    return ""


def check_tiled_attention(fn: Callable) -> Report:
    """Property checks for ``tiled_attention(Q, K, V, block_size, causal=False)``."""
    checker = Checker("tiled_attention")
    rng = np.random.default_rng(8)
    Q, K, V = rng.normal(size=(6, 4)), rng.normal(size=(8, 4)), rng.normal(size=(8, 3))

    with checker.check("returns (n_q, d_v)", hint="one output row per query, with the width "
                                                  "of the values."):
        out = np.asarray(fn(Q, K, V, 4))
        assert out.shape == (6, 3), f"Q (6, 4), K (8, 4), V (8, 3) gave shape {out.shape}"

    with checker.check("equals softmax(Q K^T / sqrt(d)) V (torch SDPA), block_size 4",
                       hint="divide the scores by sqrt(d), and when the running max grows, "
                            "rescale both the running sum and the partial output by "
                            "exp(old_max - new_max)."):
        out = np.asarray(fn(Q, K, V, 4))
        assert _close(out, _torch_attention(Q, K, V)), \
            f"max abs difference {np.abs(out - _torch_attention(Q, K, V)).max():.3g}"

    with checker.check("any block_size: n_k not divisible (8 keys, block 3), block_size "
                       "larger than n_k",
                       hint="the last block of keys may be shorter; it still has to be used, "
                            "and one block may hold every key."):
        for b in (3, 20):
            out = np.asarray(fn(Q, K, V, b))
            assert _close(out, _torch_attention(Q, K, V)), \
                f"block_size={b}: max abs difference {np.abs(out - _torch_attention(Q, K, V)).max():.3g}"

    with checker.check("large scores give finite outputs, also when the first keys score "
                       "far above the rest",
                       hint="subtract the running maximum (the largest score seen so far, "
                            "not the current tile's) before exponentiating."):
        big = 40 * Q
        out = np.asarray(fn(big, 40 * K, V, 3))
        assert np.all(np.isfinite(out)) and _close(out, _torch_attention(big, 40 * K, V)), \
            "wrong or non-finite output for scaled-up Q and K"
        K_far = np.r_[np.full((2, 4), 30.0), rng.normal(size=(6, 4))]
        out = np.asarray(fn(np.ones((3, 4)) * 10, K_far, V, 2))
        ref = _torch_attention(np.ones((3, 4)) * 10, K_far, V)
        assert np.all(np.isfinite(out)) and _close(out, ref), \
            "wrong or non-finite output when the first block of keys scores about 600 higher"

    with checker.check("causal=True equals torch SDPA with is_causal=True (7 tokens, block 3)",
                       hint="inside every tile compare absolute positions: key index "
                            "start + j may be seen by query i when start + j <= i."):
        X = rng.normal(size=(7, 4))
        out = np.asarray(fn(X, X, X, 3, causal=True))
        ref = _torch_attention(X, X, X, causal=True)
        assert np.all(np.isfinite(out)), f"non-finite output rows: {np.round(out, 3).tolist()}"
        assert _close(out, ref), \
            f"rows differ from SDPA: {np.where(~np.isclose(out, ref, **TOL).all(-1))[0].tolist()}"

    with checker.check("leading batch dims: (2, 3, n, d)",
                       hint="use ... in slices and swap only the last two axes of K."):
        q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
        out = np.asarray(fn(q, k, v, 2))
        assert _close(out, _torch_attention(q, k, v)), "wrong values or shape for batched input"

    with checker.check("never holds the full (n_q, n_k) score matrix (peak memory, "
                       f"n = {MEMORY_N}, block 16)",
                       hint="compute one (n_q, block_size) tile of scores at a time and keep "
                            "only the running max, running sum and partial output; a full "
                            "(n, n) mask counts as well, and so does a torch call that builds "
                            "the scores (memory is measured for the whole process)."):
        problem = _memory_problem(fn, rng, checker)
        assert not problem, problem

    with checker.check("Q, K and V are not modified", hint="build new arrays; never write "
                                                            "into the inputs."):
        before = [a.copy() for a in (Q, K, V)]
        fn(Q, K, V, 4)
        assert all(np.array_equal(a, b) for a, b in zip((Q, K, V), before)), \
            "an input array changed"
    return checker.report()
