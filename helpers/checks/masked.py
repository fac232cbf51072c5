"""Checks for notebook 03 (softmax): ``masked_softmax(scores, mask, axis=-1)``.

Conventions checked (COURSE_SPEC 3 and 3.1): masks are boolean, True = may attend, and
broadcast against the scores ``(..., n_q, n_k)``; a slice with no allowed entry gets all-zero
weights, never NaN; inputs are never modified; float32 stays float32. Only outputs count:
numpy warnings raised on the way are reported as a note, never as a failure.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._framework import Checker, Report
from .softmax import _SHAPE_HINT, _WarningAdvice, _call_recording, _close, _torch_softmax

__all__ = ["check_masked_softmax"]

MASKED_SHAPE = "returns an array with the shape of the scores"
MASKED_ZEROS = "masked entries get exactly 0"
MASKED_VALUES = "the allowed entries sum to 1 and match softmax over them"
MASKED_FULLY = "a fully masked row (or column, with axis=0) gives all zeros, never NaN"
MASKED_BROADCAST = "masks broadcast against the scores: (n_k,), (n_q, n_k) and (batch, 1, n_k)"
MASKED_LARGE = "large scores (1e4) give finite, correct weights, even when a masked score is the largest"
MASKED_AXIS = "the axis argument is honoured (axis=0, axis=-2)"
MASKED_DTYPE = "the weights keep the scores' dtype (float32 stays float32, float64 stays float64)"
MASKED_INPUTS = "the scores and the mask are not modified"


def _masked_reference(scores: np.ndarray, mask: np.ndarray, axis: int = -1) -> np.ndarray:
    """torch.softmax over the allowed entries; only for slices with an allowed entry."""
    import torch

    t = torch.from_numpy(np.array(scores, dtype=np.float64))
    m = torch.from_numpy(np.broadcast_to(mask, scores.shape).copy())
    return torch.softmax(t.masked_fill(~m, float("-inf")), dim=axis).numpy()


def check_masked_softmax(fn: Callable) -> Report:
    """Property checks for ``masked_softmax(scores, mask, axis=-1)``."""
    checker = Checker("masked_softmax")
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(3, 4))
    mask = np.array([[True, True, False, False],
                     [True, True, True, True],
                     [False, True, False, True]])

    with checker.check(MASKED_SHAPE, hint=_SHAPE_HINT):
        out = np.asarray(fn(scores.copy(), mask.copy()))
        assert out.shape == scores.shape, f"scores {scores.shape} gave weights {out.shape}"

    with checker.check(MASKED_ZEROS,
                       hint="True means 'may attend'. A masked score must contribute nothing: "
                            "exp(-inf) is exactly 0."):
        out = np.asarray(fn(scores.copy(), mask.copy()))
        assert np.all(out[~mask] == 0.0), f"weights at masked positions: {out[~mask]}"

    with checker.check(MASKED_VALUES,
                       hint="normalise after masking, so each row's allowed weights sum to 1."):
        out = np.asarray(fn(scores.copy(), mask.copy()))
        for i, row in enumerate(mask):
            expected = _torch_softmax(scores[i, row], -1)
            assert _close(out[i, row], expected), \
                f"row {i}: allowed weights {np.round(out[i, row], 4)}, expected {np.round(expected, 4)}"

    advice, messages = _WarningAdvice(), []
    with checker.check(MASKED_FULLY,
                       hint="a query with nothing to attend to gets zero weight everywhere. "
                            "Filling with -inf alone gives 0/0 = NaN; filling with a large "
                            "negative number (-1e9, as many tutorials and torch's masked_fill "
                            "idiom do) gives uniform weights over keys the query may not see. "
                            "Treat slices with no allowed key separately (their weights are 0)."):
        full = np.array([[True, True, True, True], [False] * 4, [True, True, True, True]])
        nothing = np.zeros((3, 4), dtype=bool)
        for s, m in ((scores, full), (1e4 * scores.astype(np.float32), nothing)):
            out, caught = _call_recording(fn, s.copy(), m.copy())
            messages += caught
            out = np.asarray(out)
            assert not np.any(np.isnan(out)), f"weights contain NaN: {np.round(out, 3).tolist()}"
            empty = ~m.any(axis=-1)
            assert np.all(out[empty] == 0.0), \
                f"the fully masked row(s) got {np.round(out[empty], 3).tolist()}, expected zeros"
            assert _close(out[~empty], _torch_softmax(s[~empty], -1)), \
                "with a fully masked row present, the rows with every key allowed are wrong"
        batch = rng.normal(size=(2, 3, 4))                    # sequence 1 is all padding
        pad = np.broadcast_to(np.array([[True] * 4, [False] * 4])[:, None, :], (2, 3, 4)).copy()
        out, caught = _call_recording(fn, batch.copy(), pad)
        messages += caught
        out = np.asarray(out)
        assert out.shape == batch.shape and not np.any(np.isnan(out)) and np.all(out[1] == 0.0), \
            "a (2, 3, 4) batch whose second sequence is all padding should give zeros there, no NaN"
        assert _close(out[0], _torch_softmax(batch[0], -1)), \
            "in a batch with an all-padding sequence, the other sequence is wrong"
        column = np.array([[True, False], [True, False]])     # axis=0: column 1 sees nothing
        out, caught = _call_recording(fn, np.ones((2, 2)), column, axis=0)
        messages += caught
        out = np.asarray(out)
        assert not np.any(np.isnan(out)) and np.all(out[:, 1] == 0.0), \
            f"with axis=0, the fully masked column 1 got {out[:, 1]}, expected zeros"
    advice.add(checker, MASKED_FULLY, messages)

    with checker.check(MASKED_BROADCAST,
                       hint="use broadcasting (np.where or np.broadcast_to) rather than assuming "
                            "the mask has the same shape as the scores."):
        batch = rng.normal(size=(2, 3, 4))
        for m in (np.array([True, True, True, False]),
                  np.tril(np.ones((3, 4), dtype=bool)),
                  np.array([[[True, True, True, False]], [[True, False, True, False]]])):
            out = np.asarray(fn(batch.copy(), m.copy()))
            assert out.shape == batch.shape, f"mask {m.shape}: scores {batch.shape} gave weights {out.shape}"
            assert _close(out, _masked_reference(batch, m)), \
                f"a mask of shape {m.shape} was not applied to every row of scores {batch.shape}"

    with checker.check(MASKED_LARGE,
                       hint="subtract the maximum over the allowed entries (not over every entry: "
                            "a masked score far above the others would push every allowed "
                            "exp() to 0) before exponentiating."):
        out, messages = _call_recording(fn, 1e4 * scores, mask.copy())
        out = np.asarray(out)
        assert np.all(np.isfinite(out)), f"weights for scores around 1e4: {out}"
        assert _close(out, _masked_reference(1e4 * scores, mask)), \
            f"weights for scores around 1e4: {np.round(out, 4).tolist()}"
        low, low_mask = np.array([[-1e4, -1e4 + 2.0, 0.0]]), np.array([[True, True, False]])
        out, caught = _call_recording(fn, low.copy(), low_mask.copy())
        messages += caught
        out = np.asarray(out)
        assert _close(out, _masked_reference(low, low_mask)), (
            f"scores [-1e4, -1e4 + 2] allowed and 0 masked gave {np.round(out, 4).tolist()}, "
            f"expected {np.round(_masked_reference(low, low_mask), 4).tolist()}")
    advice.add(checker, MASKED_LARGE, messages)

    with checker.check(MASKED_AXIS,
                       hint="use `axis` for the maximum and for the sum, with keepdims=True."):
        m = np.array([[True, False, True], [True, True, False]])
        s = rng.normal(size=(2, 3))
        out = np.asarray(fn(s.copy(), m.copy(), axis=0))
        assert out.shape == s.shape, f"axis=0: scores {s.shape} gave weights {out.shape}"
        assert _close(out, _masked_reference(s, m, axis=0)), \
            f"axis=0: each column's allowed weights should sum to 1; column sums {out.sum(0)}"
        s3 = rng.normal(size=(3, 4, 2))
        m3 = np.broadcast_to(np.array([[True, False], [True, True], [False, True], [True, True]]),
                             s3.shape).copy()
        out = np.asarray(fn(s3.copy(), m3.copy(), axis=-2))
        assert out.shape == s3.shape, f"axis=-2: scores {s3.shape} gave weights {out.shape}"
        assert _close(out, _masked_reference(s3, m3, axis=-2)), \
            "axis=-2: the allowed weights should sum to 1 along the second-to-last axis"

    with checker.check(MASKED_DTYPE,
                       hint="avoid converting to float64 (np.float64 constants, dtype=float); "
                            "where-, exp- and division results keep float32."):
        for dtype in (np.float32, np.float64):
            out = np.asarray(fn(scores.astype(dtype), mask.copy()))
            assert out.dtype == dtype, f"{np.dtype(dtype).name} scores returned dtype {out.dtype}"

    with checker.check(MASKED_INPUTS,
                       hint="build new arrays instead of writing into the inputs."):
        s, m = scores.copy(), mask.copy()
        fn(s, m)
        assert np.array_equal(s, scores), "the scores changed"
        assert np.array_equal(m, mask), "the mask changed"
    advice.emit(checker)
    return checker.report()
