"""Build course/04-weighted-output/weighted_output.ipynb.

    .venv/bin/python -m tools.notebooks.nb04_weighted_output
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, locked, md, notebook, solution, tests, write

PATH = (Path(__file__).resolve().parents[2] / "course" / "04-weighted-output"
        / "weighted_output.ipynb")


def cells() -> list:
    return [
        md(r"""
        # 04 · The weighted output

        Notebook 03 turned scores into weights. The last step of attention uses the weights
        to mix the values: each query gets a weighted average of the value vectors. That
        finishes the formula

        $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V .$$

        **Learning goals.** By the end you can

        - compute attention's output as `weights @ V` and explain it as a *convex
          combination* of the values (every output row lies inside their convex hull);
        - carry batch and head dimensions through every step (and avoid the `.T` trap);
        - write attention for numpy and PyTorch and check it against
          `torch.nn.functional.scaled_dot_product_attention`;
        - spot and fix three bugs common in tutorial code, and build a working `AttentionLayer`.

        You write two graded pieces: `scaled_dot_product_attention` and `AttentionLayer`.
        """),
        code("""
        import math

        import numpy as np
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import matplotlib.pyplot as plt

        from helpers import show_attention, show_heads
        from helpers.data import TOKENS, sentence_embeddings, projection_weights, random_matrix
        from helpers.checks import check_scaled_dot_product_attention, check_attention_layer

        np.set_printoptions(precision=3, suppress=True)
        torch.manual_seed(0)
        """),
        md("""
        Tools from notebook 03, re-defined here in a locked cell so this notebook stands on
        its own (they are not graded here), and the running example "I love programming".
        """),
        locked('''
        def softmax(x, axis=-1):
            """Stable softmax along `axis` (notebook 03)."""
            e = np.exp(x - np.max(x, axis=axis, keepdims=True))
            return e / e.sum(axis=axis, keepdims=True)


        def masked_softmax(scores, mask, axis=-1):
            """Softmax over the entries where `mask` (True = may attend) is True; a row with
            nothing allowed gets zeros (notebook 03)."""
            mask = np.broadcast_to(mask, np.shape(scores))
            allowed = np.where(mask, scores, -np.inf)
            top = allowed.max(axis=axis, keepdims=True)
            e = np.where(mask, np.exp(allowed - np.where(np.isfinite(top), top, 0)), 0)
            total = e.sum(axis=axis, keepdims=True)
            return e / np.where(total > 0, total, 1)


        def causal_mask(n):
            """(n, n) bool, True on and below the diagonal (notebook 03)."""
            return np.tril(np.ones((n, n), dtype=bool))


        X = sentence_embeddings(d_model=4)                           # (3, 4)
        W_q, W_k, W_v = projection_weights(d_model=4, d_k=4, d_v=4)
        Q, K, V = X @ W_q, X @ W_k, X @ W_v                          # (3, 4) each
        weights = softmax(Q @ K.T / math.sqrt(K.shape[-1]))          # (n_q, n_k) = (3, 3)
        ''', "previous_notebooks"),
        md(r"""
        ## 1. Output = weights @ V

        **Why.** The weights say how much each key matters to each query; the values say what
        each key hands over. The output for query $i$ is the weighted sum of the values:

        $$\text{output}_i = \sum_j w_{ij}\, v_j, \qquad
        \text{output} = W V: \; (n_q, n_k) \times (n_k, d_v) \to (n_q, d_v).$$

        One matrix product does it for every query at once. The cell below computes row
        "love" both ways.
        """),
        code("""
        output = weights @ V                                          # (3, 4)
        print("weights (rows = queries, columns = keys):")
        print(weights)
        print("output:")
        print(output)

        i = TOKENS.index("love")
        by_hand = sum(weights[i, j] * V[j] for j in range(len(TOKENS)))
        print("row 'love' as a weighted sum of the value rows:", by_hand)
        """),
        md(r"""
        ## 2. A convex combination of the values

        **The idea.** The weights of each row are non-negative and sum to 1, so each output
        row is a *convex combination* of the value rows: it lies inside their convex hull (the
        triangle spanned by the three value vectors here), and every coordinate lies between
        the smallest and largest value in that coordinate. Attention can interpolate between
        the values, never extrapolate beyond them.

        **A picture.** The three value vectors, projected onto their first two coordinates (a
        linear projection keeps convex combinations), and the three outputs inside the
        triangle.
        """),
        code("""
        inside = np.all((V.min(axis=0) <= output) & (output <= V.max(axis=0)))
        print("every output coordinate between the smallest and largest value:", inside)

        fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
        ax.fill(V[:, 0], V[:, 1], color="#c6dbef", label="convex hull of the values")
        ax.scatter(V[:, 0], V[:, 1], color="#08519c", marker="s", label="values $v_j$")
        ax.scatter(output[:, 0], output[:, 1], color="#e6550d", label="outputs")
        out_offsets = {"I": (6, -12), "love": (6, 4), "programming": (6, -12)}  # keep labels apart
        for token, v, o in zip(TOKENS, V, output):
            ax.annotate(f"v[{token}]", v[:2], textcoords="offset points", xytext=(5, 5))
            ax.annotate(f"out[{token}]", o[:2], textcoords="offset points", xytext=out_offsets[token])
        ax.margins(0.25)
        ax.set(xlabel="value coordinate 0", ylabel="value coordinate 1",
               title="each output is a weighted average of the values")
        ax.legend(loc="best", fontsize=8)
        plt.show()
        """),
        md("""
        **A tutorial claim, checked.** Some explanations say attention lets a model "avoid
        processing the whole sequence" by focusing on a few tokens. The arithmetic says
        otherwise: every query scores every key, and in exact arithmetic a softmax weight is
        never zero ($e^s > 0$) unless a mask makes it so, so every value contributes to every
        output. Attention *weights* the whole sequence; it does not skip any of it (which is
        also why its cost grows as $n^2$, the subject of notebook 07).

        One qualification: computers round. In float32, $e^{-104}$ is below the smallest
        number float32 can hold, so a key whose score is about 104 below the row's best gets
        a weight of exactly 0. It was still scored, which is the cost the claim is about.
        """),
        code("""
        print("number of (query, key) pairs scored:", weights.size, "=", len(TOKENS), "x", len(TOKENS))
        print("smallest weight:", weights.min().round(3), " all weights > 0:", bool((weights > 0).all()))
        for gap in (100.0, 104.0):                       # float32 underflows between these two
            w32 = softmax(np.array([0.0, -gap], dtype=np.float32))
            print(f"float32 softmax of scores [0, -{gap:g}]: second weight = {w32[1]:.3g}, exactly 0: {w32[1] == 0}")
        """),
        md(r"""
        ## 3. Batch and head dimensions

        **Why.** Real inputs come in batches, and multi-head attention (notebook 05) adds a
        head axis: `Q: (batch, heads, n_q, d_k)`, `K: (batch, heads, n_k, d_k)`,
        `V: (batch, heads, n_k, d_v)`. Nothing in the formula changes: `@` multiplies the
        last two axes and broadcasts over the leading ones, and softmax runs over the keys
        (the last axis). The one thing to get right is the transpose of `K`: swap only its
        **last two** axes. In numpy, `K.T` reverses *all* axes, which is a different array
        as soon as there is a batch axis (PyTorch warns and will make it an error).
        """),
        code("""
        K_batch = random_matrix(2, 3, 5, 4, seed=0)              # (batch, heads, n_k, d_k)
        print("K_batch.T.shape              :", K_batch.T.shape, " <- all axes reversed")
        print("K_batch.swapaxes(-1, -2).shape:", K_batch.swapaxes(-1, -2).shape)
        """),
        md("""
        ### Your turn: `scaled_dot_product_attention`

        Write `scaled_dot_product_attention(Q, K, V, mask=None)` returning `(output, weights)`:

        - `Q: (..., n_q, d_k)`, `K: (..., n_k, d_k)`, `V: (..., n_k, d_v)` with any leading
          batch/head axes; `weights: (..., n_q, n_k)`, `output: (..., n_q, d_v)`;
        - scores scaled by $\\sqrt{d_k}$ (the width of the queries and keys, not of the values
          and not the number of keys);
        - `mask` (optional) boolean, True = may attend, broadcastable to `(..., n_q, n_k)`;
          masked keys get weight exactly 0; a query with nothing to attend to gets zero
          weights and a **zero output**, not NaN;
        - numpy arrays in, numpy arrays out; torch tensors in, torch tensors out; the dtype
          of `Q` kept (float32 in, float32 out: divide by `math.sqrt(d_k)`, a Python float;
          `np.sqrt(d_k)` is a float64 numpy scalar and, under NumPy 2, turns a float32 array
          into float64); inputs unchanged;
        - on torch input, gradients flow back to `Q`, `K` and `V`, and stay **finite** even
          through a query row with nothing to attend to (one NaN gradient poisons every
          weight of a model in the next training step).

        One way: convert numpy inputs to tensors with `torch.as_tensor`, compute in torch
        (`transpose(-2, -1)`, `masked_fill`, `torch.softmax`), and convert back with
        `.numpy()` if the input was numpy.
        """),
        solution('''
        def scaled_dot_product_attention(Q, K, V, mask=None):
            """softmax(Q K^T / sqrt(d_k)) V over the last two axes.

            Args:
                Q: (..., n_q, d_k) queries; numpy array or torch tensor.
                K: (..., n_k, d_k) keys, same type as Q.
                V: (..., n_k, d_v) values, same type as Q.
                mask: optional boolean, broadcastable to (..., n_q, n_k); True = may attend.

            Returns:
                (output, weights): (..., n_q, d_v) and (..., n_q, n_k), of the same type
                (numpy or torch) and dtype as Q, finite and correct also for large
                scores (around 1e5). Masked weights are exactly 0; a query
                with nothing to attend to has all-zero weights and a zero output. On torch
                input, gradients reach Q, K and V and stay finite, also through a query
                with nothing to attend to. The inputs are not modified.
            """
            ### BEGIN SOLUTION
            is_numpy = not isinstance(Q, torch.Tensor)
            if is_numpy:
                Q, K, V = (torch.as_tensor(np.asarray(a)) for a in (Q, K, V))
            scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
            if mask is not None:
                mask = torch.as_tensor(mask, dtype=torch.bool)
                scores = scores.masked_fill(~mask, float("-inf"))
                # a query with no allowed key: finite scores here, zero weights below
                scores = scores.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
            weights = torch.softmax(scores, dim=-1)
            if mask is not None:
                weights = weights.masked_fill(~mask, 0.0)
            output = weights @ V
            if is_numpy:
                return output.numpy(), weights.numpy()
            return output, weights
            ### END SOLUTION
        ''', "scaled_dot_product_attention"),
        code("""
        check_scaled_dot_product_attention(scaled_dot_product_attention)
        """),
        tests('''
        import math

        import numpy as np
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng(401)
        Qt, Kt, Vt = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 6))
        result = scaled_dot_product_attention(Qt, Kt, Vt)
        assert isinstance(result, tuple) and len(result) == 2, "scaled_dot_product_attention should return a tuple (output, weights)"
        out, w = result
        assert np.shape(out) == (3, 6), f"output should have shape (n_q, d_v) = (3, 6); got {np.shape(out)}"
        assert np.shape(w) == (3, 5), f"weights should have shape (n_q, n_k) = (3, 5); got {np.shape(w)}"
        ### BEGIN HIDDEN TESTS
        def _expected(Qt, Kt, Vt):
            q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Qt, Kt, Vt))
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            return F.scaled_dot_product_attention(q, k, v).numpy(), w.numpy()

        exp_out, exp_w = _expected(Qt, Kt, Vt)
        # property: matches torch's scaled_dot_product_attention, also for large scores
        np.testing.assert_allclose(np.asarray(w), exp_w, rtol=1e-7, atol=1e-12, err_msg="weights should be softmax(Q K^T / sqrt(d_k)) over the keys")
        np.testing.assert_allclose(np.asarray(out), exp_out, rtol=1e-7, atol=1e-12, err_msg="output should equal torch's scaled_dot_product_attention")
        # closed forms: identical keys -> uniform weights -> output = mean of the values
        out, w = scaled_dot_product_attention(Qt, np.ones((5, 4)), Vt)
        np.testing.assert_allclose(np.asarray(w), np.full((3, 5), 0.2), rtol=1e-7, atol=1e-12, err_msg="identical keys should give uniform weights")
        np.testing.assert_allclose(np.asarray(out), np.tile(Vt.mean(axis=0), (3, 1)), rtol=1e-7, atol=1e-12, err_msg="uniform weights should give the mean of the values")
        # large scores (about 1e5) stay finite and correct
        out, w = scaled_dot_product_attention(Qt * 300, Kt * 300, Vt)
        exp_out, exp_w = _expected(Qt * 300, Kt * 300, Vt)
        np.testing.assert_allclose(np.asarray(w), exp_w, rtol=1e-7, atol=1e-10, err_msg="large scores (inputs x 300) should give finite, correct weights")
        np.testing.assert_allclose(np.asarray(out), exp_out, rtol=1e-7, atol=1e-10, err_msg="large scores (inputs x 300) should give finite, correct outputs")
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention", points=2),
        tests('''
        import math

        import numpy as np
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng(405)
        Qb, Kb, Vb = (rng.normal(size=(2, n, d)) for n, d in ((4, 8), (7, 8), (7, 5)))
        out, w = scaled_dot_product_attention(Qb, Kb, Vb)
        assert np.shape(out) == (2, 4, 5), f"with a batch axis of 2 the output should have shape (2, n_q, d_v) = (2, 4, 5); got {np.shape(out)}"
        ### BEGIN HIDDEN TESTS
        def _expected(Qt, Kt, Vt):
            q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Qt, Kt, Vt))
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            return F.scaled_dot_product_attention(q, k, v).numpy(), w.numpy()

        # property: leading batch and head dimensions (2, 3, n, d) work
        for lead in ((2,), (2, 3), (1, 2, 3)):
            Qb, Kb, Vb = (rng.normal(size=(*lead, n, d)) for n, d in ((4, 8), (7, 8), (7, 5)))
            out, w = scaled_dot_product_attention(Qb, Kb, Vb)
            exp_out, exp_w = _expected(Qb, Kb, Vb)
            assert np.shape(out) == exp_out.shape, f"batched output should have shape {exp_out.shape}; got {np.shape(out)}"
            assert np.shape(w) == exp_w.shape, f"batched weights should have shape {exp_w.shape}; got {np.shape(w)}"
            np.testing.assert_allclose(np.asarray(out), exp_out, rtol=1e-7, atol=1e-12, err_msg=f"output with leading dims {lead} differs from torch's")
            np.testing.assert_allclose(np.asarray(w), exp_w, rtol=1e-7, atol=1e-12, err_msg=f"weights with leading dims {lead} differ")
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention_batch", points=1),
        tests('''
        import math

        import numpy as np
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng(402)
        Qt, Kt, Vt = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
        mask = np.tril(np.ones((3, 3), dtype=bool))
        out, w = scaled_dot_product_attention(Qt, Kt, Vt, mask=mask)
        assert np.all(np.asarray(w)[~mask] == 0), "masked keys should get weight exactly 0"
        np.testing.assert_allclose(np.asarray(out)[0], Vt[0], rtol=1e-7, atol=1e-12, err_msg="with a causal mask the first query can only see the first value")
        ### BEGIN HIDDEN TESTS
        def _expected(Qt, Kt, Vt, mask):
            q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Qt, Kt, Vt))
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            m = torch.broadcast_to(torch.from_numpy(np.asarray(mask, dtype=bool)), scores.shape)  # SDPA wants the full rank
            w = torch.softmax(scores.masked_fill(~m, float("-inf")), dim=-1)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=m).numpy(), torch.nan_to_num(w, nan=0.0).numpy()

        # property: the mask is applied (True = may attend) and a fully masked row gives 0
        Qb, Kb, Vb = (rng.normal(size=(2, 3, n, d)) for n, d in ((4, 8), (6, 8), (6, 5)))
        masks = (np.array([True, True, False, True, False, True]),             # (n_k,) padding
                 rng.random((4, 6)) < 0.5,                                      # (n_q, n_k), some rows empty
                 np.array([[True] * 4 + [False] * 2, [True] * 6])[:, None, None, :])   # (batch, 1, 1, n_k)
        for mask in masks:
            out, w = (np.asarray(a) for a in scaled_dot_product_attention(Qb, Kb, Vb, mask=mask))
            exp_out, exp_w = _expected(Qb, Kb, Vb, mask)
            assert not np.any(np.isnan(out)), f"mask of shape {mask.shape}: the output contains NaN"
            np.testing.assert_allclose(w, exp_w, rtol=1e-7, atol=1e-12, err_msg=f"weights with a mask of shape {mask.shape} differ")
            np.testing.assert_allclose(out, exp_out, rtol=1e-7, atol=1e-12, err_msg=f"output with a mask of shape {mask.shape} differs from torch's")
        # a query with nothing to attend to: zero weights and zero output
        nothing = np.zeros((3, 3), dtype=bool)
        nothing[1:] = True
        out, w = (np.asarray(a) for a in scaled_dot_product_attention(Qt, Kt, Vt, mask=nothing))
        np.testing.assert_array_equal(out[0], np.zeros(2), err_msg="a query with nothing to attend to should get a zero output")
        np.testing.assert_array_equal(w[0], np.zeros(3), err_msg="a query with nothing to attend to should get zero weights")
        out, w = scaled_dot_product_attention(Qt, Kt, Vt, mask=np.zeros(3, dtype=bool))
        np.testing.assert_array_equal(np.asarray(out), np.zeros((3, 2)), err_msg="an all-False mask should give a zero output")
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention_mask", points=2),
        tests('''
        import numpy as np
        import torch

        rng = np.random.default_rng(406)
        Qt, Kt, Vt = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 6))
        mask = rng.random((3, 5)) < 0.6
        copies = [a.copy() for a in (Qt, Kt, Vt, mask)]
        scaled_dot_product_attention(Qt, Kt, Vt, mask=mask)
        for name, a, b in zip(("Q", "K", "V", "mask"), (Qt, Kt, Vt, mask), copies):
            np.testing.assert_array_equal(a, b, err_msg=f"scaled_dot_product_attention must not modify its input {name}")
        ### BEGIN HIDDEN TESTS
        # property: the inputs are not modified
        scaled_dot_product_attention(Qt, Kt, Vt)
        for name, a, b in zip(("Q", "K", "V"), (Qt, Kt, Vt), copies):
            np.testing.assert_array_equal(a, b, err_msg=f"scaled_dot_product_attention (no mask) must not modify its input {name}")
        tensors = [torch.from_numpy(a.copy()) for a in (Qt, Kt, Vt, mask)]
        t_copies = [t.clone() for t in tensors]
        scaled_dot_product_attention(*tensors[:3], mask=tensors[3])
        for name, a, b in zip(("Q", "K", "V", "mask"), tensors, t_copies):
            assert torch.equal(a, b), f"scaled_dot_product_attention must not modify its torch input {name}"
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention_inputs", points=1),
        tests('''
        import numpy as np
        import torch

        rng = np.random.default_rng(407)
        Qt, Kt, Vt = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 6))
        out, w = scaled_dot_product_attention(Qt, Kt, Vt)
        assert isinstance(out, np.ndarray) and isinstance(w, np.ndarray), f"numpy inputs should give numpy outputs; got {type(out).__name__}, {type(w).__name__}"
        ### BEGIN HIDDEN TESTS
        # property: numpy in gives numpy out, torch in gives torch out, with the input's dtype
        assert out.dtype == np.float64 and w.dtype == np.float64, f"float64 inputs should give float64 outputs; got {out.dtype}, {w.dtype}"
        mask = np.array([True, False, True, True, False])
        for m in (None, mask):
            out, w = scaled_dot_product_attention(*(a.astype(np.float32) for a in (Qt, Kt, Vt)), mask=m)
            assert isinstance(out, np.ndarray) and isinstance(w, np.ndarray), f"float32 numpy inputs should give numpy outputs; got {type(out).__name__}, {type(w).__name__}"
            assert out.dtype == np.float32 and w.dtype == np.float32, f"float32 inputs (mask={m}) should give float32 output and weights; got {out.dtype}, {w.dtype}"
        for dtype in (torch.float32, torch.float64):
            q, k, v = (torch.tensor(a, dtype=dtype) for a in (Qt, Kt, Vt))
            out, w = scaled_dot_product_attention(q, k, v, mask=torch.from_numpy(mask))
            assert isinstance(out, torch.Tensor) and isinstance(w, torch.Tensor), f"torch inputs should give torch outputs; got {type(out).__name__}, {type(w).__name__}"
            assert out.dtype == dtype and w.dtype == dtype, f"{dtype} inputs should give {dtype} output and weights; got {out.dtype}, {w.dtype}"
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention_dtype", points=1),
        tests('''
        import torch
        import torch.nn.functional as F

        torch.manual_seed(403)
        q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
        out, w = scaled_dot_product_attention(q, k, v)
        assert isinstance(out, torch.Tensor) and isinstance(w, torch.Tensor), f"torch inputs should give torch outputs; got {type(out).__name__}, {type(w).__name__}"
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-5, atol=1e-6, check_dtype=False, msg="output should equal torch's scaled_dot_product_attention")
        ### BEGIN HIDDEN TESTS
        # property: matches torch's scaled_dot_product_attention, also for large scores
        torch.testing.assert_close(w, torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1), rtol=1e-5, atol=1e-6, check_dtype=False,
                                   msg="weights should be softmax(q k^T / sqrt(d_k))")
        # property: the mask is applied (True = may attend) and a fully masked row gives 0
        mask = torch.rand(3, 5) < 0.5
        mask[0] = False
        out, w = scaled_dot_product_attention(q, k, v, mask=mask)
        assert not torch.isnan(out).any(), "the output with a mask contains NaN"
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-5, atol=1e-6, check_dtype=False,
                                   msg="output with a mask should equal torch's (including zeros for an empty row)")
        # property: gradients flow back to Q, K and V and match finite differences
        q64, k64, v64 = (t.double().requires_grad_(True) for t in (q[:, :2], k[:, :3], v[:, :3]))
        m64 = torch.tensor([[True, False, True], [True, True, True]])      # every query sees a key
        assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c)[0], (q64, k64, v64), raise_exception=False), "gradients of the output are wrong"
        assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask=m64)[0], (q64, k64, v64), raise_exception=False), "gradients of the masked output are wrong"
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention_torch", points=2),
        tests('''
        import torch

        torch.manual_seed(408)
        q, k, v = (torch.randn(2, n, 4, dtype=torch.float64, requires_grad=True) for n in (3, 4, 4))
        mask = torch.tensor([[True, False, True, True],
                             [False, False, False, False],     # query 1 may attend to nothing
                             [True, True, False, False]])
        out, _ = scaled_dot_product_attention(q, k, v, mask=mask)
        (out * torch.randn_like(out)).sum().backward()
        for name, t in (("Q", q), ("K", k), ("V", v)):
            assert t.grad is not None and torch.isfinite(t.grad).all(), f"with a fully masked query row the gradient of {name} is missing or not finite"
        ### BEGIN HIDDEN TESTS
        # property: a fully masked row keeps finite gradients
        # a whole padded-out sequence in a batch: (batch, 1, 1, n_k) with batch element 1 all False
        pad = torch.tensor([[True, True, False, True], [False] * 4])[:, None, None, :]
        qh, kh, vh = (torch.randn(2, 2, n, 4, dtype=torch.float64, requires_grad=True) for n in (3, 4, 4))
        out, _ = scaled_dot_product_attention(qh, kh, vh, mask=pad)
        out.square().sum().backward()
        for name, t in (("Q", qh), ("K", kh), ("V", vh)):
            assert t.grad is not None and torch.isfinite(t.grad).all(), f"a fully masked (batch, 1, 1, n_k) padding mask makes the gradient of {name} missing or not finite"
        ### END HIDDEN TESTS
        ''', "test_scaled_dot_product_attention_masked_grad", points=1),
        md("""
        **What just happened.** One function now does all of attention for any batch shape.
        PyTorch ships the same computation as `F.scaled_dot_product_attention` (fused and
        faster, but returning the output only). Its boolean `attn_mask` also means
        True = may attend, and for a query with nothing to attend to it returns zeros, the
        same convention as ours:
        """),
        code("""
        q, k, v = (torch.as_tensor(a) for a in (Q, K, V))
        ours, _ = scaled_dot_product_attention(q, k, v, mask=torch.as_tensor(causal_mask(3)))
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.as_tensor(causal_mask(3)))
        print("ours equals torch's:", torch.allclose(ours, theirs))

        nobody = torch.tensor([[False, False, False], [True, True, False], [True, True, True]])
        print("torch, first query masked everywhere:")
        print(F.scaled_dot_product_attention(q, k, v, attn_mask=nobody))
        """),
        md("""
        **A trap in the backward pass.** A row of `-inf` scores makes softmax compute 0/0 =
        NaN. Zeroing that row afterwards repairs the *output*, but not always the
        *gradient*. The reference implementation in the docstring of
        `F.scaled_dot_product_attention` turns the mask into a float bias (0 or `-inf`) and
        **adds** it to the scores; backpropagation then carries the row's NaN through the
        addition into `Q` and `K`. Filling with `masked_fill` (or `torch.where`) instead drops
        the gradient of every filled score, so nothing NaN gets through. One NaN gradient
        turns every weight of a model into NaN at the next optimiser step, which is why the
        graded functions must keep gradients finite:
        """),
        code("""
        def zero_empty_rows(weights, mask):
            return torch.where(mask.any(dim=-1, keepdim=True), weights, 0.0)


        def added_bias(q, k, mask):           # as in the docstring of F.scaled_dot_product_attention
            bias = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, float("-inf"))
            return zero_empty_rows(torch.softmax(q @ k.T / math.sqrt(q.shape[-1]) + bias, dim=-1), mask)


        def filled(q, k, mask):
            scores = (q @ k.T / math.sqrt(q.shape[-1])).masked_fill(~mask, float("-inf"))
            return zero_empty_rows(torch.softmax(scores, dim=-1), mask)


        for attend in (added_bias, filled):
            q_grad = q.clone().requires_grad_(True)
            w_demo = attend(q_grad, k, nobody)
            (w_demo @ v).sum().backward()
            print(f"{attend.__name__:10s} weights of query 0: {w_demo[0].tolist()}, "
                  f"gradient of Q finite: {bool(torch.isfinite(q_grad.grad).all())}")
        """),
        md("""
        ## 4. Fixing a broken tutorial layer

        A popular way to present attention in PyTorch is a small module. Three bugs show up
        in many copies of that code, and each stops it before it computes anything:

        1. the functional API is imported as `torch.nn.Functional` (capital F, as if it were
           a class); the module is `torch.nn.functional`, usually imported as `F`;
        2. the layer is declared `class AttentionLayer(Functional)`: it subclasses the
           functional API. A layer subclasses `nn.Module`, which is what makes
           `layer(q, k, v)` call `forward`, registers parameters and sub-layers, and lets
           `.to(device)`, `.train()` and `.eval()` work. `torch.nn.functional` is a module of
           functions, not a class, so Python refuses to subclass it;
        3. the scaling is written `torch.sqrt(d_k)` with `d_k = q.size(-1)`, an `int`;
           `torch.sqrt` takes a tensor, not a Python number.

        Here is what each one does (caught, so that this notebook runs to the end):
        """),
        code("""
        try:
            from torch.nn import Functional
        except ImportError as err:
            print(f"{type(err).__name__}: {str(err).split(' (')[0]}")   # the rest is a local path
        """),
        code("""
        try:
            class BrokenLayer(F):                # F = torch.nn.functional, a module of functions
                pass
        except TypeError as err:
            print(f"{type(err).__name__}: {err}")
        print("nn.Module is a class:", isinstance(nn.Module, type), "  F is a class:", isinstance(F, type))
        """),
        code("""
        d_k = q.size(-1)
        print("d_k =", d_k, "of type", type(d_k).__name__)
        try:
            torch.sqrt(d_k)
        except TypeError as err:
            print(f"{type(err).__name__}: {err}")
        print("math.sqrt(d_k) =", math.sqrt(d_k), "  d_k ** 0.5 =", d_k ** 0.5)
        """),
        md("""
        **The fix.** `import torch.nn.functional as F`, `class AttentionLayer(nn.Module)`,
        and `math.sqrt(d_k)` (or `d_k ** 0.5`) for a Python number. The rest of the layer is
        your function above, in torch.

        ### Your turn: `AttentionLayer`

        Complete `AttentionLayer`, an `nn.Module` built with **no constructor arguments**
        (attention itself has no weights; the projections live in notebook 05). Its
        `forward(q, k, v, mask=None)` takes tensors with any leading dims and returns
        `(output, weights)`, equal to `F.scaled_dot_product_attention`, with the same mask
        convention and zero output for a query with nothing to attend to. Stay in torch so
        that gradients flow, and keep them finite through a query with nothing to attend to
        (the trap above). You may call your `scaled_dot_product_attention`.
        """),
        solution('''
        class AttentionLayer(nn.Module):
            """Scaled dot-product attention as a module (no learnable parameters).

            forward(q, k, v, mask=None):
                q: (..., n_q, d_k), k: (..., n_k, d_k), v: (..., n_k, d_v) tensors;
                mask: optional bool tensor broadcastable to (..., n_q, n_k), True = may attend.
                Returns (output (..., n_q, d_v), weights (..., n_q, n_k)), equal to
                F.scaled_dot_product_attention. Masked weights are exactly 0; a query with
                nothing to attend to has all-zero weights and a zero output. Gradients reach
                q, k and v and stay finite, also through a query with nothing to attend to.
            """

            def forward(self, q, k, v, mask=None):
                ### BEGIN SOLUTION
                d_k = q.size(-1)
                scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                    scores = scores.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
                weights = F.softmax(scores, dim=-1)
                if mask is not None:
                    weights = weights.masked_fill(~mask, 0.0)
                return weights @ v, weights
                ### END SOLUTION
        ''', "AttentionLayer"),
        code("""
        check_attention_layer(AttentionLayer)
        """),
        tests('''
        import math

        import torch
        import torch.nn.functional as F

        torch.manual_seed(404)
        layer = AttentionLayer()
        assert isinstance(layer, torch.nn.Module), "AttentionLayer() should be a torch.nn.Module"
        q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
        result = layer(q, k, v)
        assert isinstance(result, tuple) and len(result) == 2, "forward should return a tuple (output, weights)"
        out, w = result
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-5, atol=1e-6, check_dtype=False, msg="output should equal torch's scaled_dot_product_attention")
        ### BEGIN HIDDEN TESTS
        # property: forward returns (output, weights) with the right shapes
        assert tuple(w.shape) == (2, 3, 5), f"weights should have shape (2, 3, 5); got {tuple(w.shape)}"
        assert tuple(out.shape) == (2, 3, 6), f"output should have shape (2, 3, 6); got {tuple(out.shape)}"
        # property: matches torch's scaled_dot_product_attention, with batch and head axes
        torch.testing.assert_close(w, torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1), rtol=1e-5, atol=1e-6, check_dtype=False, msg="weights should be softmax(q k^T / sqrt(d_k))")
        qb, kb, vb = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 3)
        out, w = layer(qb, kb, vb)
        torch.testing.assert_close(out, F.scaled_dot_product_attention(qb, kb, vb), rtol=1e-5, atol=1e-6, check_dtype=False, msg="output with (batch, heads) axes differs from torch's")
        torch.testing.assert_close(w, torch.softmax(qb @ kb.transpose(-2, -1) / math.sqrt(8), dim=-1), rtol=1e-5, atol=1e-6, check_dtype=False, msg="weights with (batch, heads) axes differ")
        ### END HIDDEN TESTS
        ''', "test_AttentionLayer", points=2),
        tests('''
        import torch
        import torch.nn.functional as F

        torch.manual_seed(409)
        layer = AttentionLayer()
        q, k, v = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(2, 3, 6)
        causal = torch.ones(3, 3, dtype=torch.bool).tril()
        out, w = layer(q, k, v, mask=causal)
        assert torch.all(w[:, ~causal] == 0), "masked keys should get weight exactly 0"
        ### BEGIN HIDDEN TESTS
        # property: the mask is applied (True = may attend) and a fully masked row gives 0
        qb, kb, vb = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 3)
        masks = (torch.ones(6, 7, dtype=torch.bool).tril(),
                 torch.rand(6, 7) < 0.4,
                 torch.tensor([[True] * 5 + [False] * 2, [False] * 7])[:, None, None, :])
        for mask in masks:
            out, w = layer(qb, kb, vb, mask=mask)
            assert not torch.isnan(out).any(), f"mask of shape {tuple(mask.shape)}: the output contains NaN"
            torch.testing.assert_close(out, F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask), rtol=1e-5, atol=1e-6, check_dtype=False,
                                       msg=f"output with a mask of shape {tuple(mask.shape)} differs from torch's")
            assert torch.all(w.masked_select(~mask.expand_as(w)) == 0), "masked keys should get weight exactly 0"
        out, w = layer(qb, kb, vb, mask=masks[2])
        assert torch.all(out[1] == 0), "a sequence that may attend to nothing should get a zero output"
        assert torch.all(w[1] == 0), "a sequence that may attend to nothing should get zero weights"
        ### END HIDDEN TESTS
        ''', "test_AttentionLayer_mask", points=1),
        tests('''
        import torch

        torch.manual_seed(410)
        layer = AttentionLayer()
        q, k, v = (torch.randn(2, n, 3, dtype=torch.float64, requires_grad=True) for n in (2, 4, 4))
        out, _ = layer(q, k, v)
        (out * torch.randn_like(out)).sum().backward()
        assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (q, k, v)), "no gradient reaches q, k or v"
        ### BEGIN HIDDEN TESTS
        # property: gradients flow back to q, k and v and match finite differences
        m64 = torch.tensor([[True, True, False, True], [False, True, True, True]])     # every query sees a key
        assert torch.autograd.gradcheck(lambda a, b, c: layer(a, b, c)[0], (q, k, v), raise_exception=False), "gradients of the output are wrong"
        assert torch.autograd.gradcheck(lambda a, b, c: layer(a, b, c, mask=m64)[0], (q, k, v), raise_exception=False), "gradients of the masked output are wrong"
        ### END HIDDEN TESTS
        ''', "test_AttentionLayer_grad", points=1),
        tests('''
        import torch

        torch.manual_seed(408)
        layer = AttentionLayer()
        q, k, v = (torch.randn(2, n, 4, dtype=torch.float64, requires_grad=True) for n in (3, 4, 4))
        mask = torch.tensor([[True, False, True, True],
                             [False, False, False, False],     # query 1 may attend to nothing
                             [True, True, False, False]])
        out, _ = layer(q, k, v, mask=mask)
        (out * torch.randn_like(out)).sum().backward()
        for name, t in (("q", q), ("k", k), ("v", v)):
            assert t.grad is not None and torch.isfinite(t.grad).all(), f"with a fully masked query row the gradient of {name} is missing or not finite"
        ### BEGIN HIDDEN TESTS
        # property: a fully masked row keeps finite gradients
        # a whole padded-out sequence in a batch: (batch, 1, 1, n_k) with batch element 1 all False
        pad = torch.tensor([[True, True, False, True], [False] * 4])[:, None, None, :]
        qh, kh, vh = (torch.randn(2, 2, n, 4, dtype=torch.float64, requires_grad=True) for n in (3, 4, 4))
        out, _ = layer(qh, kh, vh, mask=pad)
        out.square().sum().backward()
        for name, t in (("q", qh), ("k", kh), ("v", vh)):
            assert t.grad is not None and torch.isfinite(t.grad).all(), f"a fully masked (batch, 1, 1, n_k) padding mask makes the gradient of {name} missing or not finite"
        ### END HIDDEN TESTS
        ''', "test_AttentionLayer_masked_grad", points=1),
        md("""
        **A picture.** Splitting the running example's width 4 into two "heads" of width 2
        gives `(heads, n, d) = (2, 3, 2)` inputs; the layer handles the head axis like any
        batch axis. With a causal mask (grey cells), each head makes its own choices:
        notebook 05 builds multi-head attention on exactly this.
        """),
        code("""
        def split_heads(M, heads=2):
            n, d = M.shape
            return torch.as_tensor(M).reshape(n, heads, d // heads).transpose(0, 1)   # (heads, n, d/heads)

        layer = AttentionLayer()
        mask = torch.as_tensor(causal_mask(3))
        head_out, head_weights = layer(split_heads(Q), split_heads(K), split_heads(V), mask=mask)
        print("output per head:", tuple(head_out.shape), " weights per head:", tuple(head_weights.shape))
        show_heads(head_weights, TOKENS, TOKENS, mask=mask,
                   suptitle="AttentionLayer per head, causal mask")
        plt.show()
        """),
        md("""
        **What just happened.** The layer is the whole of attention, and it matches PyTorch's
        built-in on every shape, mask and gradient the tests tried, including the gradient
        through a query that may attend to nothing.

        ## Summary

        - output = weights @ V: each output row is a convex combination of the value rows,
          inside their convex hull; every value takes part.
        - Leading batch and head axes come for free with `@`; transpose only the last two
          axes of `K` (`.T` reverses all of them).
        - Scale by $\\sqrt{d_k}$ (queries' and keys' width); mask with True = may attend;
          a query with nothing to attend to gets a zero output, as in
          `F.scaled_dot_product_attention`.
        - Keep gradients finite through a fully masked row: fill with `masked_fill` /
          `torch.where` rather than adding a `-inf` bias, then zero the empty rows.
        - In PyTorch: `import torch.nn.functional as F` (lower case), a layer subclasses
          `nn.Module`, and `math.sqrt` for a Python int (it also keeps float32 data float32,
          where `np.sqrt` would upcast to float64).

        ## Going further

        - Vaswani et al., [Attention Is All You Need](https://arxiv.org/abs/1706.03762)
          (2017), equation (1).
        - PyTorch: [`torch.nn.functional.scaled_dot_product_attention`](https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
          and [`torch.autograd.gradcheck`](https://pytorch.org/docs/stable/generated/torch.autograd.gradcheck.gradcheck.html).
        - Rush, [The Annotated Transformer](https://nlp.seas.harvard.edu/annotated-transformer/):
          attention as a PyTorch function.
        """),
    ]


def build() -> Path:
    return write(notebook(cells()), PATH)


if __name__ == "__main__":
    print(build())
