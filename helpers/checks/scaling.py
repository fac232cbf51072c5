"""Checks for notebook 02 (scaling): ``scaled_scores(Q, K) = Q K^T / sqrt(d_k)``.

The contract (COURSE_SPEC 3 and 3.1): any leading batch axes; numpy in, numpy out; torch in,
torch out and still differentiable; float32 stays float32; Q and K are never modified.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._framework import Checker, Report
from .qkv import _as_numpy, score_properties

__all__ = ["check_scaled_scores"]

# The usual cause of float32 -> float64 here, named as the issue asks (NumPy 2, NEP 50:
# a numpy float64 scalar is not "weak" like a Python float, so it promotes float32 arrays).
DTYPE_HINT = ("the @ operator and swapping the last two axes work for both numpy and torch "
              "without converting types. If float32 numpy input comes back as float64: "
              "np.sqrt(d_k) is a float64 numpy scalar, and dividing float32 by it gives "
              "float64; use math.sqrt(d_k) (a Python float) or cast the scale to Q's dtype.")

VARIANCE = ("scores of random unit-variance queries and keys have variance close to 1, "
            "whatever d_k is")
GRADIENT = "torch input stays differentiable: gradients flow back to Q and K"


def check_scaled_scores(fn: Callable) -> Report:
    """Property checks for ``scaled_scores(Q, K)`` with leading batch dimensions."""
    checker = Checker("scaled_scores")
    score_properties(fn, checker, lambda d_k: 1.0 / math.sqrt(d_k), dtype_hint=DTYPE_HINT)

    with checker.check(VARIANCE,
                       hint="the variance of a dot product of d_k independent terms is d_k; "
                            "dividing by its standard deviation brings it back to 1."):
        rng = np.random.default_rng(7)
        for d_k in (16, 256):
            Q, K = rng.standard_normal((200, d_k)), rng.standard_normal((200, d_k))
            var = float(_as_numpy(fn(Q, K)).var())
            assert 0.8 < var < 1.25, f"for d_k = {d_k} the scores have variance {var:.3f}"

    with checker.check(GRADIENT,
                       hint="on torch tensors use torch operations only (no .detach(), .numpy() "
                            "or torch.tensor(...) copies), so autograd can follow the scores "
                            "back to Q and K."):
        import torch

        gen = torch.Generator().manual_seed(5)
        Q = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        K = torch.randn(5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        out = fn(Q, K)
        assert isinstance(out, torch.Tensor) and out.requires_grad, (
            "the scores of tensors that require grad do not require grad: autograd lost track")
        out.sum().backward()
        # d(sum of scores)/dK[j] = (sum of the queries) / sqrt(d_k), and symmetrically for Q
        want_k = (Q.detach().sum(0, keepdim=True) / 2.0).expand(5, 4)
        want_q = (K.detach().sum(0, keepdim=True) / 2.0).expand(3, 4)
        assert K.grad is not None and torch.allclose(K.grad, want_k), \
            "the gradient with respect to K is not (sum of the queries) / sqrt(d_k)"
        assert Q.grad is not None and torch.allclose(Q.grad, want_q), \
            "the gradient with respect to Q is not (sum of the keys) / sqrt(d_k)"

    return checker.report()
