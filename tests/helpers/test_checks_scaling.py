"""helpers.checks.scaling: check_scaled_scores passes Q K^T / sqrt(d_k) and names the usual
wrong denominators."""
from __future__ import annotations

import math

import numpy as np

from helpers.checks import check_scaled_scores

VALUES = "entry [i, j] is the dot product of query i with key j, divided by sqrt(d_k)"
VARIANCE = ("scores of random unit-variance queries and keys have variance close to 1, "
            "whatever d_k is")
BATCH = "works with leading batch dimensions (batch, heads, n, d_k)"


def scaled_scores(Q, K):
    return Q @ K.swapaxes(-1, -2) / math.sqrt(K.shape[-1])


def failed(report) -> dict[str, str]:
    return {r.name: f"{r.detail} | {r.hint}" for r in report.failures}


def test_correct_scaled_scores_passes_every_check():
    report = check_scaled_scores(scaled_scores)
    assert report.passed, repr(report)
    assert VARIANCE in [r.name for r in report.results]


def test_torch_float32_input_passes_too():
    import torch
    report = check_scaled_scores(lambda Q, K: torch.matmul(Q, K.transpose(-2, -1)) / K.shape[-1] ** 0.5
                                 if isinstance(Q, torch.Tensor) else scaled_scores(Q, K))
    assert report.passed, repr(report)


def test_missing_scaling_is_named():
    fails = failed(check_scaled_scores(lambda Q, K: Q @ K.swapaxes(-1, -2)))
    assert "unscaled Q K^T" in fails[VALUES]
    assert "for d_k = 16 the scores have variance" in fails[VARIANCE]


def test_dividing_by_d_k_is_named_with_the_sqrt_dk_sqrt_dq_form():
    fails = failed(check_scaled_scores(
        lambda Q, K: Q @ K.swapaxes(-1, -2) / (math.sqrt(K.shape[-1]) * math.sqrt(Q.shape[-1]))))
    assert "divided by d_k" in fails[VALUES] and "sqrt(d_k) * sqrt(d_q)" in fails[VALUES]
    assert VARIANCE in fails


def test_dividing_by_the_number_of_keys_is_named():
    fails = failed(check_scaled_scores(lambda Q, K: Q @ K.swapaxes(-1, -2) / math.sqrt(K.shape[-2])))
    assert "square root of the number of keys" in fails[VALUES]


def test_transposed_scores_are_named():
    fails = failed(check_scaled_scores(lambda Q, K: K @ Q.swapaxes(-1, -2) / math.sqrt(K.shape[-1])))
    assert "transposed" in fails[VALUES]


def test_dot_T_fails_only_the_batch_check():
    fails = failed(check_scaled_scores(lambda Q, K: Q @ K.T / math.sqrt(K.shape[-1])))
    assert list(fails) == [BATCH]


def test_scaling_q_in_place_is_caught():
    def in_place(Q, K):
        Q /= math.sqrt(K.shape[-1])
        return Q @ K.swapaxes(-1, -2)
    fails = failed(check_scaled_scores(in_place))
    assert "Q was modified" in fails["leaves Q and K unchanged"]


def test_upcasting_is_caught():
    fails = failed(check_scaled_scores(
        lambda Q, K: np.asarray(Q, np.float64) @ np.asarray(K, np.float64).swapaxes(-1, -2)
        / math.sqrt(np.shape(K)[-1])))
    assert "float64" in fails["torch in, torch out; numpy in, numpy out; float32 stays float32"]


DTYPES = "torch in, torch out; numpy in, numpy out; float32 stays float32"
GRADIENT = "torch input stays differentiable: gradients flow back to Q and K"


def test_np_sqrt_fails_only_the_dtype_check_and_the_hint_names_the_cause():
    # issue 15: under NumPy 2, float32 / np.sqrt(d_k) (a float64 numpy scalar) is float64
    fails = failed(check_scaled_scores(lambda Q, K: Q @ K.swapaxes(-1, -2) / np.sqrt(K.shape[-1])))
    assert list(fails) == [DTYPES]
    assert "float64" in fails[DTYPES] and "np.sqrt(d_k)" in fails[DTYPES] and "math.sqrt(d_k)" in fails[DTYPES]


def test_np_sqrt_cast_to_the_input_dtype_passes():
    def cast(Q, K):
        if isinstance(Q, np.ndarray):
            return Q @ K.swapaxes(-1, -2) / np.sqrt(K.shape[-1]).astype(Q.dtype)
        return Q @ K.transpose(-2, -1) / math.sqrt(K.shape[-1])
    report = check_scaled_scores(cast)
    assert report.passed, repr(report)


def test_einsum_dispatch_and_torch_roundtrip_pass():
    import torch

    def einsum(Q, K):
        xp = torch if isinstance(Q, torch.Tensor) else np
        return xp.einsum("...qd,...kd->...qk", Q, K) / K.shape[-1] ** 0.5

    def roundtrip(Q, K):
        out = torch.matmul(torch.as_tensor(Q), torch.as_tensor(K).mT) / math.sqrt(K.shape[-1])
        return out.numpy() if isinstance(Q, np.ndarray) else out

    for fn in (einsum, roundtrip):
        report = check_scaled_scores(fn)
        assert report.passed, repr(report)


def test_detached_scores_fail_only_the_gradient_check():
    import torch

    def detached(Q, K):
        S = Q @ K.swapaxes(-1, -2) / math.sqrt(K.shape[-1])
        return S.detach() if isinstance(S, torch.Tensor) else S

    fails = failed(check_scaled_scores(detached))
    assert list(fails) == [GRADIENT]
    assert "autograd" in fails[GRADIENT]
