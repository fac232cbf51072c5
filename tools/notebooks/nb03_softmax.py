"""Build course/03-softmax/softmax.ipynb.

    .venv/bin/python -m tools.notebooks.nb03_softmax
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, locked, md, notebook, solution, tests, write

PATH = Path(__file__).resolve().parents[2] / "course" / "03-softmax" / "softmax.ipynb"


def cells() -> list:
    return [
        md(r"""
        # 03 · Softmax: from scores to weights

        Notebook 02 ended with scaled scores $QK^\top/\sqrt{d_k}$: one number per (query, key)
        pair, any real value. Attention needs *weights*: positive, and summing to 1 over the
        keys of each query. Softmax makes that step, and masks decide which keys a query may
        look at in the first place.

        **Learning goals.** By the end you can

        - show why the textbook softmax formula overflows, and fix it exactly by subtracting
          the maximum (shift invariance);
        - explain what a temperature does to the weights;
        - build a padding mask and a causal mask (True = may attend) and apply them so that
          masked keys get exactly zero weight;
        - handle a query with nothing to attend to: all-zero weights, never NaN.

        You write three graded functions: `softmax`, `masked_softmax` and `causal_mask`.
        """),
        code("""
        import math

        import numpy as np
        import torch
        import matplotlib.pyplot as plt

        from helpers import show_attention, show_heads
        from helpers.data import TOKENS, sentence_embeddings, projection_weights
        from helpers.checks import check_softmax, check_masked_softmax, check_causal_mask

        np.set_printoptions(precision=3, suppress=True)
        """),
        md("""
        The running example from notebooks 01 and 02: the sentence "I love programming",
        its queries and keys, and the scaled scores (recomputed here in a locked cell).
        """),
        locked("""
        X = sentence_embeddings(d_model=4)                    # (3, 4): one row per token
        W_q, W_k, W_v = projection_weights(d_model=4, d_k=4, d_v=4)
        Q, K = X @ W_q, X @ W_k                               # (3, 4) each
        sentence_scores = Q @ K.T / math.sqrt(K.shape[-1])    # (n_q, n_k) = (3, 3)
        print(sentence_scores)
        """, "running_example"),
        md(r"""
        ## 1. Softmax, and why the textbook formula breaks

        **Why.** We need a map from any real scores to weights that are positive, sum to 1,
        and keep the order (a higher score gets a higher weight). Softmax is that map:

        $$\operatorname{softmax}(x)_j = \frac{e^{x_j}}{\sum_{j'} e^{x_{j'}}},
        \qquad \text{scores}: (n_q, n_k) \;\to\; \text{weights}: (n_q, n_k),$$

        applied to each query's row, i.e. normalised over the keys (the last axis).

        Many tutorials type the formula in as it stands. It works on small numbers, and
        silently breaks on large ones: $e^{1000}$ does not fit in a float64 (the largest is
        about $1.8 \times 10^{308} \approx e^{709.8}$; float32 gives up at $e^{88.7}$), so it
        becomes `inf`, and `inf / inf` is `nan`. Large scores are not exotic: an unscaled dot
        product in a wide model, or a confident classifier, produces them.
        """),
        code("""
        def naive_softmax(x):
            e = np.exp(x)
            return e / e.sum(axis=-1, keepdims=True)

        print("small scores:", naive_softmax(np.array([1.0, 2.0, 3.0])))
        # errstate keeps numpy's overflow warnings out of the output; the result says it all
        with np.errstate(over="ignore", invalid="ignore"):
            print("exp(1000)   :", np.exp(np.float64(1000.0)))
            print("large scores:", naive_softmax(np.array([1000.0, 1001.0, 1002.0])))
        """),
        md(r"""
        **The fix is exact, not an approximation.** Subtracting the same constant $c$ from
        every score changes nothing, because $e^{x_j - c} = e^{x_j} e^{-c}$ and the factor
        $e^{-c}$ cancels between numerator and denominator:

        $$\frac{e^{x_j - c}}{\sum_{j'} e^{x_{j'} - c}}
          = \frac{e^{-c}\, e^{x_j}}{e^{-c} \sum_{j'} e^{x_{j'}}}
          = \operatorname{softmax}(x)_j .$$

        Choose $c = \max_j x_j$: the largest exponent becomes $e^0 = 1$, so nothing
        overflows, and the denominator is at least 1, so nothing divides by zero. The cell
        below checks the invariance numerically for several shifts.
        """),
        code("""
        x = np.array([1.0, 2.0, 3.0])
        for c in (0.0, 3.0, -50.0, 500.0):
            print(f"shift by {c:7.1f}:", naive_softmax(x - c))

        big = np.array([1000.0, 1001.0, 1002.0])
        print("large scores, max subtracted:", naive_softmax(big - big.max()))
        """),
        md("""
        ### Your turn: `softmax`

        Write `softmax(x, axis=-1)`:

        - numerically stable: subtract the maximum **along `axis`** before exponentiating
          (the maximum of the whole array is not enough: a row far below it underflows to
          `0 / 0`);
        - works for any `axis` of an array of any number of dimensions (`keepdims=True`
          keeps the shapes broadcastable);
        - returns a new array of the same shape and dtype (float32 in, float32 out) and
          **never modifies `x`** (so no `x -= ...`).
        """),
        solution('''
        def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
            """Numerically stable softmax of `x` along `axis`.

            Args:
                x: scores of any shape, e.g. (n_q, n_k) or (batch, n_q, n_k).
                axis: the axis to normalise over (the keys: -1 by default).

            Returns:
                an array of the same shape and dtype as `x` (float32 stays float32),
                non-negative, summing to 1 along `axis`, finite for scores of any size.
                `x` itself is not modified.
            """
            ### BEGIN SOLUTION
            x = np.asarray(x)
            # the largest entry becomes exp(0) = 1: no overflow, denominator >= 1
            shifted = x - x.max(axis=axis, keepdims=True)
            e = np.exp(shifted)
            return e / e.sum(axis=axis, keepdims=True)
            ### END SOLUTION
        ''', "softmax"),
        code("""
        check_softmax(softmax)
        """),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        out = softmax(x.copy())
        assert np.shape(out) == (2, 3), f"softmax of a (2, 3) array should have shape (2, 3); got {np.shape(out)}"
        np.testing.assert_allclose(out[1], [1 / 3, 1 / 3, 1 / 3], rtol=1e-6, err_msg="equal scores should get equal weights")
        np.testing.assert_allclose(np.sum(out, axis=-1), [1.0, 1.0], rtol=1e-6, err_msg="each row of weights should sum to 1")
        ### BEGIN HIDDEN TESTS
        def _torch_softmax(a, axis):
            return torch.softmax(torch.from_numpy(np.array(a, dtype=np.float64)), dim=axis).numpy()

        # property: each row sums to 1 and matches torch.softmax
        # (rtol 1e-6 grades the formula, not float64 precision: the dtype has its own cell)
        rng = np.random.default_rng(303)
        x = rng.normal(size=(4, 7)) * 3
        np.testing.assert_allclose(softmax(x.copy()), _torch_softmax(x, -1), rtol=1e-6, atol=1e-9,
                                   err_msg="softmax(x) should equal torch.softmax(x, dim=-1)")
        # closed form: two scores a, b give weights sigmoid(a - b), sigmoid(b - a)
        out = softmax(np.array([0.0, np.log(3.0)]))
        np.testing.assert_allclose(out, [0.25, 0.75], rtol=1e-6, atol=1e-9, err_msg="softmax([0, log 3]) should be [1/4, 3/4]")
        # property: returns an array with the same shape as x
        assert np.shape(softmax(np.zeros((2, 1, 5)))) == (2, 1, 5), "softmax should keep the shape (2, 1, 5)"
        ### END HIDDEN TESTS
        ''', "test_softmax", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        out = softmax(np.array([1000.0, 1001.0, 1002.0]))
        assert np.all(np.isfinite(out)), f"softmax([1000, 1001, 1002]) should be finite; got {out}"
        ### BEGIN HIDDEN TESTS
        def _torch_softmax(a, axis):
            return torch.softmax(torch.from_numpy(np.array(a, dtype=np.float64)), dim=axis).numpy()

        # property: large scores (1e3, 1e4, float32 around 100) give finite, correct weights
        np.testing.assert_allclose(out, _torch_softmax([1000.0, 1001.0, 1002.0], -1), rtol=1e-6, atol=1e-9,
                                   err_msg="softmax([1000, 1001, 1002]) should equal softmax([0, 1, 2])")
        big = np.array([[1e4, 1e4 + 1.0, 1e4 - 2.0], [-1e4, -1e4, -1e4 + 3.0]])
        np.testing.assert_allclose(softmax(big.copy()), _torch_softmax(big, -1), rtol=1e-6, atol=1e-9,
                                   err_msg="softmax of scores around 1e4 should be finite and correct")
        rng = np.random.default_rng(313)
        x32 = (rng.normal(size=(3, 5)) * 100).astype(np.float32)
        np.testing.assert_allclose(np.asarray(softmax(x32.copy()), dtype=np.float64), _torch_softmax(x32, -1), rtol=1e-4, atol=1e-6,
                                   err_msg="float32 scores around 100 (exp overflows float32 at 89) should give correct weights")

        # property: rows of very different size are each normalised correctly
        mixed = np.array([[1000.0, 1001.0], [0.0, 1.0]])
        np.testing.assert_allclose(softmax(mixed.copy()), _torch_softmax(mixed, -1), rtol=1e-6, atol=1e-9,
                                   err_msg="rows of very different magnitude should each be normalised")
        ### END HIDDEN TESTS
        ''', "test_softmax_large_values", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        cols = softmax(np.array([[1.0, 5.0], [1.0, 5.0]]), axis=0)
        np.testing.assert_allclose(cols, [[0.5, 0.5], [0.5, 0.5]], rtol=1e-6, err_msg="softmax(x, axis=0) should normalise each column")
        ### BEGIN HIDDEN TESTS
        def _torch_softmax(a, axis):
            return torch.softmax(torch.from_numpy(np.array(a, dtype=np.float64)), dim=axis).numpy()

        # property: the axis argument is honoured (every axis of a 3-D array, negative ones too)
        rng = np.random.default_rng(323)
        cube = rng.normal(size=(2, 3, 4)) * 5
        for axis in (0, 1, 2, -1, -2, -3):
            out = softmax(cube.copy(), axis=axis)
            assert np.shape(out) == cube.shape, f"axis={axis}: shape should stay {cube.shape}; got {np.shape(out)}"
            np.testing.assert_allclose(out, _torch_softmax(cube, axis), rtol=1e-6, atol=1e-9,
                                       err_msg=f"softmax(x, axis={axis}) should equal torch.softmax(x, dim={axis})")
        ### END HIDDEN TESTS
        ''', "test_softmax_axis", points=1),
        tests('''
        import warnings
        import numpy as np
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        x = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, 1.0]])
        before = x.copy()
        softmax(x)
        np.testing.assert_array_equal(x, before, err_msg="softmax must not modify its input")
        ### BEGIN HIDDEN TESTS
        # property: x is not modified
        rng = np.random.default_rng(333)
        x = rng.normal(size=(3, 4))
        before = x.copy()
        softmax(x)
        softmax(x, axis=0)
        np.testing.assert_array_equal(x, before, err_msg="softmax must not modify its input (any axis)")

        # property: the output keeps x's dtype (float32 stays float32, float64 stays float64)
        out = softmax(rng.normal(size=(2, 3)))
        assert np.asarray(out).dtype == np.float64, f"float64 input should give float64 output; got {np.asarray(out).dtype}"
        x32 = rng.normal(size=(3, 5)).astype(np.float32)
        out = softmax(x32)
        assert np.asarray(out).dtype == np.float32, f"float32 input should give float32 output; got {np.asarray(out).dtype}"
        out = softmax(x32, axis=0)
        assert np.asarray(out).dtype == np.float32, f"float32 input with axis=0 should give float32 output; got {np.asarray(out).dtype}"
        ### END HIDDEN TESTS
        ''', "test_softmax_contract", points=1),
        md(r"""
        **What just happened.** The only change from the naive formula is one subtraction,
        and the result is exact. `torch.softmax` and every deep-learning library do the same.

        ## 2. Temperature

        **Why.** Dividing the scores by a *temperature* $T > 0$ before the softmax controls
        how peaked the weights are:

        $$w = \operatorname{softmax}(\text{scores} / T).$$

        $T \to 0$ approaches a hard lookup (all weight on the best-scoring key, as in
        notebook 01's dictionary); $T \to \infty$ approaches uniform weights $1/n_k$. The
        $\sqrt{d_k}$ of notebook 02 is a temperature chosen so that the scores have variance
        about 1. Our running scores are small, so at $T=1$ the weights are fairly flat.
        """),
        code("""
        temperatures = (0.1, 0.5, 1.0, 5.0)
        by_temperature = np.stack([softmax(sentence_scores / T) for T in temperatures])  # (4, 3, 3)
        show_heads(by_temperature, TOKENS, TOKENS,
                   titles=[f"T = {T}" for T in temperatures],
                   suptitle="softmax(scores / T): lower T, sharper weights")
        plt.show()
        """),
        md("""
        **What just happened.** Same scores, same order of preference in every row; only the
        contrast changes. Sampling from a language model with a "temperature" setting uses
        exactly this knob. From here on we keep $T = 1$.

        ## 3. Padding masks

        **Why.** Sentences in a batch have different lengths, but an array needs one length.
        The short ones are *padded* with a `<pad>` token. A pad is not a word: no query should
        take anything from it. Its score is not small either: a pad embedding of zeros has
        score $q \\cdot 0 = 0$, which is well within the range of the real scores.

        A **mask** says which keys each query may attend to. The course convention (the same
        as PyTorch's `scaled_dot_product_attention`): a boolean array, **True = may attend**,
        that broadcasts against the scores `(..., n_q, n_k)`. A padding mask is one row
        `(n_k,)` per sentence, used by every query, so a batch of them has shape
        `(batch, 1, n_k)`.

        Below: "I love programming" and "I love", padded to 4 tokens.
        """),
        locked("""
        batch_tokens = [("I", "love", "programming", "<pad>"),
                        ("I", "love", "<pad>", "<pad>")]
        pad_embedding = np.zeros(X.shape[-1])
        batch_X = np.stack([np.stack([X[TOKENS.index(t)] if t != "<pad>" else pad_embedding
                                      for t in sentence]) for sentence in batch_tokens])  # (2, 4, 4)
        batch_scores = (batch_X @ W_q) @ (batch_X @ W_k).swapaxes(-1, -2) / math.sqrt(4)   # (2, 4, 4)

        padding_mask = np.array([[t != "<pad>" for t in sentence] for sentence in batch_tokens])  # (2, 4)
        print("padding mask (True = real token):")
        print(padding_mask)
        print("broadcastable mask shape:", padding_mask[:, None, :].shape,
              " scores shape:", batch_scores.shape)
        """, "padded_batch"),
        md(r"""
        **The idea in math.** A masked key must get weight exactly 0, and the allowed keys
        share all of the weight:

        $$w_{ij} = \begin{cases} \dfrac{e^{s_{ij}}}{\sum_{j' \text{ allowed}} e^{s_{ij'}}}
        & \text{if } \text{mask}_{ij} \\[1ex] 0 & \text{otherwise} \end{cases}$$

        Setting masked scores to $-\infty$ before a softmax does this, because
        $e^{-\infty} = 0$, **except** when a query has no allowed key at all: then every score
        is $-\infty$, and the softmax computes $0/0$ = NaN. Such rows happen (a batch entry
        that is all padding, a query position with no visible key), and one NaN spreads
        through every later layer. Our convention: such a row gets all-zero weights.
        """),
        md("""
        ### Your turn: `masked_softmax`

        Write `masked_softmax(scores, mask, axis=-1)`:

        - `mask` is boolean, True = may attend, and **broadcasts** against `scores`
          (e.g. a `(n_k,)` padding mask or an `(n_q, n_k)` mask with `(batch, n_q, n_k)`
          scores);
        - masked entries get **exactly 0**; the allowed entries of each row sum to 1;
        - a row with no allowed entry gives **all zeros, never NaN** (along `axis`: with
          `axis=0` a column with no allowed entry is all zeros);
        - numerically stable like `softmax`, also when a *masked* score is far above the
          allowed ones; any `axis`; float32 stays float32; inputs unchanged.

        Only the weights are graded. numpy may print a RuntimeWarning on the way (it warns on
        `inf - inf` and `0/0`, even in entries you then throw away); that costs nothing, and
        the check cell tells you where it happened if you want to avoid it.

        `np.where(mask, a, b)` and `np.broadcast_to(mask, scores.shape)` are useful. You may
        call your `softmax` or write the few lines again.
        """),
        solution('''
        def masked_softmax(scores: np.ndarray, mask: np.ndarray, axis: int = -1) -> np.ndarray:
            """Softmax of `scores` along `axis` over the entries where `mask` is True.

            Args:
                scores: (..., n_q, n_k) scores.
                mask: boolean, broadcastable to `scores`; True = may attend.
                axis: the axis to normalise over (the keys: -1 by default).

            Returns:
                weights with the shape and dtype of `scores` (float32 stays float32):
                exactly 0 where the mask is False, summing to 1 along `axis` over the
                allowed entries, finite for scores of any size (masked ones included);
                a slice along `axis` with no allowed entry is all zeros (never NaN).
                The inputs are not modified. numpy warnings are not part of the contract.
            """
            ### BEGIN SOLUTION
            scores = np.asarray(scores)
            mask = np.broadcast_to(np.asarray(mask, dtype=bool), scores.shape)
            allowed = np.where(mask, scores, -np.inf)
            top = allowed.max(axis=axis, keepdims=True)
            top = np.where(np.isfinite(top), top, 0)       # a fully masked row has max -inf
            e = np.where(mask, np.exp(allowed - top), 0)   # exp(-inf) = 0, no warning
            total = e.sum(axis=axis, keepdims=True)
            return e / np.where(total > 0, total, 1)       # 0 / 1 = 0 for a fully masked row
            ### END SOLUTION
        ''', "masked_softmax"),
        code("""
        check_masked_softmax(masked_softmax)
        """),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        scores = np.zeros((2, 4))
        mask = np.array([[True, True, False, False], [True, True, True, True]])
        out = masked_softmax(scores.copy(), mask.copy())
        assert np.shape(out) == (2, 4), f"weights should have the shape of the scores (2, 4); got {np.shape(out)}"
        np.testing.assert_allclose(out, [[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]], rtol=1e-6, atol=1e-9,
                                   err_msg="equal scores should share the weight equally among the allowed keys")
        ### BEGIN HIDDEN TESTS
        def _expected(s, m, axis=-1):
            t = torch.from_numpy(np.array(s, dtype=np.float64))
            m = torch.from_numpy(np.broadcast_to(m, s.shape).copy())
            return torch.softmax(t.masked_fill(~m, float("-inf")), dim=axis).numpy()

        rng = np.random.default_rng(304)
        s = rng.normal(size=(5, 6)) * 3
        m = rng.random((5, 6)) < 0.6
        m[:, 2] = True                                   # every row has an allowed key
        out = masked_softmax(s.copy(), m.copy())
        # property: returns an array with the shape of the scores
        assert np.shape(out) == (5, 6), f"scores (5, 6) should give weights (5, 6); got {np.shape(out)}"
        # property: masked entries get exactly 0
        assert np.all(np.asarray(out)[~m] == 0.0), "masked entries should get exactly 0 weight"
        # property: the allowed entries sum to 1 and match softmax over them
        # (rtol 1e-6 grades the formula, not float64 precision: the dtype has its own cell)
        np.testing.assert_allclose(out, _expected(s, m), rtol=1e-6, atol=1e-9,
                                   err_msg="weights should equal torch.softmax over the allowed entries")
        ### END HIDDEN TESTS
        ''', "test_masked_softmax", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        batch = np.zeros((2, 3, 4))
        out = masked_softmax(batch.copy(), np.array([True, True, False, True]))
        assert np.shape(out) == (2, 3, 4), f"a (4,) mask with (2, 3, 4) scores should give (2, 3, 4) weights; got {np.shape(out)}"
        ### BEGIN HIDDEN TESTS
        def _expected(s, m, axis=-1):
            t = torch.from_numpy(np.array(s, dtype=np.float64))
            m = torch.from_numpy(np.broadcast_to(m, s.shape).copy())
            return torch.softmax(t.masked_fill(~m, float("-inf")), dim=axis).numpy()

        # property: masks broadcast against the scores: (n_k,), (n_q, n_k) and (batch, 1, n_k)
        rng = np.random.default_rng(314)
        batch = rng.normal(size=(2, 3, 4))
        for m in (np.array([True, True, False, True]),
                  np.tril(np.ones((3, 4), dtype=bool)),
                  np.array([[[True, True, True, False]], [[True, False, False, True]]])):
            out = masked_softmax(batch.copy(), m.copy())
            assert np.shape(out) == batch.shape, f"mask {m.shape} with scores {batch.shape}: got shape {np.shape(out)}"
            np.testing.assert_allclose(out, _expected(batch, m), rtol=1e-6, atol=1e-9,
                                       err_msg=f"a mask of shape {m.shape} should broadcast against scores {batch.shape}")
        ### END HIDDEN TESTS
        ''', "test_masked_softmax_broadcast", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        cols = masked_softmax(np.zeros((2, 2)), np.array([[True, True], [True, False]]), axis=0)
        np.testing.assert_allclose(cols, [[0.5, 1.0], [0.5, 0.0]], rtol=1e-6, atol=1e-9,
                                   err_msg="masked_softmax(..., axis=0) should normalise each column over its allowed entries")
        ### BEGIN HIDDEN TESTS
        def _expected(s, m, axis=-1):
            t = torch.from_numpy(np.array(s, dtype=np.float64))
            m = torch.from_numpy(np.broadcast_to(m, s.shape).copy())
            return torch.softmax(t.masked_fill(~m, float("-inf")), dim=axis).numpy()

        # property: the axis argument is honoured (axis=0, axis=-2)
        rng = np.random.default_rng(324)
        m = np.array([[True, False, True], [True, True, False]])
        s = rng.normal(size=(2, 3))
        np.testing.assert_allclose(masked_softmax(s.copy(), m.copy(), axis=0), _expected(s, m, axis=0), rtol=1e-6, atol=1e-9,
                                   err_msg="masked_softmax(..., axis=0) should normalise each column")
        s3 = rng.normal(size=(3, 4, 2))
        m3 = np.broadcast_to(np.array([[True, False], [True, True], [False, True], [True, True]]), s3.shape).copy()
        np.testing.assert_allclose(masked_softmax(s3.copy(), m3.copy(), axis=-2), _expected(s3, m3, axis=-2), rtol=1e-6, atol=1e-9,
                                   err_msg="masked_softmax(..., axis=-2) should normalise over the second-to-last axis")
        ### END HIDDEN TESTS
        ''', "test_masked_softmax_axis", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        big = masked_softmax(np.array([[1000.0, 1001.0, 5.0]]), np.array([[True, True, False]]))
        assert np.all(np.isfinite(big)), f"scores around 1000 should give finite weights; got {big}"
        ### BEGIN HIDDEN TESTS
        def _expected(s, m, axis=-1):
            t = torch.from_numpy(np.array(s, dtype=np.float64))
            m = torch.from_numpy(np.broadcast_to(m, s.shape).copy())
            return torch.softmax(t.masked_fill(~m, float("-inf")), dim=axis).numpy()

        # property: large scores (1e4) give finite, correct weights, even when a masked score is the largest
        rng = np.random.default_rng(334)
        s = rng.normal(size=(3, 4)) * 1e4
        m = np.array([[True, True, False, True], [False, True, True, True], [True, False, False, False]])
        np.testing.assert_allclose(masked_softmax(s.copy(), m.copy()), _expected(s, m), rtol=1e-6, atol=1e-9,
                                   err_msg="scores around 1e4 should give finite, correct weights")
        low = np.array([[-1e4, -1e4 + 2.0, 0.0]])
        np.testing.assert_allclose(masked_softmax(low.copy(), np.array([[True, True, False]])), _expected(low, np.array([[True, True, False]])),
                                   rtol=1e-6, atol=1e-9, err_msg="allowed scores far below a masked one should still share the weight")
        ### END HIDDEN TESTS
        ''', "test_masked_softmax_large_values", points=1),
        tests('''
        import warnings
        import numpy as np
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        scores = np.array([[0.3, -1.2, 2.0], [1.0, 2.0, 3.0]])
        nothing_in_row_0 = np.array([[False, False, False], [True, True, True]])
        out = masked_softmax(scores.copy(), nothing_in_row_0.copy())
        assert not np.any(np.isnan(out)), f"a fully masked row should not produce NaN; got {out}"
        np.testing.assert_array_equal(np.asarray(out)[0], [0.0, 0.0, 0.0], err_msg="a fully masked row should get all-zero weights")
        ### BEGIN HIDDEN TESTS
        # property: a fully masked row (or column, with axis=0) gives all zeros, never NaN
        # (outputs only: numpy warnings raised on the way are not graded, COURSE_SPEC 3.1)
        e = np.exp(scores[1] - scores[1].max())
        np.testing.assert_allclose(np.asarray(out)[1], e / e.sum(), rtol=1e-6, atol=1e-9,
                                   err_msg="the row with every key allowed should be the plain softmax")

        # a batch entry that is all padding (the mask already has the scores' shape)
        rng = np.random.default_rng(305)
        batch = rng.normal(size=(2, 3, 4)) * 10
        pad = np.broadcast_to(np.array([[True] * 4, [False] * 4])[:, None, :], (2, 3, 4)).copy()
        out = np.asarray(masked_softmax(batch.copy(), pad.copy()))
        assert not np.any(np.isnan(out)), "a sequence that is all padding should not produce NaN"
        np.testing.assert_array_equal(out[1], np.zeros((3, 4)), err_msg="a sequence that is all padding should get all-zero weights")
        e = np.exp(batch[0] - batch[0].max(axis=-1, keepdims=True))
        np.testing.assert_allclose(out[0], e / e.sum(axis=-1, keepdims=True), rtol=1e-6, atol=1e-9,
                                   err_msg="the sequence without padding should get the plain softmax")

        # nothing allowed anywhere, large float32 values
        s32 = (rng.normal(size=(3, 4)) * 1e4).astype(np.float32)
        out = np.asarray(masked_softmax(s32.copy(), np.zeros((3, 4), dtype=bool)))
        assert not np.any(np.isnan(out)), "an all-False mask should not produce NaN"
        np.testing.assert_array_equal(out, np.zeros((3, 4)), err_msg="an all-False mask should give all-zero weights")

        # a fully masked column when normalising over axis 0 (only that column is graded here)
        out = np.asarray(masked_softmax(np.ones((2, 2)), np.array([[True, False], [True, False]]), axis=0))
        assert not np.any(np.isnan(out[:, 1])), f"with axis=0, a fully masked column should not produce NaN; got {out[:, 1]}"
        np.testing.assert_array_equal(out[:, 1], [0.0, 0.0], err_msg="with axis=0, a fully masked column should get zeros")
        ### END HIDDEN TESTS
        ''', "test_masked_softmax_fully_masked", points=2),
        tests('''
        import warnings
        import numpy as np
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        s = np.array([[0.5, 1.5, -0.5], [2.0, 0.0, 1.0]])
        m = np.array([[True, False, True], [True, True, True]])
        s0, m0 = s.copy(), m.copy()
        masked_softmax(s, m)
        np.testing.assert_array_equal(s, s0, err_msg="masked_softmax must not modify the scores")
        ### BEGIN HIDDEN TESTS
        # property: the scores and the mask are not modified
        np.testing.assert_array_equal(m, m0, err_msg="masked_softmax must not modify the mask")
        rng = np.random.default_rng(315)
        s = rng.normal(size=(2, 3, 4))
        m = np.broadcast_to(np.array([True, False, True, True]), s.shape).copy()
        s0, m0 = s.copy(), m.copy()
        masked_softmax(s, m)
        np.testing.assert_array_equal(s, s0, err_msg="masked_softmax must not modify batched scores")
        np.testing.assert_array_equal(m, m0, err_msg="masked_softmax must not modify the mask")

        # property: the weights keep the scores' dtype (float32 stays float32, float64 stays float64)
        m2 = np.array([[True, True, False, True]] * 3)
        out = masked_softmax(rng.normal(size=(3, 4)), m2)
        assert np.asarray(out).dtype == np.float64, f"float64 scores should give float64 weights; got {np.asarray(out).dtype}"
        s32 = rng.normal(size=(3, 4)).astype(np.float32)
        out = masked_softmax(s32, m2)
        assert np.asarray(out).dtype == np.float32, f"float32 scores should give float32 weights; got {np.asarray(out).dtype}"
        ### END HIDDEN TESTS
        ''', "test_masked_softmax_contract", points=1),
        md("""
        **A picture.** The short sentence "I love" without and with its padding mask. Without
        the mask, the two pads take a good share of every query's weight. With it (masked
        cells grey and hatched), the real tokens share all of it.
        """),
        code("""
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        short = batch_tokens[1]
        show_attention(softmax(batch_scores[1]), short, short, ax=axes[0], vmax=1.0,
                       title="no mask: pads take weight")
        show_attention(masked_softmax(batch_scores[1], padding_mask[1]), short, short, ax=axes[1], vmax=1.0,
                       mask=np.broadcast_to(padding_mask[1], (4, 4)),
                       title="padding mask: rows sum to 1 over real tokens")
        plt.show()
        """),
        md("""
        **A tutorial trap: filling with -1e9.** Many implementations fill masked scores with a
        large negative number such as `-1e9` instead of `-inf`. For a row with at least one
        allowed key the difference is invisible. For a row with *none*, every score is the
        same `-1e9`, so the softmax hands out **uniform** weights to keys the query was not
        allowed to see. Filling with `-inf` and calling softmax gives NaN instead. Neither is
        what we want:
        """),
        code("""
        row = np.array([[0.3, -1.2, 2.0, 0.5]])
        nothing = np.zeros((1, 4), dtype=bool)
        print("fill -1e9, softmax:", softmax(np.where(nothing, row, -1e9)))
        with np.errstate(invalid="ignore"):       # softmax of all -inf computes -inf - (-inf)
            print("fill -inf, softmax:", softmax(np.where(nothing, row, -np.inf)))
        print("masked_softmax    :", masked_softmax(row, nothing))
        """),
        md(r"""
        **What just happened.** The masked key is *removed* from the softmax, not just made
        unlikely, and a query that can see nothing receives nothing. PyTorch's
        `scaled_dot_product_attention` follows the same rule (notebook 04 checks it).

        ## 4. Causal masks

        **Why.** A language model generates text left to right: when it predicts the token
        after "love", it must not peek at "programming". So query $i$ may attend to keys
        $0, \dots, i$ (itself included) and to nothing later:

        $$\text{mask}_{ij} = (j \le i), \qquad \text{mask}: (n, n),$$

        the lower triangle including the diagonal, with rows = queries and columns = keys.

        ### Your turn: `causal_mask`

        Write `causal_mask(n)` returning a boolean `(n, n)` array, True where query `i` may
        attend to key `j`. `np.tril` or comparing `np.arange(n)` with itself both work; make
        sure the dtype is `bool`.
        """),
        solution('''
        def causal_mask(n: int) -> np.ndarray:
            """Causal mask for n >= 1 tokens: (n, n), dtype bool, True (may attend) iff j <= i.

            Rows are queries i, columns are keys j; the diagonal is True (a token sees
            itself), everything above it is False.
            """
            ### BEGIN SOLUTION
            return np.tril(np.ones((n, n), dtype=bool))
            ### END SOLUTION
        ''', "causal_mask"),
        code("""
        check_causal_mask(causal_mask)
        """),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        m = np.asarray(causal_mask(3))
        assert np.shape(m) == (3, 3), f"causal_mask(3) should have shape (3, 3); got {np.shape(m)}"
        assert bool(m[2, 0]) and not bool(m[0, 2]), "query 2 may attend to key 0, query 0 may not attend to key 2"
        ### BEGIN HIDDEN TESTS
        for n in (1, 2, 3, 7):
            m = np.asarray(causal_mask(n))
            expected = torch.ones(n, n, dtype=torch.bool).tril().numpy()
            # property: returns an (n, n) array
            assert m.shape == (n, n), f"causal_mask({n}) should have shape ({n}, {n}); got {m.shape}"
            # property: every position may attend to itself
            assert np.all(np.diagonal(m).astype(bool)), f"causal_mask({n}): every query may attend to itself"
            # property: query i may attend to keys 0..i and not to later keys
            np.testing.assert_array_equal(m.astype(bool), expected,
                                          err_msg=f"causal_mask({n}): query i may attend to keys 0..i only")
        # property: works for n = 1
        assert np.asarray(causal_mask(1)).shape == (1, 1) and bool(np.asarray(causal_mask(1))[0, 0]), "causal_mask(1) should be [[True]]"
        ### END HIDDEN TESTS
        ''', "test_causal_mask", points=1),
        tests('''
        import warnings
        import numpy as np
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        m = np.asarray(causal_mask(3))
        assert m.dtype == bool, f"the mask should be boolean; got dtype {m.dtype}"
        ### BEGIN HIDDEN TESTS
        # property: dtype is bool
        for n in (1, 5):
            m = np.asarray(causal_mask(n))
            assert m.dtype == bool, f"causal_mask({n}) should be boolean; got {m.dtype}"
        ### END HIDDEN TESTS
        ''', "test_causal_mask_dtype", points=1),
        md("""
        **A picture.** Causal attention on "I love programming". "I" can only look at
        itself, so its weight is 1; "programming" sees the whole sentence. Masks combine with
        `&`: for the padded batch, a query may attend to a key that is both earlier *and* a
        real token.
        """),
        code("""
        n = len(TOKENS)
        show_attention(masked_softmax(sentence_scores, causal_mask(n)), TOKENS, TOKENS,
                       mask=causal_mask(n), title="causal mask: each token sees itself and the past")
        plt.show()

        combined = padding_mask[:, None, :] & causal_mask(4)     # (2, 1, 4) & (4, 4) -> (2, 4, 4)
        print("padding & causal mask for", batch_tokens[1])
        print(combined[1].astype(int))
        """),
        md("""
        **What just happened.** You now have everything that turns scores into weights: a
        stable softmax, and masks that remove keys exactly. Notebook 04 uses the weights to
        average the values, which gives attention's output.

        ## Summary

        - The naive softmax overflows; subtracting the maximum along the normalised axis is
          exact (shift invariance) and stable.
        - Temperature scales the scores and only changes how peaked the weights are.
        - Masks are boolean, True = may attend, and broadcast against `(..., n_q, n_k)`:
          `(n_k,)` or `(batch, 1, n_k)` for padding, `(n, n)` lower-triangular for causal.
        - Masked keys get exactly zero weight; a query with nothing to attend to gets all
          zeros, not NaN (`-inf` alone gives NaN, `-1e9` gives uniform weights).

        ## Going further

        - Vaswani et al., [Attention Is All You Need](https://arxiv.org/abs/1706.03762)
          (2017), section 3.2.3: masking in the decoder.
        - PyTorch: [`torch.softmax`](https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html)
          and [`scaled_dot_product_attention`](https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
          (its boolean `attn_mask` also means True = may attend).
        - Blanchard, Higham and Higham, [Accurately computing the log-sum-exp and softmax
          functions](https://doi.org/10.1093/imanum/draa038) (2021): the numerics of the
          max-subtraction trick.
        """),
    ]


def build() -> Path:
    return write(notebook(cells()), PATH)


if __name__ == "__main__":
    print(build())
