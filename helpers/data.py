"""Deterministic toy inputs shared by the notebooks.

Every function draws from ``np.random.default_rng(seed)``, so the same call gives the
same numbers on every machine and in every notebook run (strict nbval compares them).

    >>> from helpers.data import TOKENS, sentence_embeddings, projection_weights
    >>> X = sentence_embeddings()            # (3, 4): one row per token of TOKENS
    >>> W_q, W_k, W_v = projection_weights()  # (4, 4) each
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["TOKENS", "sentence_embeddings", "projection_weights", "random_matrix",
           "sample_image"]

#: The running example: the sentence "I love programming", one token per word.
TOKENS: tuple[str, ...] = ("I", "love", "programming")


def _check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise a clear TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def _check_seed(seed: Any) -> int:
    return _check_int(seed, "seed", minimum=0)


def sentence_embeddings(d_model: int = 4, seed: int = 0) -> np.ndarray:
    """Token embeddings ``X`` for the sentence in :data:`TOKENS`.

    Args:
        d_model: the embedding size (columns), >= 1.
        seed: the random seed, >= 0.

    Returns:
        X: ``(3, d_model)`` float64, row ``i`` is the embedding of ``TOKENS[i]``
        (entries standard normal).
    """
    d_model = _check_int(d_model, "d_model")
    rng = np.random.default_rng(_check_seed(seed))
    return rng.standard_normal((len(TOKENS), d_model))


def projection_weights(d_model: int = 4, d_k: int = 4, d_v: int = 4,
                       seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learned-looking projection matrices for queries, keys and values.

    Entries are standard normal divided by ``sqrt(d_model)`` (the usual initialisation
    scale), so that ``X @ W_q`` has entries of order 1 when ``X`` does.

    Args:
        d_model: rows of every matrix (the embedding size of ``X``).
        d_k: columns of ``W_q`` and ``W_k`` (queries and keys must share it).
        d_v: columns of ``W_v``.
        seed: the random seed, >= 0.

    Returns:
        ``(W_q, W_k, W_v)`` with shapes ``(d_model, d_k)``, ``(d_model, d_k)``,
        ``(d_model, d_v)``, float64.
    """
    d_model = _check_int(d_model, "d_model")
    d_k = _check_int(d_k, "d_k")
    d_v = _check_int(d_v, "d_v")
    rng = np.random.default_rng(_check_seed(seed))
    scale = 1.0 / np.sqrt(d_model)
    w_q = rng.standard_normal((d_model, d_k)) * scale
    w_k = rng.standard_normal((d_model, d_k)) * scale
    w_v = rng.standard_normal((d_model, d_v)) * scale
    return w_q, w_k, w_v


def random_matrix(*shape: int, seed: int = 0) -> np.ndarray:
    """A seeded standard-normal float64 array of the given shape.

    ``random_matrix(2, 3)`` and ``random_matrix((2, 3))`` are the same ``(2, 3)`` array;
    any number of dimensions works (e.g. ``random_matrix(2, 4, 5, 8)`` for
    ``(batch, heads, seq, d_k)``).

    Raises:
        TypeError: no shape, or a dimension that is not an int.
        ValueError: a negative dimension or seed.
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not shape:
        raise TypeError("random_matrix needs a shape, e.g. random_matrix(3, 4); got none")
    dims = tuple(_check_int(d, f"dimension {i} of shape {shape}", minimum=0)
                 for i, d in enumerate(shape))
    rng = np.random.default_rng(_check_seed(seed))
    return rng.standard_normal(dims)


@functools.lru_cache(maxsize=1)
def _load_sample_image() -> np.ndarray:
    # Imported here: `import helpers` must stay light (no matplotlib at import time).
    from matplotlib import cbook, image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = image.imread(f, format="jpg")
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:  # JPEGs decode to uint8
        img = img / 255.0
    img.setflags(write=False)
    return img


def sample_image() -> np.ndarray:
    """The portrait of Grace Hopper that ships with matplotlib (no download).

    Returns:
        ``(600, 512, 3)`` float64 RGB array with values in ``[0, 1]``; a fresh copy on
        every call, so changing it does not affect later calls.
    """
    return _load_sample_image().copy()

