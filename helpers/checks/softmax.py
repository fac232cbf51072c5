"""Checks for notebook 03 (softmax): ``softmax``, ``causal_mask`` and ``masked_softmax``.

Conventions checked (COURSE_SPEC section 3): masks are boolean, True = may attend, and
broadcast against the scores ``(..., n_q, n_k)``; a fully masked row gets all-zero weights,
never NaN; inputs are never modified. Expected values come from ``torch.softmax`` or from
closed forms (equal scores give equal weights), never from a reference solution.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ._framework import Checker, Report

_SHAPE_HINT = "the weights have the same shape as the scores: one weight per score."


def _torch_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    import torch

    return torch.softmax(torch.from_numpy(np.array(x, dtype=np.float64)), dim=axis).numpy()


def _call_quietly(fn: Callable, *args, **kwargs):
    """Call ``fn`` turning numpy's RuntimeWarnings (overflow, 0/0) into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            return fn(*args, **kwargs)


def check_softmax(fn: Callable) -> Report:
    """Property checks for ``softmax(x, axis=-1)``; returns a printable Report."""
    checker = Checker("softmax")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5))

    with checker.check("returns an array with the same shape as x", hint=_SHAPE_HINT):
        out = np.asarray(fn(x.copy()))
        assert out.shape == x.shape, f"softmax of shape {x.shape} returned shape {out.shape}"

    with checker.check("each row sums to 1 and matches torch.softmax",
                       hint="exponentiate every score, then divide by the sum over the "
                            "last axis (keep that axis so the division broadcasts row by row)."):
        out = np.asarray(fn(x.copy()))
        assert np.allclose(out.sum(axis=-1), 1.0), f"row sums are {np.round(out.sum(-1), 4)}"
        assert np.allclose(out, _torch_softmax(x, -1), atol=1e-6), \
            "the weights differ from torch.softmax(x, dim=-1)"

    with checker.check("large scores (1000) give finite weights",
                       hint="exp(1000) overflows to inf. Softmax does not change when you "
                            "subtract a constant from every score: subtract the maximum first."):
        big = np.array([[1000.0, 1001.0, 1002.0]])
        out = np.asarray(_call_quietly(fn, big.copy()))
        assert np.all(np.isfinite(out)), f"softmax([1000, 1001, 1002]) gave {out}"
        assert np.allclose(out, _torch_softmax(big, -1)), f"softmax([1000, 1001, 1002]) gave {out}"

    with checker.check("rows of very different size are each normalised correctly",
                       hint="subtract the maximum of each row (along `axis`), not the maximum "
                            "of the whole array: a row far below the global maximum underflows to 0/0."):
        mixed = np.array([[1000.0, 1001.0], [0.0, 1.0]])
        out = np.asarray(_call_quietly(fn, mixed.copy()))
        assert np.allclose(out, _torch_softmax(mixed, -1)), \
            f"softmax([[1000, 1001], [0, 1]]) gave {np.round(out, 4).tolist()}"

    with checker.check("the axis argument is honoured (axis=0 and axis=1 of a 3-D array)",
                       hint="use `axis` for both the maximum and the sum, with keepdims=True."):
        cube = rng.normal(size=(2, 3, 4))
        for axis in (0, 1):
            out = np.asarray(fn(cube.copy(), axis=axis))
            assert out.shape == cube.shape, f"axis={axis}: shape {out.shape}, expected {cube.shape}"
            assert np.allclose(out, _torch_softmax(cube, axis), atol=1e-6), \
                f"axis={axis}: the weights do not sum to 1 along axis {axis}"

    with checker.check("x is not modified",
                       hint="build new arrays (x - m) instead of updating x in place (x -= m, out=x)."):
        before = x.copy()
        fn(x)
        assert np.array_equal(x, before), "the input array changed after calling softmax"

    with checker.check("float32 input gives float32 output",
                       hint="avoid converting to float64; numpy keeps float32 if you only "
                            "use arithmetic on x."):
        out = np.asarray(fn(x.astype(np.float32)))
        assert out.dtype == np.float32, f"float32 input returned dtype {out.dtype}"
    return checker.report()


def check_causal_mask(fn: Callable) -> Report:
    """Property checks for ``causal_mask(n) -> bool (n, n)``, True = may attend."""
    checker = Checker("causal_mask")
    with checker.check("returns an (n, n) array", hint="one entry per (query, key) pair."):
        out = np.asarray(fn(4))
        assert out.shape == (4, 4), f"causal_mask(4) has shape {out.shape}"

    with checker.check("dtype is bool", hint="masks are boolean: True = may attend. Ask for "
                                              "dtype=bool (ones and zeros are not the same thing "
                                              "when you index or use np.where)."):
        out = np.asarray(fn(4))
        assert out.dtype == np.bool_, f"causal_mask(4) has dtype {out.dtype}"

    with checker.check("every position may attend to itself",
                       hint="the diagonal (query i, key i) is allowed: a token sees itself."):
        out = np.asarray(fn(4))
        assert np.all(np.diagonal(out) == True), f"diagonal is {np.diagonal(out).tolist()}"  # noqa: E712

    with checker.check("query i may attend to keys 0..i and not to later keys",
                       hint="rows are queries, columns are keys; the allowed part is the lower "
                            "triangle (key index <= query index)."):
        out = np.asarray(fn(4))
        row, col = np.indices((4, 4))
        assert np.array_equal(out.astype(bool) & (col > row), np.zeros((4, 4), bool)), \
            f"some query may attend to a later key:\n{out.astype(int)}"
        assert np.all(out.astype(bool)[col < row]), f"some earlier key is blocked:\n{out.astype(int)}"

    with checker.check("works for n = 1", hint="a single token attends to itself only."):
        out = np.asarray(fn(1))
        assert out.shape == (1, 1) and bool(out[0, 0]), f"causal_mask(1) gave {out.tolist()}"
    return checker.report()


def check_masked_softmax(fn: Callable) -> Report:
    """Property checks for ``masked_softmax(scores, mask, axis=-1)``."""
    checker = Checker("masked_softmax")
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(3, 4))
    mask = np.array([[True, True, False, False],
                     [True, True, True, True],
                     [False, True, False, True]])

    with checker.check("returns an array with the shape of the scores", hint=_SHAPE_HINT):
        out = np.asarray(fn(scores.copy(), mask.copy()))
        assert out.shape == scores.shape, f"scores {scores.shape} gave weights {out.shape}"

    with checker.check("masked entries get exactly 0",
                       hint="True means 'may attend'. A masked score must contribute nothing: "
                            "exp(-inf) is exactly 0."):
        out = np.asarray(fn(scores.copy(), mask.copy()))
        assert np.all(out[~mask] == 0.0), f"weights at masked positions: {out[~mask]}"

    with checker.check("the allowed entries sum to 1 and match softmax over them",
                       hint="normalise after masking, so each row's allowed weights sum to 1."):
        out = np.asarray(fn(scores.copy(), mask.copy()))
        for i, row in enumerate(mask):
            expected = _torch_softmax(scores[i, row], -1)
            assert np.allclose(out[i, row], expected), \
                f"row {i}: allowed weights {np.round(out[i, row], 4)}, expected {np.round(expected, 4)}"

    with checker.check("a fully masked row gives all zeros, without NaN or RuntimeWarning",
                       hint="a query with nothing to attend to gets zero weight everywhere. "
                            "-inf everywhere gives 0/0 = NaN, and a large negative number such as "
                            "-1e9 gives uniform weights: handle rows with no allowed key separately."):
        full = mask.copy()
        full[1] = False
        out = np.asarray(_call_quietly(fn, scores.copy(), full))
        assert not np.any(np.isnan(out)), f"weights contain NaN: {np.round(out, 3).tolist()}"
        assert np.all(out[1] == 0.0), f"the fully masked row got {out[1]}"

    with checker.check("a (n_k,) padding mask broadcasts over a batch of scores",
                       hint="use broadcasting (np.where or np.broadcast_to) rather than assuming "
                            "the mask has the same shape as the scores."):
        batch = rng.normal(size=(2, 3, 4))
        pad = np.array([True, True, True, False])
        out = np.asarray(fn(batch.copy(), pad))
        assert out.shape == batch.shape, f"scores {batch.shape} gave weights {out.shape}"
        assert np.all(out[..., 3] == 0.0) and np.allclose(out.sum(-1), 1.0), \
            "the padded key (last column) must get 0 and every row must sum to 1"

    with checker.check("large scores (1e4) stay finite",
                       hint="subtract the maximum over the allowed entries before exponentiating."):
        out = np.asarray(_call_quietly(fn, 1e4 * scores, mask.copy()))
        assert np.all(np.isfinite(out)), f"weights for scores around 1e4: {out}"
        assert np.allclose(out.sum(-1), 1.0), f"row sums {out.sum(-1)}"

    with checker.check("the scores and the mask are not modified",
                       hint="build new arrays instead of writing into the inputs."):
        s, m = scores.copy(), mask.copy()
        fn(s, m)
        assert np.array_equal(s, scores) and np.array_equal(m, mask), "an input changed"
    return checker.report()
