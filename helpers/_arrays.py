"""Turn what a student passes to a plotting helper into a checked float64 numpy array.

Students pass numpy arrays, torch tensors (on any device, possibly with
``requires_grad=True``) or nested lists. Every helper funnels its input through
:func:`to_numpy` and then validates it with the functions below, so that a mistake
produces one clear ``ValueError``/``TypeError`` that says what was expected and what
was given, instead of a traceback deep inside matplotlib.

torch is never imported here: tensors are recognised by duck typing.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "to_numpy",
    "as_weights",
    "as_mask",
    "as_labels",
    "check_rows_sum_to_one",
]

# Tolerance for "rows sum to 1": float32 softmax outputs are off by ~1e-7 per row.
ROW_SUM_ATOL = 1e-4


def _describe(x: Any) -> str:
    """A short description of ``x`` for error messages: type and, if any, shape."""
    shape = getattr(x, "shape", None)
    kind = type(x).__module__.split(".")[0] + "." + type(x).__name__
    if kind.startswith("builtins."):
        kind = type(x).__name__
    return f"{kind} with shape {tuple(shape)}" if shape is not None else kind


def _is_tensor_like(x: Any) -> bool:
    return all(hasattr(x, attr) for attr in ("detach", "cpu", "numpy"))


def to_numpy(x: Any, name: str = "weights") -> np.ndarray:
    """Return ``x`` as a new float64 array.

    Accepts numpy arrays, numpy scalars, nested lists/tuples of numbers and torch
    tensors (detached and moved to the CPU first, so tensors on a GPU or with
    ``requires_grad=True`` work). Booleans count as numbers (False = 0, True = 1).

    Raises:
        TypeError: for ``None``, strings, ragged lists or anything non-numeric.
    """
    if x is None:
        raise TypeError(f"{name} must be an array of numbers (numpy array, torch tensor "
                        f"or nested list); got None")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers; got a string {x!r}")
    if _is_tensor_like(x):
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()  # numpy has no bfloat16
        x = x.numpy()
    elif isinstance(x, (list, tuple)) and any(_is_tensor_like(e) for e in x):
        x = [to_numpy(e, name) for e in x]  # e.g. [weights_head0, weights_head1]
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError, RuntimeError) as err:  # ragged lists, odd objects
        raise TypeError(f"{name} must be a rectangular array of numbers; got {_describe(x)} "
                        f"that numpy cannot turn into an array ({err})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must contain numbers; got {_describe(x)} with dtype "
                        f"{arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must contain real numbers; got complex dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)


def as_weights(x: Any, ndims: Sequence[int], *, name: str = "weights",
               expected: str = "2-D (n_queries, n_keys)", hint: str = "") -> np.ndarray:
    """Convert ``x`` with :func:`to_numpy` and check its ndim and values.

    Args:
        x: the input (array, tensor or nested list).
        ndims: the allowed numbers of dimensions.
        name: what the argument is called, for messages.
        expected: a description of the expected shape, for messages.
        hint: appended to the wrong-ndim message (e.g. "use show_heads for 3-D").

    Returns:
        a float64 array with finite, non-negative entries and no empty axis.

    Raises:
        TypeError: non-numeric input.
        ValueError: wrong ndim, an empty axis, NaN/inf or negative entries.
    """
    arr = to_numpy(x, name)
    if arr.ndim not in ndims:
        extra = f"; {hint}" if hint else ""
        raise ValueError(f"{name} must be {expected}; got shape {arr.shape}{extra}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; got {int(bad.sum())} NaN/inf value(s), "
                         f"the first at index {where} ({arr[where]}). A row of -inf scores "
                         f"(everything masked) turns into NaN after a naive softmax.")
    if (arr < 0).any():
        where = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"{name} must be non-negative (attention weights are "
                         f"probabilities); got {int((arr < 0).sum())} negative value(s), "
                         f"the first {arr[where]:.4g} at index {where}. Did you pass "
                         f"scores instead of softmax(scores)?")
    return arr


def as_mask(mask: Any, shape: tuple[int, ...], *, name: str = "mask") -> np.ndarray | None:
    """Return ``mask`` as a bool array broadcast to ``shape`` (True = may attend).

    ``None`` gives ``None``. A numeric mask is accepted only if it holds nothing but
    0 and 1; an additive mask of 0/-inf gets a TypeError explaining the convention.

    Raises:
        TypeError: a non-boolean mask.
        ValueError: a mask that does not broadcast to ``shape``.
    """
    if mask is None:
        return None
    arr = to_numpy(mask, name)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise TypeError(f"{name} must be boolean (True = may attend, False = masked); got "
                        f"values other than 0/1, e.g. {arr[~np.isin(arr, (0.0, 1.0))][0]}. "
                        f"An additive mask of 0/-inf is a different convention.")
    try:
        return np.broadcast_to(arr.astype(bool), shape)
    except ValueError:
        raise ValueError(f"{name} must have a shape that broadcasts to the weights' shape "
                         f"{shape}; got shape {arr.shape}") from None


def as_labels(labels: Any, n: int, *, name: str, axis: str) -> list[str] | None:
    """Return ``labels`` as ``n`` strings, or ``None`` if ``labels`` is ``None``.

    Args:
        labels: a sequence of tokens (any objects; they are shown with ``str``).
        n: how many the axis needs.
        name: the argument's name ("queries" or "keys").
        axis: what one entry of the axis is called, singular ("row" or "column").

    Raises:
        TypeError: a single string or a non-sequence.
        ValueError: the wrong number of labels.
    """
    if labels is None:
        return None
    if isinstance(labels, str):
        raise TypeError(f"{name} must be a sequence of {n} labels, one per {axis}; got "
                        f"the single string {labels!r} (did you mean {labels!r}.split()?)")
    if _is_tensor_like(labels):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()  # numpy scalars -> Python: 7 shows as "7", not "7.0"
    try:
        out = [str(t) for t in labels]
    except TypeError:
        raise TypeError(f"{name} must be a sequence of labels; got "
                        f"{_describe(labels)}") from None
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} labels but the weights have {n} {axis}s "
                         f"(one label per {axis} expected); got {name}={out!r}")
    return out


def check_rows_sum_to_one(weights: np.ndarray, mask: np.ndarray | None = None, *,
                          name: str = "weights") -> None:
    """Raise ValueError unless every row (last axis) sums to 1.

    A row whose every entry is masked may sum to 0 instead: by the course convention
    a query with nothing to attend to gets all-zero weights.
    """
    sums = weights.sum(axis=-1)
    ok = np.isclose(sums, 1.0, rtol=0.0, atol=ROW_SUM_ATOL)
    if mask is not None:
        fully_masked = ~mask.any(axis=-1)
        ok |= fully_masked & np.isclose(sums, 0.0, rtol=0.0, atol=ROW_SUM_ATOL)
    if not ok.all():
        where = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise ValueError(f"every row of {name} must sum to 1 (check_rows=True); got "
                         f"{int((~ok).sum())} row(s) that do not, e.g. row {where} sums to "
                         f"{sums[where]:.6g}. Did you normalise over the last axis (keys)?")
