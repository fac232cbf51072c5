"""helpers.data: deterministic toy inputs with clear errors for bad arguments."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from helpers import data
from helpers.data import (TOKENS, projection_weights, random_matrix, sample_image,
                          sentence_embeddings)


def test_tokens_are_the_running_example_sentence():
    assert TOKENS == ("I", "love", "programming")


# --- sentence_embeddings -----------------------------------------------------------------
@pytest.mark.parametrize("d_model", [1, 4, 16])
def test_sentence_embeddings_have_one_float64_row_per_token(d_model):
    X = sentence_embeddings(d_model)
    assert X.shape == (3, d_model) and X.dtype == np.float64
    assert np.isfinite(X).all()


def test_sentence_embeddings_are_deterministic_per_seed():
    np.testing.assert_array_equal(sentence_embeddings(), sentence_embeddings(4, 0))
    assert not np.allclose(sentence_embeddings(seed=0), sentence_embeddings(seed=1))
    # rows are distinct tokens, not copies of one vector
    assert np.linalg.matrix_rank(sentence_embeddings(4)) == 3


def test_sentence_embeddings_do_not_depend_on_global_random_state():
    np.random.seed(123)
    first = sentence_embeddings()
    np.random.seed(456)
    np.random.standard_normal(10)
    np.testing.assert_array_equal(first, sentence_embeddings())


# --- projection_weights ------------------------------------------------------------------
def test_projection_weights_have_the_documented_shapes():
    W_q, W_k, W_v = projection_weights(d_model=6, d_k=3, d_v=5)
    assert (W_q.shape, W_k.shape, W_v.shape) == ((6, 3), (6, 3), (6, 5))
    assert all(W.dtype == np.float64 for W in (W_q, W_k, W_v))


def test_projection_weights_defaults_fit_the_sentence_embeddings():
    X = sentence_embeddings()
    Q, K, V = (X @ W for W in projection_weights())
    assert Q.shape == K.shape == V.shape == (3, 4)


def test_projection_weights_are_three_different_deterministic_matrices():
    first, second = projection_weights(), projection_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    W_q, W_k, W_v = first
    assert not np.allclose(W_q, W_k) and not np.allclose(W_k, W_v)
    assert not np.allclose(projection_weights(seed=2)[0], W_q)


def test_projection_weights_are_scaled_by_one_over_sqrt_d_model():
    for d_model in (16, 256):
        W_q, W_k, W_v = projection_weights(d_model, 128, 128)
        for W in (W_q, W_k, W_v):
            assert abs(W.std() - 1 / np.sqrt(d_model)) < 0.1 / np.sqrt(d_model)
    # so that projected inputs keep entries of order 1
    X = random_matrix(500, 256, seed=3)
    assert 0.9 < (X @ projection_weights(256, 64, 64)[0]).std() < 1.1


# --- random_matrix -----------------------------------------------------------------------
def test_random_matrix_is_seeded_standard_normal_float64():
    M = random_matrix(3, 4, seed=7)
    np.testing.assert_array_equal(M, np.random.default_rng(7).standard_normal((3, 4)))
    assert M.dtype == np.float64
    big = random_matrix(200, 200)
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02


def test_random_matrix_takes_dims_or_one_shape_tuple_and_any_ndim():
    np.testing.assert_array_equal(random_matrix(2, 3), random_matrix((2, 3)))
    assert random_matrix(2, 4, 5, 8).shape == (2, 4, 5, 8)
    assert random_matrix(5).shape == (5,)
    assert random_matrix(0, 3).shape == (0, 3)
    assert random_matrix(np.int64(2), 2).shape == (2, 2)


def test_random_matrix_default_seed_is_zero_and_seeds_differ():
    np.testing.assert_array_equal(random_matrix(3, 3), random_matrix(3, 3, seed=0))
    assert not np.allclose(random_matrix(3, 3, seed=0), random_matrix(3, 3, seed=1))


# --- argument errors -----------------------------------------------------------------------
@pytest.mark.parametrize("call, error, message", [
    (lambda: sentence_embeddings(0), ValueError, "d_model must be >= 1; got 0"),
    (lambda: sentence_embeddings(2.5), TypeError, "d_model must be an int; got float 2.5"),
    (lambda: sentence_embeddings(True), TypeError, "d_model must be an int; got bool True"),
    (lambda: sentence_embeddings(seed=-1), ValueError, "seed must be >= 0; got -1"),
    (lambda: sentence_embeddings(seed="0"), TypeError, "seed must be an int; got str '0'"),
    (lambda: projection_weights(4, 0), ValueError, "d_k must be >= 1; got 0"),
    (lambda: projection_weights(4, 4, -2), ValueError, "d_v must be >= 1; got -2"),
    (lambda: projection_weights(None), TypeError, "d_model must be an int; got NoneType"),
    (lambda: random_matrix(), TypeError, r"random_matrix needs a shape, e\.g\. "
                                         r"random_matrix\(3, 4\); got none"),
    (lambda: random_matrix(2, -3), ValueError, r"dimension 1 of shape \(2, -3\) must be "
                                               r">= 0; got -3"),
    (lambda: random_matrix(2.0, 3), TypeError, r"dimension 0 of shape \(2.0, 3\) must be "
                                               r"an int; got float 2.0"),
    (lambda: random_matrix(2, 3, seed=1.5), TypeError, "seed must be an int"),
])
def test_bad_arguments_say_what_was_expected_and_given(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- sample_image -------------------------------------------------------------------------
def test_sample_image_is_an_rgb_float_image_in_0_1():
    img = sample_image()
    assert img.shape == (600, 512, 3) and img.dtype == np.float64
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert img.max() > 0.9 and img.min() < 0.1, "uses the full range, not raw bytes / 255^2"
    assert img.std(axis=(0, 1)).min() > 0.05, "a real photo, not a constant"


def test_sample_image_returns_an_independent_copy_each_time():
    first = sample_image()
    first[:] = 0.0
    assert sample_image().max() > 0.9


def test_sample_image_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("sample_image tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    data._load_sample_image.cache_clear()
    assert sample_image().shape == (600, 512, 3)
