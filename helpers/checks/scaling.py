"""Checks for notebook 02 (scaling): ``scaled_scores(Q, K) = Q K^T / sqrt(d_k)``."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._framework import Checker, Report
from .qkv import _as_numpy, score_properties

__all__ = ["check_scaled_scores"]


def check_scaled_scores(fn: Callable) -> Report:
    """Property checks for ``scaled_scores(Q, K)`` with leading batch dimensions."""
    checker = Checker("scaled_scores")
    score_properties(fn, checker, lambda d_k: 1.0 / np.sqrt(d_k))

    with checker.check("scores of random unit-variance queries and keys have variance "
                       "close to 1, whatever d_k is",
                       hint="the variance of a dot product of d_k independent terms is d_k; "
                            "dividing by its standard deviation brings it back to 1."):
        rng = np.random.default_rng(7)
        for d_k in (16, 256):
            Q, K = rng.standard_normal((200, d_k)), rng.standard_normal((200, d_k))
            var = float(_as_numpy(fn(Q, K)).var())
            assert 0.8 < var < 1.25, f"for d_k = {d_k} the scores have variance {var:.3f}"

    return checker.report()
