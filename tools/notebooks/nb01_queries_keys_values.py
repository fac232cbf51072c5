"""Build course/01-queries-keys-values/queries_keys_values.ipynb.

    .venv/bin/python -m tools.notebooks.nb01_queries_keys_values
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, locked, md, notebook, solution, tests, write

PATH = (Path(__file__).resolve().parents[2] / "course" / "01-queries-keys-values"
        / "queries_keys_values.ipynb")


def cells() -> list:
    return [
        md("""
        # 01 · Queries, keys and values

        Attention lets every token of a sentence look at every other token and decide how
        much of each to take in. This notebook builds the first half of that machinery.

        **Learning goals.** By the end you can

        - explain attention as a *soft* dictionary lookup, and how it differs from a hard one;
        - turn the sentence "I love programming" into token embeddings `X` and project them
          into queries `Q`, keys `K` and values `V` with learned matrices;
        - say the shape of every array at every step, with and without a batch dimension;
        - compute the raw attention scores `Q Kᵀ` for any number of leading batch axes, and
          draw them as a heatmap labelled with the tokens.

        You write two graded functions: `project_qkv` and `dot_scores`.
        """),
        code("""
        import numpy as np
        import torch
        import matplotlib.pyplot as plt

        from helpers import show_attention
        from helpers.data import TOKENS, sentence_embeddings, projection_weights
        from helpers.checks import check_project_qkv, check_dot_scores

        np.set_printoptions(precision=3, suppress=True)
        """),
        md("""
        ## 1. A hard lookup

        **Why.** A Python `dict` is a lookup table: a *query* is compared with every *key*,
        and the *value* of the one key that matches exactly comes back. Attention is the same
        idea with the "exactly" relaxed. Start with the exact version, written so that it
        looks like linear algebra: the match is a one-hot row of weights, and the answer is
        weights times values.
        """),
        code("""
        keys = ["cat", "dog", "bird"]
        values = np.array([[1.0, 0.0],     # one value vector per key
                           [0.0, 1.0],
                           [0.5, 0.5]])
        query = "dog"

        weights = np.array([1.0 if key == query else 0.0 for key in keys])
        print("weights:", weights)
        print("answer: ", weights @ values)
        """),
        md("""
        ## 2. A soft lookup

        **The idea.** Give every key a *similarity score* with the query instead of a yes/no
        match, turn the scores into weights that are positive and sum to 1, and return the
        weighted average of the values. With vectors as keys and the dot product as
        similarity:

        $$\\text{scores}_j = q \\cdot k_j, \\qquad
        w_j = \\frac{e^{\\text{scores}_j}}{\\sum_{j'} e^{\\text{scores}_{j'}}}, \\qquad
        \\text{answer} = \\sum_j w_j\\, v_j$$

        (The exponential-and-normalise step is the softmax; notebook 03 builds a robust one.
        Here one line of numpy is enough.) A query close to the "dog" key gets mostly the
        dog value, with a little of the others mixed in.
        """),
        code("""
        key_vectors = np.array([[2.0, 0.0],     # "cat"
                                [0.0, 2.0],     # "dog"
                                [1.0, 1.0]])    # "bird"
        query_vector = np.array([0.2, 1.5])    # somewhere near "dog"

        scores = key_vectors @ query_vector
        soft_weights = np.exp(scores) / np.exp(scores).sum()
        print("scores: ", scores)
        print("weights:", soft_weights, " sum =", round(float(soft_weights.sum()), 6))
        print("answer: ", soft_weights @ values)
        """),
        md("""
        **What just happened.** Every key contributed, in proportion to how well it matched.
        Because the weights vary smoothly with the query, the whole lookup can be trained
        with gradients, which a hard lookup cannot. The rest of the course builds exactly
        this, for every token of a sentence at once.

        ## 3. The sentence as token embeddings

        Our running example is the sentence "I love programming", one token per word. A
        model first turns each token into a vector of `d_model` numbers, its *embedding*.
        Stacking them gives the matrix

        $$X: (n, d_{model}) = (3, 4), \\qquad \\text{row } i = \\text{embedding of token } i.$$

        In a real model the embeddings are learned; here they are seeded random numbers from
        `helpers.data`, so everyone sees the same ones.
        """),
        code("""
        X = sentence_embeddings(d_model=4)
        print("tokens:", TOKENS)
        print("X shape:", X.shape)
        print(X)
        """),
        md("""
        ## 4. Learned projections: queries, keys and values

        **Why.** A token plays three roles in attention: what it is *looking for* (its
        query), what it *offers to be found by* (its key) and what it *hands over* when
        found (its value). One embedding cannot be all three at once, so the model learns
        three matrices that map each embedding to each role:

        $$Q = X W_q: (n, d_k), \\qquad K = X W_k: (n, d_k), \\qquad V = X W_v: (n, d_v),$$

        with `W_q: (d_model, d_k)`, `W_k: (d_model, d_k)` and `W_v: (d_model, d_v)`.
        Queries and keys must share the width `d_k` (they are dot-multiplied together); the
        values may have a different width `d_v`. Row `i` of `Q` is token `i`'s query.

        A batch of sentences `X: (batch, n, d_model)` uses the *same* weights for every
        sentence, so the projection acts on the last axis only and every leading axis is
        carried along.
        """),
        code("""
        W_q, W_k, W_v = projection_weights(d_model=4, d_k=4, d_v=4)
        print("W_q:", W_q.shape, " W_k:", W_k.shape, " W_v:", W_v.shape)
        """),
        md("""
        ### Your turn: `project_qkv`

        Write `project_qkv(X, W_q, W_k, W_v)` returning the tuple `(Q, K, V)`. It must

        - accept `X` of shape `(n, d_model)` or with any leading batch axes
          `(..., n, d_model)`;
        - work for numpy arrays *and* torch tensors, returning the same kind it was given,
          with the same dtype (float32 in, float32 out);
        - keep torch tensors differentiable: gradients must flow back to `X` and the weights
          (training learns `W_q`, `W_k`, `W_v` this way);
        - leave its inputs unchanged.

        One line per matrix is enough.
        """),
        solution('''
        def project_qkv(X, W_q, W_k, W_v):
            """Project token embeddings into queries, keys and values.

            Args:
                X: (..., n, d_model) token embeddings (numpy array or torch tensor).
                W_q: (d_model, d_k) query weights.
                W_k: (d_model, d_k) key weights.
                W_v: (d_model, d_v) value weights.

            Returns:
                (Q, K, V) with shapes (..., n, d_k), (..., n, d_k), (..., n, d_v),
                of the same type and dtype as X. Torch inputs stay differentiable
                (gradients flow back to X and the weights); the inputs are not modified.
            """
            ### BEGIN SOLUTION
            Q = X @ W_q
            K = X @ W_k
            V = X @ W_v
            return Q, K, V
            ### END SOLUTION
        ''', "project_qkv"),
        code("""
        check_project_qkv(project_qkv)
        """),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np
        import torch

        rng = np.random.default_rng(2024)
        X_test = rng.standard_normal((3, 4))
        Wq_test, Wk_test, Wv_test = rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 5))
        Q_test, K_test, V_test = quietly_(project_qkv, X_test, Wq_test, Wk_test, Wv_test)
        assert np.shape(Q_test) == (3, 2), f"Q should have shape (3, 2) for X (3, 4) and W_q (4, 2); got {np.shape(Q_test)}"
        assert np.shape(V_test) == (3, 5), f"V should have shape (3, 5) for X (3, 4) and W_v (4, 5); got {np.shape(V_test)}"
        ### BEGIN HIDDEN TESTS
        import torch.nn.functional as F

        def _projection(inputs, W):
            # torch's linear layer computes inputs @ W^T; pass W^T to get inputs @ W
            return F.linear(torch.as_tensor(inputs), torch.as_tensor(W).T)

        # property: each of Q, K, V is X times its own weight matrix
        for name, got, W in (("Q", Q_test, Wq_test), ("K", K_test, Wk_test), ("V", V_test, Wv_test)):
            torch.testing.assert_close(torch.as_tensor(np.asarray(got)), _projection(X_test, W),
                                       msg=f"{name} does not equal the projection of X with its weight matrix")

        # a longer sentence, d_model != d_k != d_v, large values
        X2 = rng.standard_normal((7, 6)) * 1e3
        W2 = [rng.standard_normal((6, 3)), rng.standard_normal((6, 3)), rng.standard_normal((6, 8))]
        out = quietly_(project_qkv, X2, *W2)
        # property: returns three matrices with the right shapes
        assert len(out) == 3, f"project_qkv should return three arrays; got {len(out)}"
        for name, got, W, shape in zip("QKV", out, W2, [(7, 3), (7, 3), (7, 8)]):
            # property: returns three matrices with the right shapes
            assert np.shape(got) == shape, f"{name} should have shape {shape}; got {np.shape(got)}"
            # property: each of Q, K, V is X times its own weight matrix
            torch.testing.assert_close(torch.as_tensor(np.asarray(got)), _projection(X2, W),
                                       msg=f"{name} is wrong for a (7, 6) input with large values")
        ### END HIDDEN TESTS
        ''', "test_project_qkv", points=2),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np
        import torch

        rng = np.random.default_rng(7)
        Xb = rng.standard_normal((2, 3, 4))
        Wb = [rng.standard_normal((4, d)) for d in (2, 2, 5)]
        Qb, Kb, Vb = quietly_(project_qkv, Xb, *Wb)
        assert np.shape(Vb) == (2, 3, 5), f"V should have shape (2, 3, 5) for a batch of 2 sentences; got {np.shape(Vb)}"
        ### BEGIN HIDDEN TESTS
        # property: works with any leading batch axes (X of shape (..., n, d_model))
        for name, got, W in zip("QKV", (Qb, Kb, Vb), Wb):
            np.testing.assert_allclose(np.asarray(got), np.matmul(Xb, W), rtol=1e-10, atol=1e-12,
                                       err_msg=f"batched {name} is wrong")

        # two leading axes (batch, heads)
        X4 = rng.standard_normal((2, 3, 5, 4))
        W4 = [rng.standard_normal((4, d)) for d in (3, 3, 6)]
        for name, got, W in zip("QKV", quietly_(project_qkv, X4, *W4), W4):
            # property: works with any leading batch axes (X of shape (..., n, d_model))
            np.testing.assert_allclose(np.asarray(got), np.matmul(X4, W), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} is wrong for input of shape (2, 3, 5, 4)")
        ### END HIDDEN TESTS
        ''', "test_project_qkv_batch", points=1),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np
        import torch

        gen = torch.Generator().manual_seed(1)
        Qt, Kt, Vt = quietly_(project_qkv, torch.randn(3, 4, generator=gen), *(torch.randn(4, 2, generator=gen) for _ in range(3)))
        assert isinstance(Qt, torch.Tensor), f"torch input should give torch output; got {type(Qt).__name__}"
        ### BEGIN HIDDEN TESTS
        # property: torch tensors in, torch tensors out (float32 stays float32)
        for name, got in zip("QKV", (Qt, Kt, Vt)):
            assert isinstance(got, torch.Tensor) and got.dtype == torch.float32, \\
                f"float32 tensors should give float32 tensors; {name} is {type(got).__name__} {getattr(got, 'dtype', '')}"

        rng = np.random.default_rng(8)
        X32 = rng.standard_normal((5, 4)).astype(np.float32)
        W32 = [rng.standard_normal((4, d)).astype(np.float32) for d in (3, 3, 6)]
        for name, got in zip("QKV", quietly_(project_qkv, X32, *W32)):
            # property: numpy arrays in, numpy arrays out (float32 stays float32)
            assert isinstance(got, np.ndarray), f"numpy input should give numpy output; {name} is {type(got).__name__}"
            assert got.dtype == np.float32, f"float32 input should give float32 {name}; got {got.dtype}"
        ### END HIDDEN TESTS
        ''', "test_project_qkv_types", points=1),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np

        rng = np.random.default_rng(9)
        X_in, W_in = rng.standard_normal((3, 4)), [rng.standard_normal((4, 2)) for _ in range(3)]
        copies = [X_in.copy()] + [W.copy() for W in W_in]
        quietly_(project_qkv, X_in, *W_in)
        assert np.array_equal(X_in, copies[0]), "project_qkv modified its input X"
        ### BEGIN HIDDEN TESTS
        # property: leaves its inputs unchanged
        for name, before, after in zip(["X", "W_q", "W_k", "W_v"], copies, [X_in] + W_in):
            assert np.array_equal(before, after), f"project_qkv modified its input {name}"
        X32 = rng.standard_normal((5, 4)).astype(np.float32)
        X32_copy = X32.copy()
        quietly_(project_qkv, X32, *(rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)))
        assert np.array_equal(X32, X32_copy), "project_qkv modified a float32 input X"
        ### END HIDDEN TESTS
        ''', "test_project_qkv_inputs", points=1),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import torch

        gen = torch.Generator().manual_seed(2)
        Xg = torch.randn(3, 4, generator=gen)
        Wg = [torch.randn(4, d, generator=gen).requires_grad_(True) for d in (2, 2, 5)]
        Qg, Kg, Vg = quietly_(project_qkv, Xg, *Wg)
        assert Qg.requires_grad, "Q of weights that require grad should require grad: autograd lost track"
        ### BEGIN HIDDEN TESTS
        # property: torch input stays differentiable: gradients flow back to X and the weights
        assert Kg.requires_grad and Vg.requires_grad, \\
            "K and V of weights that require grad should require grad: autograd lost track"
        (Qg.sum() + Kg.sum() + Vg.sum()).backward()
        for name, W in zip(["W_q", "W_k", "W_v"], Wg):
            # d(sum of Q)/dW_q[i, c] = the sum of column i of X over the tokens
            expected = Xg.sum(dim=0)[:, None].expand_as(W)
            torch.testing.assert_close(W.grad, expected, msg=f"the gradient with respect to {name} is wrong")
        ### END HIDDEN TESTS
        ''', "test_project_qkv_grad", points=1),
        md("""
        **What just happened.** Three matrix products turned one embedding per token into a
        query, a key and a value per token. Here are the shapes of this notebook's example,
        step by step:
        """),
        code("""
        Q, K, V = project_qkv(X, W_q, W_k, W_v)
        for name, array in [("X", X), ("W_q", W_q), ("Q = X W_q", Q), ("K = X W_k", K), ("V = X W_v", V)]:
            print(f"{name:10s} {array.shape}")
        """),
        md("""
        ## 5. Q is not a piece of the input

        Some introductions describe the queries as a subset, or a copy, of the input, with
        only the keys and values being computed. That is not how attention works: **all
        three** of `Q`, `K` and `V` are learned projections of the input. Check it on the
        numbers: no row of `Q` equals any row of `X`, and `Q`, `K` and `V` all differ.
        """),
        code("""
        print("Q equals X:              ", np.allclose(Q, X))
        print("a row of Q is a row of X:", any(np.allclose(q, x) for q in Q for x in X))
        print("Q equals K:              ", np.allclose(Q, K))
        print("K equals V:              ", np.allclose(K, V))
        print("largest |X - Q|:         ", round(float(np.abs(X - Q).max()), 3))
        """),
        md("""
        ## 6. Scores: every query against every key

        **Why.** A query decides how much to take from each token by comparing itself with
        that token's key. Comparing *every* query with *every* key is one matrix product:

        $$\\text{scores} = Q K^\\top: (n_q, n_k), \\qquad
        \\text{scores}_{ij} = q_i \\cdot k_j = \\sum_{c=1}^{d_k} Q_{ic} K_{jc},$$

        with `Q: (n_q, d_k)` and `K: (n_k, d_k)`. Row `i` holds query `i`'s score for every
        key. In self-attention `n_q = n_k = n`, but in cross-attention (a decoder reading an
        encoder) they differ, so keep them apart.

        With batch axes, `Q: (..., n_q, d_k)` and `K: (..., n_k, d_k)` give scores
        `(..., n_q, n_k)`: the transpose swaps **only the last two axes** of `K`. Beware:
        `.T` reverses *all* axes, which is a transpose only for 2-D arrays.
        """),
        code("""
        batch_of_keys = np.zeros((2, 5, 4))   # (batch, n_k, d_k)
        print(".T                 ->", batch_of_keys.T.shape)
        print("swapaxes(-1, -2)   ->", batch_of_keys.swapaxes(-1, -2).shape)
        print("torch .mT          ->", tuple(torch.zeros(2, 5, 4).mT.shape))
        """),
        md("""
        ### Your turn: `dot_scores`

        Write `dot_scores(Q, K)` returning `Q Kᵀ` over the last two axes: shape
        `(..., n_q, n_k)` for `Q: (..., n_q, d_k)` and `K: (..., n_k, d_k)`. Same rules as
        before: numpy and torch, type and dtype preserved, torch tensors differentiable
        (gradients flow back to `Q` and `K`), inputs unchanged, any number of leading axes. Numpy arrays and torch tensors both have `swapaxes`.
        """),
        solution('''
        def dot_scores(Q, K):
            """Raw attention scores: the dot product of every query with every key.

            Args:
                Q: (..., n_q, d_k) queries (numpy array or torch tensor).
                K: (..., n_k, d_k) keys, same leading axes as Q.

            Returns:
                scores: (..., n_q, n_k), scores[..., i, j] = Q[..., i, :] . K[..., j, :],
                of the same type and dtype as Q. Torch inputs stay differentiable
                (gradients flow back to Q and K); Q and K are not modified.
            """
            ### BEGIN SOLUTION
            return Q @ K.swapaxes(-1, -2)
            ### END SOLUTION
        ''', "dot_scores"),
        code("""
        check_dot_scores(dot_scores)
        """),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np
        import torch

        rng = np.random.default_rng(99)
        Qa, Ka = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
        Sa = quietly_(dot_scores, Qa, Ka)
        assert np.shape(Sa) == (3, 5), f"scores should be (n_q, n_k) = (3, 5) for Q (3, 4) and K (5, 4); got {np.shape(Sa)}"
        ### BEGIN HIDDEN TESTS
        # property: entry [i, j] is the dot product of query i with key j
        torch.testing.assert_close(torch.as_tensor(np.asarray(Sa)), torch.matmul(torch.as_tensor(Qa), torch.as_tensor(Ka).mT),
                                   msg="scores[i, j] should be the dot product of query i and key j")
        # one entry by hand
        assert np.isclose(np.asarray(Sa)[2, 4], sum(Qa[2, c] * Ka[4, c] for c in range(4))), "scores[2, 4] is not q_2 . k_4"
        # a single query, a wide d_k, large values
        Qc, Kc = rng.standard_normal((1, 64)) * 1e3, rng.standard_normal((9, 64)) * 1e3
        Sc = quietly_(dot_scores, Qc, Kc)
        # property: shape is (n_q, n_k): one row per query, one column per key
        assert np.shape(Sc) == (1, 9), f"one query and 9 keys should give shape (1, 9); got {np.shape(Sc)}"
        # property: entry [i, j] is the dot product of query i with key j
        # float64 sums of 64 products of size ~1e6 may differ by summation order: allow
        # 1e-10 of the largest possible magnitude, sum |q_c k_c|, on top of rtol
        scale = float((np.abs(Qc) @ np.abs(Kc).T).max())
        np.testing.assert_allclose(np.asarray(Sc), torch.matmul(torch.as_tensor(Qc), torch.as_tensor(Kc).mT).numpy(),
                                   rtol=1e-10, atol=1e-10 * scale, err_msg="scores are wrong for large values")
        # n_q > n_k
        Qd, Kd = rng.standard_normal((6, 2)), rng.standard_normal((2, 2))
        np.testing.assert_allclose(np.asarray(quietly_(dot_scores, Qd, Kd)), Qd @ Kd.T, rtol=1e-7, atol=1e-12,
                                   err_msg="scores are wrong for n_q = 6, n_k = 2")
        ### END HIDDEN TESTS
        ''', "test_dot_scores", points=2),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np
        import torch

        rng = np.random.default_rng(3)
        Qb, Kb = rng.standard_normal((2, 3, 4, 8)), rng.standard_normal((2, 3, 6, 8))
        Sb = quietly_(dot_scores, Qb, Kb)
        assert np.shape(Sb) == (2, 3, 4, 6), f"scores for Q (2, 3, 4, 8), K (2, 3, 6, 8) should be (2, 3, 4, 6); got {np.shape(Sb)}"
        ### BEGIN HIDDEN TESTS
        # property: works with leading batch dimensions (batch, heads, n, d_k)
        np.testing.assert_allclose(np.asarray(Sb), np.einsum("bhqd,bhkd->bhqk", Qb, Kb), rtol=1e-10, atol=1e-12,
                                   err_msg="each (batch, head) slice should be scored on its own")
        Qn, Kn = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 7, 3))
        np.testing.assert_allclose(np.asarray(quietly_(dot_scores, Qn, Kn)), np.einsum("bqd,bkd->bqk", Qn, Kn),
                                   rtol=1e-10, atol=1e-12, err_msg="scores with one batch axis are wrong")
        ### END HIDDEN TESTS
        ''', "test_dot_scores_batch", points=1),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np
        import torch

        gen = torch.Generator().manual_seed(4)
        St = quietly_(dot_scores, torch.randn(3, 4, generator=gen), torch.randn(5, 4, generator=gen))
        assert isinstance(St, torch.Tensor), f"torch input should give torch output; got {type(St).__name__}"
        ### BEGIN HIDDEN TESTS
        # property: torch in, torch out; numpy in, numpy out; float32 stays float32
        assert St.dtype == torch.float32, f"float32 tensors should give float32 scores; got {St.dtype}"
        rng = np.random.default_rng(6)
        Sn = quietly_(dot_scores, rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32))
        assert isinstance(Sn, np.ndarray), f"numpy input should give numpy output; got {type(Sn).__name__}"
        assert Sn.dtype == np.float32, f"float32 input should give float32 scores; got {Sn.dtype}"
        ### END HIDDEN TESTS
        ''', "test_dot_scores_types", points=1),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import numpy as np

        rng = np.random.default_rng(7)
        Qi, Ki = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
        Q0, K0 = Qi.copy(), Ki.copy()
        quietly_(dot_scores, Qi, Ki)
        assert np.array_equal(Qi, Q0), "dot_scores modified Q"
        ### BEGIN HIDDEN TESTS
        # property: leaves Q and K unchanged
        assert np.array_equal(Ki, K0), "dot_scores modified K"
        Qn, Kn = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)
        Qn0, Kn0 = Qn.copy(), Kn.copy()
        quietly_(dot_scores, Qn, Kn)
        assert np.array_equal(Qn, Qn0) and np.array_equal(Kn, Kn0), "dot_scores modified a float32 Q or K"
        ### END HIDDEN TESTS
        ''', "test_dot_scores_inputs", points=1),
        tests('''
        import contextlib
        import io
        import warnings
        
        
        def quietly_(fn, *args):
            # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
            # test cell as a failure: the answer's warnings and stderr prints are swallowed here
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                return fn(*args)
        
        import torch

        gen = torch.Generator().manual_seed(8)
        Qg = torch.randn(4, 8, generator=gen).requires_grad_(True)
        Kg = torch.randn(6, 8, generator=gen).requires_grad_(True)
        Sg = quietly_(dot_scores, Qg, Kg)
        assert Sg.requires_grad, "the scores of tensors that require grad should require grad: autograd lost track"
        ### BEGIN HIDDEN TESTS
        # property: torch input stays differentiable: gradients flow back to Q and K
        Sg.sum().backward()
        # d(sum of scores)/dQ[i] = the sum of the keys, d/dK[j] = the sum of the queries
        torch.testing.assert_close(Qg.grad, Kg.detach().sum(dim=-2, keepdim=True).expand_as(Qg),
                                   msg="the gradient with respect to Q is wrong")
        torch.testing.assert_close(Kg.grad, Qg.detach().sum(dim=-2, keepdim=True).expand_as(Kg),
                                   msg="the gradient with respect to K is wrong")
        ### END HIDDEN TESTS
        ''', "test_dot_scores_grad", points=1),
        md("""
        **What just happened.** One matrix product compared all queries with all keys. The
        picture makes the pattern visible: rows are queries, columns are keys, each labelled
        with its token. Raw scores can be negative, so they get their own colour scale here
        (`show_attention` draws *weights*, which are never negative; notebook 03 turns scores
        into weights).
        """),
        code("""
        scores = dot_scores(Q, K)
        fig, ax = plt.subplots(figsize=(4.6, 3.6), dpi=100, layout="constrained")
        image = ax.imshow(scores, cmap="viridis")
        ax.set_xticks(range(3), TOKENS)
        ax.set_yticks(range(3), TOKENS)
        ax.set(xlabel="keys", ylabel="queries", title="raw scores Q Kᵀ (W seed 1)")
        for (i, j), s in np.ndenumerate(scores):
            ax.text(j, i, f"{s:.2f}", ha="center", va="center", color="white" if s < scores.mean() else "black")
        fig.colorbar(image, ax=ax, label="score")
        plt.show()
        """),
        md("""
        ## 7. Different weights, different scores

        The scores are not a property of the sentence alone: they depend on the learned
        `W_q` and `W_k`. The same `X` with another set of weights gives a different pattern.
        Training adjusts these matrices until the pattern is useful for the task.
        """),
        code("""
        W_q2, W_k2, W_v2 = projection_weights(d_model=4, d_k=4, d_v=4, seed=2)
        Q2, K2, V2 = project_qkv(X, W_q2, W_k2, W_v2)
        print("scores with W seed 1:")
        print(dot_scores(Q, K))
        print("scores with W seed 2:")
        print(dot_scores(Q2, K2))
        print("same scores:", np.allclose(dot_scores(Q, K), dot_scores(Q2, K2)))
        """),
        md("""
        ### Try it (not graded)

        Change `d_k` below (say 2 or 16) or the seed, and predict the shapes before you run
        the cell. Which shapes change with `d_k`, and which never do?
        """),
        code("""
        d_k = 2
        W_q3, W_k3, W_v3 = projection_weights(d_model=4, d_k=d_k, d_v=3, seed=3)
        Q3, K3, V3 = project_qkv(X, W_q3, W_k3, W_v3)
        print("Q:", Q3.shape, " K:", K3.shape, " V:", V3.shape, " scores:", dot_scores(Q3, K3).shape)
        """),
        md("""
        ## Summary

        - Attention is a soft dictionary lookup: a query scores every key, the scores become
          weights, and the answer mixes the values.
        - Queries, keys and values are **all** learned projections of the token embeddings:
          `Q = X W_q`, `K = X W_k`, `V = X W_v`; none of them is the input itself.
        - Scores are `Q Kᵀ`, of shape `(..., n_q, n_k)`; transpose only the last two axes.

        Next, in **02-scaling**: why these scores are divided by `√d_k` before the softmax.

        ## Going further

        - Vaswani et al., *Attention Is All You Need* (2017), section 3.2:
          <https://arxiv.org/abs/1706.03762>
        - Dive into Deep Learning, chapter "Attention Mechanisms and Transformers":
          <https://d2l.ai/chapter_attention-mechanisms-and-transformers/index.html>
        - PyTorch: [`torch.matmul`](https://pytorch.org/docs/stable/generated/torch.matmul.html)
          (batched products) and [`torch.nn.Linear`](https://pytorch.org/docs/stable/generated/torch.nn.Linear.html)
          (a projection with a bias, used in notebook 05).
        """),
    ]


def build(path: Path = PATH) -> Path:
    return write(notebook(cells()), path)


if __name__ == "__main__":
    print(build())
