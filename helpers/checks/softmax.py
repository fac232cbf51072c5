"""Checks for notebook 03 (softmax): ``softmax`` and ``causal_mask`` (``masked_softmax`` is in
``masked.py``, which shares this module's helpers).

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


def _close(out, want, float32_input: bool = False) -> bool:
    """The hidden tests' tolerance, written out: rtol 1e-6 (atol 1e-9) against torch in
    float64, which grades the formula and not float64 precision (the dtype is a property of
    its own); rtol 1e-4 (atol 1e-6) for float32 inputs."""
    if float32_input:
        return np.allclose(np.asarray(out), want, rtol=1e-4, atol=1e-6)
    return np.allclose(np.asarray(out), want, rtol=1e-6, atol=1e-9)


def _torch_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    import torch

    return torch.softmax(torch.from_numpy(np.array(x, dtype=np.float64)), dim=axis).numpy()


def _call_recording(fn: Callable, *args, **kwargs) -> tuple:
    """Call ``fn`` and return ``(output, numpy RuntimeWarning messages)``.

    Warnings are recorded, never raised: COURSE_SPEC 3.1 grades outputs only, so a correct
    answer that makes numpy warn (np.ma, np.max(where=, initial=-inf), -inf then nan_to_num)
    passes the property and gets a note instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            out = fn(*args, **kwargs)
    return out, sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})


class _WarningAdvice:
    """Collects numpy warnings of properties that passed; one note at the end (not graded)."""

    def __init__(self) -> None:
        self.messages: set[str] = set()
        self.where: list[str] = []

    def add(self, checker: Checker, name: str, messages: list[str]) -> None:
        if messages and checker.report().results[-1].passed:
            self.messages |= set(messages)
            self.where.append(f'"{name}"')

    def emit(self, checker: Checker) -> None:
        if self.messages:
            checker.note(
                f"numpy warned ({'; '.join(sorted(self.messages))}) in {', '.join(self.where)}. "
                "Your weights are right there, and warnings are not graded. numpy computes "
                "every entry, masked ones included: to avoid the warnings, keep -inf, 0/0 and "
                "huge masked scores out of the arithmetic (np.where before exp and before "
                "dividing), or wrap the lines in `with np.errstate(invalid='ignore', "
                "divide='ignore', over='ignore'):`.")


SOFTMAX_SHAPE = "returns an array with the same shape as x"
SOFTMAX_VALUES = "each row sums to 1 and matches torch.softmax"
SOFTMAX_LARGE = "large scores (1e3, 1e4, float32 around 100) give finite, correct weights"
SOFTMAX_ROWS = "rows of very different size are each normalised correctly"
SOFTMAX_AXIS = "the axis argument is honoured (every axis of a 3-D array, negative ones too)"
SOFTMAX_INPUT = "x is not modified"
SOFTMAX_DTYPE = "the output keeps x's dtype (float32 stays float32, float64 stays float64)"


def check_softmax(fn: Callable) -> Report:
    """Property checks for ``softmax(x, axis=-1)``; returns a printable Report."""
    checker = Checker("softmax")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5))

    with checker.check(SOFTMAX_SHAPE, hint=_SHAPE_HINT):
        out = np.asarray(fn(x.copy()))
        assert out.shape == x.shape, f"softmax of shape {x.shape} returned shape {out.shape}"

    with checker.check(SOFTMAX_VALUES,
                       hint="exponentiate every score, then divide by the sum over the "
                            "last axis (keep that axis so the division broadcasts row by row)."):
        out = np.asarray(fn(x.copy()))
        assert np.allclose(out.sum(axis=-1), 1.0), f"row sums are {np.round(out.sum(-1), 4)}"
        assert _close(out, _torch_softmax(x, -1)), \
            "the weights differ from torch.softmax(x, dim=-1)"
        pair = np.asarray(fn(np.array([0.0, np.log(3.0)])))     # 1-D: one row of scores
        assert _close(pair, [0.25, 0.75]), f"softmax([0, log 3]) gave {pair}, expected [0.25, 0.75]"

    advice, messages = _WarningAdvice(), []
    with checker.check(SOFTMAX_LARGE,
                       hint="exp(1000) overflows to inf (float32 already at exp(89)). Softmax does "
                            "not change when you subtract a constant from every score: subtract "
                            "the maximum first."):
        for big in (np.array([[1000.0, 1001.0, 1002.0]]),
                    np.array([[1e4, 1e4 + 1.0, 1e4 - 2.0], [-1e4, -1e4, -1e4 + 3.0]]),
                    (rng.normal(size=(2, 5)) * 100).astype(np.float32)):
            out, caught = _call_recording(fn, big.copy())
            messages += caught
            out = np.asarray(out)
            assert np.all(np.isfinite(out)), f"softmax({np.round(big, 1).tolist()}) gave {out.tolist()}"
            assert _close(out, _torch_softmax(big, -1), big.dtype == np.float32), \
                f"softmax({np.round(big, 1).tolist()}) gave {np.round(out, 4).tolist()}"
    advice.add(checker, SOFTMAX_LARGE, messages)

    with checker.check(SOFTMAX_ROWS,
                       hint="subtract the maximum of each row (along `axis`), not the maximum "
                            "of the whole array: a row far below the global maximum underflows to 0/0."):
        mixed = np.array([[1000.0, 1001.0], [0.0, 1.0]])
        out, messages = _call_recording(fn, mixed.copy())
        out = np.asarray(out)
        assert _close(out, _torch_softmax(mixed, -1)), \
            f"softmax([[1000, 1001], [0, 1]]) gave {np.round(out, 4).tolist()}"
    advice.add(checker, SOFTMAX_ROWS, messages)

    with checker.check(SOFTMAX_AXIS,
                       hint="use `axis` for both the maximum and the sum, with keepdims=True."):
        cube = rng.normal(size=(2, 3, 4))
        for axis in (0, 1, 2, -1, -2, -3):
            out = np.asarray(fn(cube.copy(), axis=axis))
            assert out.shape == cube.shape, f"axis={axis}: shape {out.shape}, expected {cube.shape}"
            assert _close(out, _torch_softmax(cube, axis)), \
                f"axis={axis}: the weights do not sum to 1 along axis {axis}"

    with checker.check(SOFTMAX_INPUT,
                       hint="build new arrays (x - m) instead of updating x in place (x -= m, out=x)."):
        before = x.copy()
        fn(x)
        fn(x, axis=0)
        assert np.array_equal(x, before), "the input array changed after calling softmax"

    with checker.check(SOFTMAX_DTYPE,
                       hint="avoid converting to float64; numpy keeps float32 if you only "
                            "use arithmetic on x (and Python numbers, not np.float64 ones)."):
        for dtype in (np.float32, np.float64):
            out = np.asarray(fn(x.astype(dtype)))
            assert out.dtype == dtype, f"{np.dtype(dtype).name} input returned dtype {out.dtype}"
    advice.emit(checker)
    return checker.report()


CAUSAL_SHAPE = "returns an (n, n) array"
CAUSAL_DTYPE = "dtype is bool"
CAUSAL_DIAGONAL = "every position may attend to itself"
CAUSAL_TRIANGLE = "query i may attend to keys 0..i and not to later keys"
CAUSAL_ONE = "works for n = 1"


def check_causal_mask(fn: Callable) -> Report:
    """Property checks for ``causal_mask(n) -> bool (n, n)``, True = may attend."""
    checker = Checker("causal_mask")
    with checker.check(CAUSAL_SHAPE, hint="one entry per (query, key) pair, and no extra "
                                          "leading axis (broadcasting adds those later)."):
        for n in (2, 4):
            out = np.asarray(fn(n))
            assert out.shape == (n, n), f"causal_mask({n}) has shape {out.shape}"

    with checker.check(CAUSAL_DTYPE, hint="masks are boolean: True = may attend. Ask for "
                                          "dtype=bool (ones and zeros are not the same thing "
                                          "when you index or use np.where)."):
        out = np.asarray(fn(4))
        assert out.dtype == np.bool_, f"causal_mask(4) has dtype {out.dtype}"

    with checker.check(CAUSAL_DIAGONAL,
                       hint="the diagonal (query i, key i) is allowed: a token sees itself."):
        out = np.asarray(fn(4))
        assert np.all(np.diagonal(out) == True), f"diagonal is {np.diagonal(out).tolist()}"  # noqa: E712

    with checker.check(CAUSAL_TRIANGLE,
                       hint="rows are queries, columns are keys; the allowed part is the lower "
                            "triangle (key index <= query index). True means 'may attend', the "
                            "opposite of nn.MultiheadAttention's attn_mask."):
        for n in (4, 7):
            out = np.asarray(fn(n))
            assert out.shape == (n, n), f"causal_mask({n}) has shape {out.shape}"
            row, col = np.indices((n, n))
            assert not np.any(out.astype(bool) & (col > row)), \
                f"some query may attend to a later key:\n{out.astype(int)}"
            assert np.all(out.astype(bool)[col < row]), f"some earlier key is blocked:\n{out.astype(int)}"

    with checker.check(CAUSAL_ONE, hint="a single token attends to itself only."):
        out = np.asarray(fn(1))
        assert out.shape == (1, 1) and bool(out[0, 0]), f"causal_mask(1) gave {out.tolist()}"
    return checker.report()
