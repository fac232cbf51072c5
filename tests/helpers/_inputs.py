"""Deterministic inputs for the helpers tests, built independently of the code under test."""
from __future__ import annotations

import numpy as np


def softmax_rows(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis; masked entries (mask False) get exactly 0."""
    scores = np.asarray(scores, dtype=float)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def random_weights(*shape: int, seed: int = 0, mask: np.ndarray | None = None) -> np.ndarray:
    """Attention weights of the given shape: softmax of seeded normal scores."""
    scores = np.random.default_rng(seed).standard_normal(shape) * 1.5
    return softmax_rows(scores, mask)


def causal(n: int) -> np.ndarray:
    """(n, n) bool, True on and below the diagonal (may attend)."""
    return np.tril(np.ones((n, n), dtype=bool))
