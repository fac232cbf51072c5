"""Checks for notebook 07 (efficient attention): ``online_softmax`` and ``tiled_attention``.

Expected values come from ``torch.softmax`` and
``torch.nn.functional.scaled_dot_product_attention`` (float64), never from a reference
solution. Two properties look at *how* the result is computed, because a correct value
alone does not show that the work streams:

- ``online_softmax`` gets an array that records the width of every computation done on it
  (``_ColumnRecorder``); a maximum over all columns taken before the blocks were read
  means the max was not a running one.
- ``tiled_attention`` runs under ``tracemalloc``: its peak must stay below one byte per
  (query, key) pair, which no implementation that builds the full score matrix (or a full
  causal mask) can reach.
"""
from __future__ import annotations

import math
import tracemalloc
from typing import Callable

import numpy as np

from ._framework import Checker, Report


# --- references (torch built-ins) ----------------------------------------------------------
def _torch_softmax(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.softmax(torch.from_numpy(np.array(x, dtype=np.float64)), dim=-1).numpy()


def _torch_attention(Q, K, V, causal: bool = False) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.from_numpy(np.array(a, dtype=np.float64)) for a in (Q, K, V))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()


# --- instruments ---------------------------------------------------------------------------
class _ColumnRecorder(np.ndarray):
    """An array that logs the last-axis width of every ufunc input it takes part in.

    ``x[..., a:b]`` stays a recorder (a view), so computations on a block log the block
    width; results are plain arrays. ``np.asarray(x)`` gives a plain array and escapes the
    log: such code is simply not observed (the property then passes).
    """

    log: list | None

    def __array_finalize__(self, obj) -> None:
        self.log = getattr(obj, "log", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = []
        for a in inputs:
            if isinstance(a, _ColumnRecorder):
                if a.log is not None:
                    a.log.append(a.shape[-1] if a.ndim else 1)
                a = a.view(np.ndarray)
            plain.append(a)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _ColumnRecorder) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)


def record_columns(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``(recorder, log)``: a recording view of ``x`` and the list it appends widths to."""
    rec = np.asarray(x).view(_ColumnRecorder)
    rec.log = []
    return rec, rec.log


def streamed_in_blocks(log: list[int], n: int, block_size: int) -> bool:
    """True unless a computation touched more than ``block_size`` columns before every
    block had been read (a wide read first = a maximum the stream could not know yet)."""
    first_wide = next((i for i, w in enumerate(log) if w > block_size), len(log))
    return not log or first_wide >= math.ceil(n / block_size)


def peak_bytes(fn: Callable, *args, **kwargs) -> int:
    """Peak bytes allocated (numpy, tracked by tracemalloc) while ``fn`` runs."""
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
        assert np.allclose(out, _torch_softmax(x), atol=1e-10), \
            f"rows sum to {np.round(out.sum(-1), 4).tolist()}; differs from torch.softmax"

    with checker.check("a growing row (the max changes in every block) is right",
                       hint=_RESCALE_HINT):
        ramp = np.arange(10.0)[None, :]
        out = np.asarray(fn(ramp.copy(), 2))
        assert np.allclose(out, _torch_softmax(ramp), atol=1e-10), \
            f"online_softmax(arange(10), 2) rows sum to {np.round(out.sum(-1), 4).tolist()}"

    with checker.check("a last, shorter block is included (10 columns, block_size 4)",
                       hint="the blocks start at 0, b, 2b, ... up to the row length; the last "
                            "one may be shorter than block_size and still counts."):
        y = rng.normal(size=(2, 10))
        out = np.asarray(fn(y.copy(), 4))
        assert np.allclose(out, _torch_softmax(y), atol=1e-10), \
            f"rows sum to {np.round(out.sum(-1), 4).tolist()}"

    with checker.check("block_size 1 and block_size larger than the row both work",
                       hint="nothing in the algorithm needs full blocks: one column at a time, "
                            "or everything in one block, gives the same softmax."):
        for b in (1, 50):
            out = np.asarray(fn(x.copy(), b))
            assert np.allclose(out, _torch_softmax(x), atol=1e-10), f"block_size={b} is wrong"

    with checker.check("large scores (1000) give finite probabilities",
                       hint="subtract the running maximum before exponentiating."):
        big = np.array([[1000.0, 1001.0, 1002.0, 999.0, 1003.0]])
        out = np.asarray(fn(big.copy(), 2))
        assert np.all(np.isfinite(out)) and np.allclose(out, _torch_softmax(big)), \
            f"online_softmax of scores near 1000 gave {np.round(out, 4).tolist()}"

    with checker.check("leading batch dims: x of shape (2, 3, 7)",
                       hint="work on the last axis only (x[..., start:stop], keepdims=True)."):
        cube = rng.normal(size=(2, 3, 7))
        out = np.asarray(fn(cube.copy(), 3))
        assert out.shape == cube.shape and np.allclose(out, _torch_softmax(cube)), \
            "wrong values or shape for a 3-D input"

    with checker.check("x is read block by block (no maximum over every column first)",
                       hint="online means the blocks arrive one after another: keep a running "
                            "maximum updated block by block instead of taking x.max() upfront."):
        rec, log = record_columns(x.copy())
        fn(rec, 4)
        assert streamed_in_blocks(log, x.shape[-1], 4), \
            f"a computation read all {x.shape[-1]} columns before the blocks were streamed"

    with checker.check("x is not modified", hint="build new arrays instead of writing into x."):
        before = x.copy()
        x_in = x.copy()
        fn(x_in, 4)
        assert np.array_equal(x_in, before), "the input array changed"
    return checker.report()


# --- tiled_attention -----------------------------------------------------------------------
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
        assert np.allclose(out, _torch_attention(Q, K, V), atol=1e-10), \
            f"max abs difference {np.abs(out - _torch_attention(Q, K, V)).max():.3g}"

    with checker.check("n_k not divisible by block_size (8 keys, block_size 3)",
                       hint="the last block of keys may be shorter; it still has to be used."):
        out = np.asarray(fn(Q, K, V, 3))
        assert np.allclose(out, _torch_attention(Q, K, V), atol=1e-10), \
            f"max abs difference {np.abs(out - _torch_attention(Q, K, V)).max():.3g}"

    with checker.check("large scores give finite outputs",
                       hint="subtract the running maximum before exponentiating."):
        big = 40 * Q
        out = np.asarray(fn(big, 40 * K, V, 3))
        assert np.all(np.isfinite(out)) and np.allclose(out, _torch_attention(big, 40 * K, V)), \
            "wrong or non-finite output for scaled-up Q and K"

    with checker.check("causal=True equals torch SDPA with is_causal=True (7 tokens, block 3)",
                       hint="inside every tile compare absolute positions: key index "
                            "start + j may be seen by query i when start + j <= i."):
        X = rng.normal(size=(7, 4))
        out = np.asarray(fn(X, X, X, 3, causal=True))
        ref = _torch_attention(X, X, X, causal=True)
        assert np.all(np.isfinite(out)), f"non-finite output rows: {np.round(out, 3).tolist()}"
        assert np.allclose(out, ref, atol=1e-10), \
            f"rows differ from SDPA: {np.where(~np.isclose(out, ref).all(-1))[0].tolist()}"

    with checker.check("leading batch dims: (2, 3, n, d)",
                       hint="use ... in slices and swap only the last two axes of K."):
        q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
        out = np.asarray(fn(q, k, v, 2))
        assert out.shape == (2, 3, 5, 4) and np.allclose(out, _torch_attention(q, k, v)), \
            "wrong values or shape for batched input"

    with checker.check("never holds the full (n_q, n_k) score matrix (2048 x 2048, block 16)",
                       hint="compute one (n_q, block_size) tile of scores at a time and keep "
                            "only the running max, running sum and partial output; a full "
                            "mask of shape (n, n) counts as well."):
        n = 2048
        q, k, v = (rng.normal(size=(n, 8)) for _ in range(3))
        peak = peak_bytes(fn, q, k, v, 16, causal=True)
        assert peak < n * n, (f"peak memory {peak / 1e6:.1f} MB; the full score matrix "
                              f"would be {n * n * 8 / 1e6:.1f} MB")

    with checker.check("Q, K and V are not modified", hint="build new arrays; never write "
                                                            "into the inputs."):
        before = [a.copy() for a in (Q, K, V)]
        fn(Q, K, V, 4)
        assert all(np.array_equal(a, b) for a, b in zip((Q, K, V), before)), \
            "an input array changed"
    return checker.report()
