"""helpers.checks.qkv: the checks pass a correct implementation and name the mistake in
wrong ones (each wrong answer fails exactly the properties it breaks, with its hint)."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.checks import check_dot_scores, check_project_qkv
from helpers.checks.qkv import QKV_BATCH, QKV_GRADIENT, SCORES_GRADIENT


def project_qkv(X, W_q, W_k, W_v):
    return X @ W_q, X @ W_k, X @ W_v


def dot_scores(Q, K):
    return Q @ K.swapaxes(-1, -2)


def failed(report) -> dict[str, str]:
    """{property name: 'detail | hint'} for every failed property."""
    return {r.name: f"{r.detail} | {r.hint}" for r in report.failures}


def test_correct_project_qkv_passes_every_check():
    report = check_project_qkv(project_qkv)
    assert report.passed, repr(report)
    assert len(report.results) >= 4
    assert "All checks passed" in repr(report)


def test_project_qkv_using_w_q_for_keys_is_named():
    report = check_project_qkv(lambda X, W_q, W_k, W_v: (X @ W_q, X @ W_q, X @ W_v))
    fails = failed(report)
    assert not report.passed
    detail = fails["each of Q, K, V is X times its own weight matrix"]
    assert "K does not match" in detail and "equals X projected with W_q" in detail
    assert "keys use W_k" in detail


def test_project_qkv_returning_one_array_fails_the_tuple_check():
    report = check_project_qkv(lambda X, W_q, W_k, W_v: X @ W_q)
    assert "expected a tuple (Q, K, V)" in failed(report)[
        "returns three matrices with the right shapes"]


def test_project_qkv_through_numpy_fails_only_the_torch_checks():
    report = check_project_qkv(lambda X, a, b, c: (np.dot(X, a), np.dot(X, b), np.dot(X, c)))
    fails = failed(report)
    assert list(fails) == ["torch tensors in, torch tensors out (float32 stays float32)", QKV_GRADIENT]
    assert "expected three torch.Tensor; got ndarray" in fails[
        "torch tensors in, torch tensors out (float32 stays float32)"]


def test_project_qkv_detaching_torch_fails_only_the_gradient_check():
    import torch

    def detached(X, W_q, W_k, W_v):
        out = (X @ W_q, X @ W_k, X @ W_v)
        return tuple(m.detach() if isinstance(m, torch.Tensor) else m for m in out)
    fails = failed(check_project_qkv(detached))
    assert list(fails) == [QKV_GRADIENT]
    assert "autograd lost track" in fails[QKV_GRADIENT] and "no numpy functions" in fails[QKV_GRADIENT]


def test_project_qkv_one_hard_coded_batch_axis_fails_the_batch_check():
    def one_batch_axis(X, W_q, W_k, W_v):
        spec = "bnd,de->bne" if X.ndim == 3 else "nd,de->ne"
        ein = np.einsum if isinstance(X, np.ndarray) else __import__("torch").einsum
        return tuple(ein(spec, X, W) for W in (W_q, W_k, W_v))
    fails = failed(check_project_qkv(one_batch_axis))
    assert list(fails) == [QKV_BATCH]
    assert "raised ValueError" in fails[QKV_BATCH] and "last axis of X only" in fails[QKV_BATCH]


def test_project_qkv_transpose_trick_fails_only_the_batch_check():
    report = check_project_qkv(lambda X, a, b, c: ((a.T @ X.T).T, (b.T @ X.T).T, (c.T @ X.T).T))
    assert list(failed(report)) == [QKV_BATCH]


def test_project_qkv_upcasting_to_float64_is_caught():
    def upcast(X, W_q, W_k, W_v):
        return tuple(np.asarray(X, np.float64) @ np.asarray(W, np.float64) for W in (W_q, W_k, W_v))
    fails = failed(check_project_qkv(upcast))
    assert "float64" in fails["numpy arrays in, numpy arrays out (float32 stays float32)"]


def test_project_qkv_modifying_x_is_caught():
    def in_place(X, W_q, W_k, W_v):
        out = (X @ W_q, X @ W_k, X @ W_v)
        X *= 0
        return out
    assert "X was modified" in failed(check_project_qkv(in_place))["leaves its inputs unchanged"]


def test_blank_project_qkv_fails_with_not_implemented_hint():
    def blank(X, W_q, W_k, W_v):
        raise NotImplementedError()
    report = check_project_qkv(blank)
    assert not any(r.passed for r in report.results)
    assert all("NotImplementedError" in r.detail for r in report.results)


def test_correct_dot_scores_passes_every_check():
    report = check_dot_scores(dot_scores)
    assert report.passed, repr(report)


def test_dot_scores_transposed_result_is_named():
    fails = failed(check_dot_scores(lambda Q, K: K @ Q.swapaxes(-1, -2)))
    assert "expected shape (3, 5); got (5, 3)" in fails[
        "shape is (n_q, n_k): one row per query, one column per key"]
    assert "your result is transposed" in fails[
        "entry [i, j] is the dot product of query i with key j"]


def test_dot_scores_with_dot_T_fails_only_the_batch_check():
    fails = failed(check_dot_scores(lambda Q, K: Q @ K.T))
    assert list(fails) == ["works with leading batch dimensions (batch, heads, n, d_k)"]
    assert "transpose only the last two axes" in fails[
        "works with leading batch dimensions (batch, heads, n, d_k)"]


def test_dot_scores_with_numpy_functions_on_tensors_fails_only_the_gradient_check():
    fails = failed(check_dot_scores(lambda Q, K: np.matmul(Q, np.swapaxes(K, -1, -2))))
    assert list(fails) == [SCORES_GRADIENT]
    assert "no numpy functions" in fails[SCORES_GRADIENT]


def test_dot_scores_with_one_batch_axis_missing_fails_the_batch_check():
    def four_d_only(Q, K):
        spec = "bhqd,bhkd->bhqk" if Q.ndim == 4 else "qd,kd->qk"     # forgets (batch, n, d_k)
        return np.einsum(spec, Q, K)
    fails = failed(check_dot_scores(four_d_only))
    assert "works with leading batch dimensions (batch, heads, n, d_k)" in fails


def test_dot_scores_through_numpy_fails_the_type_check():
    fails = failed(check_dot_scores(lambda Q, K: np.matmul(np.asarray(Q), np.asarray(K).swapaxes(-1, -2))))
    assert "torch float32 input gave ndarray" in fails[
        "torch in, torch out; numpy in, numpy out; float32 stays float32"]


def test_dot_scores_modifying_q_is_caught():
    def in_place(Q, K):
        out = Q @ K.swapaxes(-1, -2)
        Q += 1
        return out
    assert "Q was modified" in failed(check_dot_scores(in_place))["leaves Q and K unchanged"]


@pytest.mark.parametrize("check", [check_project_qkv, check_dot_scores])
def test_a_crash_is_reported_not_raised(check):
    def crash(*args):
        raise ZeroDivisionError("boom")
    report = check(crash)
    assert not report.passed
    assert all("raised ZeroDivisionError: boom" in r.detail for r in report.failures)
