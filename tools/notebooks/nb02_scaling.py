"""Build course/02-scaling/scaling.ipynb.

    .venv/bin/python -m tools.notebooks.nb02_scaling
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, md, notebook, solution, tests, write, written_answer

PATH = Path(__file__).resolve().parents[2] / "course" / "02-scaling" / "scaling.ipynb"


def cells() -> list:
    return [
        md("""
        # 02 · Why divide by √d_k?

        Scaled dot-product attention computes `softmax(Q Kᵀ / √d_k) V`. This notebook
        answers the question every reader of that formula asks: *why that denominator?*

        **Learning goals.** By the end you can

        - show by experiment, and derive in two lines, that the variance of a dot product
          `q · k` of random unit-variance vectors grows linearly with `d_k`;
        - explain how large scores saturate the softmax and make its gradients vanish, and
          measure it with torch autograd;
        - recognise the `√d_k · √d_q` denominator that some tutorials use as wrong, and say
          what it does to the attention weights;
        - write `scaled_scores(Q, K)`, the graded function of this notebook.
        """),
        code("""
        import math

        import numpy as np
        import torch
        import matplotlib.pyplot as plt

        from helpers import show_heads
        from helpers.checks import check_scaled_scores

        np.set_printoptions(precision=3, suppress=True)
        D_KS = [4, 16, 64, 256, 1024]   # the key widths every experiment below uses
        """),
        md("""
        ## 1. Dot products grow with d_k

        **Why.** A score is a sum of `d_k` products, one per feature. More features, more
        terms: does the score get bigger? Measure it. Draw many random query and key
        vectors whose entries have mean 0 and variance 1 (what a well-initialised network
        produces) and look at the spread of `q · k` for several widths `d_k`.
        """),
        code("""
        rng = np.random.default_rng(0)
        variances = []
        table = [" d_k   Var(q.k)   Var(q.k) / d_k   Var(q.k / sqrt(d_k))"]
        for d_k in D_KS:
            q = rng.standard_normal((4000, d_k))
            k = rng.standard_normal((4000, d_k))
            dots = (q * k).sum(axis=1)           # 4000 independent dot products
            variances.append(dots.var())
            table.append(f"{d_k:4d} {dots.var():10.1f} {dots.var() / d_k:16.3f} {(dots / math.sqrt(d_k)).var():22.3f}")
        print("\\n".join(table))
        """),
        code("""
        fig, ax = plt.subplots(figsize=(5, 3.6), dpi=100, layout="constrained")
        ax.loglog(D_KS, variances, "o", label="measured Var(q·k)")
        ax.loglog(D_KS, D_KS, "--", color="grey", label="d_k (the derivation below)")
        ax.loglog(D_KS, [v / d for v, d in zip(variances, D_KS)], "s", label="measured Var(q·k / √d_k)")
        ax.set(xlabel="d_k", ylabel="variance", title="the variance of q·k grows linearly with d_k")
        ax.legend()
        plt.show()
        """),
        md("""
        ## 2. The derivation

        Let `q, k: (d_k,)` have independent entries with mean 0 and variance 1. Then each
        product `q_i k_i` has mean `E[q_i] E[k_i] = 0` and variance
        `E[q_i² k_i²] − 0² = E[q_i²] E[k_i²] = 1 · 1 = 1`. The `d_k` products are
        independent, so their variances add up:

        $$\\operatorname{Var}(q \\cdot k) = \\operatorname{Var}\\Big(\\sum_{i=1}^{d_k} q_i k_i\\Big)
        = \\sum_{i=1}^{d_k} \\operatorname{Var}(q_i k_i) = d_k .$$

        The standard deviation is therefore `√d_k`, and dividing by it brings the variance
        back to 1 for *every* width:

        $$\\operatorname{Var}\\Big(\\frac{q \\cdot k}{\\sqrt{d_k}}\\Big) = \\frac{d_k}{d_k} = 1.$$

        **What just happened.** The table and the plot agree with the formula: the measured
        variance sits on the line `d_k`, and after dividing by `√d_k` it stays at 1.

        ## 3. Large scores saturate the softmax

        **Why it matters.** The scores go through a softmax,
        `p_j = e^{s_j} / Σ_j' e^{s_j'}`. When the scores are spread widely, the largest one
        wins by a margin that the exponential turns into almost all of the weight: `p`
        becomes nearly one-hot. The softmax's gradient is

        $$\\frac{\\partial p_i}{\\partial s_j} = p_i(\\delta_{ij} - p_j),$$

        which is 0 for every `i, j` when `p` is one-hot. A saturated softmax passes
        (almost) no gradient back to the queries and keys, so they stop learning.

        Measure it: 256 queries against 8 keys, entries standard normal, for each `d_k`.
        The loss is a fixed random linear function of the weights (as a downstream layer
        would be); autograd gives its gradient with respect to the scores that enter the
        softmax.
        """),
        code("""
        def softmax_stats(d_k, denominator, n_keys=8, seed=0):
            \"\"\"Mean max weight, mean entropy and mean gradient norm of softmax(Q K^T / denominator).\"\"\"
            gen = torch.Generator().manual_seed(seed)
            Q = torch.randn(256, d_k, generator=gen, dtype=torch.float64)
            K = torch.randn(n_keys, d_k, generator=gen, dtype=torch.float64)
            target = torch.randn(256, n_keys, generator=gen, dtype=torch.float64)
            logits = (Q @ K.T / denominator).requires_grad_(True)
            weights = torch.softmax(logits, dim=-1)
            (weights * target).sum().backward()
            entropy = -(weights * weights.clamp_min(1e-300).log()).sum(-1)
            return (weights.max(-1).values.mean().item(), entropy.mean().item(),
                    logits.grad.norm(dim=-1).mean().item())

        unscaled = [softmax_stats(d_k, 1.0) for d_k in D_KS]
        scaled = [softmax_stats(d_k, math.sqrt(d_k)) for d_k in D_KS]
        table = [f"max entropy with 8 keys: log 8 = {math.log(8):.3f}",
                 " d_k | unscaled: max weight  entropy  grad norm | scaled: max weight  entropy  grad norm"]
        for d_k, (m0, h0, g0), (m1, h1, g1) in zip(D_KS, unscaled, scaled):
            table.append(f"{d_k:4d} | {m0:20.3f} {h0:8.3f} {g0:10.2e} | {m1:18.3f} {h1:8.3f} {g1:10.2e}")
        print("\\n".join(table))
        """),
        code("""
        fig, ax = plt.subplots(figsize=(5, 3.6), dpi=100, layout="constrained")
        ax.loglog(D_KS, [g for _, _, g in unscaled], "o-", label="Q Kᵀ (unscaled)")
        ax.loglog(D_KS, [g for _, _, g in scaled], "s-", label="Q Kᵀ / √d_k")
        ax.set(xlabel="d_k", ylabel="mean gradient norm at the softmax input",
               title="without scaling, the gradient vanishes as d_k grows")
        ax.legend()
        plt.show()
        """),
        md("""
        **What just happened.** Without scaling, the largest weight approaches 1, the
        entropy of the weights falls towards 0 and the gradient keeps shrinking as `d_k`
        grows (about eight times smaller at `d_k = 1024` than at `d_k = 4`). With `√d_k` all three stay put, whatever the width: the
        softmax works in the same regime for a tiny model and for a wide one.

        ## 4. A denominator that is too large: √d_k · √d_q

        Some tutorials write the denominator as `√d_k · √d_q`. Queries and keys must have
        the same width for `q · k` to exist, so `d_q = d_k` and this is simply **`d_k`**.
        The variance of the scores then becomes

        $$\\operatorname{Var}\\Big(\\frac{q \\cdot k}{d_k}\\Big) = \\frac{d_k}{d_k^2} = \\frac{1}{d_k},$$

        which shrinks as `d_k` grows: the scores all crowd near 0 and the softmax spreads
        its weight evenly over the keys, whatever the queries and keys say. Over-flattened,
        the weights carry almost no information. Check it numerically:
        """),
        code("""
        over_scaled = [softmax_stats(d_k, math.sqrt(d_k) * math.sqrt(d_k)) for d_k in D_KS]
        table = [f"uniform weights over 8 keys: max weight = {1 / 8:.3f}, entropy = log 8 = {math.log(8):.3f}",
                 " d_k | ÷ √d_k·√d_q: max weight  entropy | ÷ √d_k: max weight  entropy"]
        for d_k, (m2, h2, _), (m1, h1, _) in zip(D_KS, over_scaled, scaled):
            table.append(f"{d_k:4d} | {m2:23.3f} {h2:8.3f} | {m1:18.3f} {h1:8.3f}")
        print("\\n".join(table))
        """),
        md("""
        The picture for one example (6 queries, 6 keys, `d_k = 256`). Without scaling, five
        of the six rows are nearly one-hot (their largest weight is 0.98 or more); the second
        row is spread out only because its largest scores happen to lie close together, and a
        softmax is exactly as sharp as the gaps between the scores. Correctly scaled weights
        are selective but soft, and the over-scaled weights are nearly uniform (every cell
        close to 1/6 ≈ 0.17). The printout under the picture gives each row's largest weight.
        """),
        code("""
        gen = torch.Generator().manual_seed(1)
        Q_demo, K_demo = torch.randn(6, 256, generator=gen), torch.randn(6, 256, generator=gen)
        raw = Q_demo @ K_demo.T
        demo_weights = torch.stack([torch.softmax(raw / c, dim=-1) for c in (1.0, math.sqrt(256), 256.0)])
        show_heads(demo_weights, titles=["÷ 1 (no scaling)", "÷ √d_k = 16", "÷ √d_k·√d_q = 256"],
                   suptitle="softmax weights for d_k = 256: each row sums to 1")
        plt.show()
        for label, w in zip(["no scaling", "÷ √d_k", "÷ √d_k·√d_q"], demo_weights):
            print(f"largest weight per row, {label:12s}:", w.max(dim=-1).values.numpy().round(3))
        """),
        md("""
        ## 5. Your turn: `scaled_scores`

        $$\\text{scaled\\_scores}(Q, K) = \\frac{Q K^\\top}{\\sqrt{d_k}}: (\\dots, n_q, n_k),
        \\qquad Q: (\\dots, n_q, d_k),\\; K: (\\dots, n_k, d_k),$$

        where `d_k` is the size of the **last** axis of `K` (the feature width, not the
        number of keys). The contract is the one from notebook 01: any number of leading
        batch axes; numpy in, numpy out; torch in, torch out (and still differentiable);
        float32 stays float32; the inputs are never modified.

        One trap with float32: `np.sqrt(d_k)` is a float64 *numpy scalar*, and under NumPy 2
        a float32 array divided by it becomes float64. `math.sqrt(d_k)` is a plain Python
        float, which adapts to the array's dtype, so float32 stays float32.
        """),
        solution('''
        def scaled_scores(Q, K):
            \"\"\"Attention scores scaled by the square root of the key width.

            Args:
                Q: (..., n_q, d_k) queries (numpy array or torch tensor).
                K: (..., n_k, d_k) keys, same leading axes as Q.

            Returns:
                (..., n_q, n_k) scores Q K^T / sqrt(d_k), d_k = K.shape[-1], of the same
                type and dtype as Q (float32 stays float32). On torch input the scores stay
                differentiable (autograd reaches Q and K). Q and K are not modified.
            \"\"\"
            ### BEGIN SOLUTION
            d_k = K.shape[-1]
            # math.sqrt gives a Python float, which keeps float32 as float32; np.sqrt(d_k)
            # is a float64 numpy scalar and would turn float32 scores into float64
            return Q @ K.swapaxes(-1, -2) / math.sqrt(d_k)
            ### END SOLUTION
        ''', "scaled_scores"),
        code("""
        check_scaled_scores(scaled_scores)
        """),
        tests('''
        import warnings
        import math
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        rng = np.random.default_rng(12)
        Q_test, K_test = rng.standard_normal((3, 5)), rng.standard_normal((7, 5))
        S_test = scaled_scores(Q_test.copy(), K_test.copy())
        assert np.shape(S_test) == (3, 7), f"scores should be (n_q, n_k) = (3, 7) for Q (3, 5) and K (7, 5); got {np.shape(S_test)}"
        ### BEGIN HIDDEN TESTS
        import torch.nn.functional as F

        # property: entry [i, j] is the dot product of query i with key j, divided by sqrt(d_k)
        expected = torch.matmul(torch.as_tensor(Q_test), torch.as_tensor(K_test).mT) / math.sqrt(5)
        # (rtol 1e-5 grades the formula, not float64 precision: the dtype has its own cell)
        torch.testing.assert_close(torch.as_tensor(np.asarray(S_test, dtype=np.float64)), expected, rtol=1e-5, atol=1e-5,
                                   msg="scores should be Q K^T divided by sqrt(d_k), d_k = 5")
        # softmax(scaled_scores) V is exactly what torch's scaled_dot_product_attention computes
        V_test = torch.as_tensor(rng.standard_normal((7, 6)))
        ours = torch.softmax(torch.as_tensor(np.asarray(S_test, dtype=np.float64)), dim=-1) @ V_test
        reference = F.scaled_dot_product_attention(torch.as_tensor(Q_test)[None], torch.as_tensor(K_test)[None], V_test[None])[0]
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5,
                                   msg="softmax(scores) V differs from torch's scaled_dot_product_attention")

        # property: shape is (n_q, n_k): one row per query, one column per key
        Qw, Kw = rng.standard_normal((1, 100)) * 1e3, rng.standard_normal((4, 100)) * 1e3
        Sw = scaled_scores(Qw.copy(), Kw.copy())
        assert np.shape(Sw) == (1, 4), f"one query and 4 keys should give shape (1, 4); got {np.shape(Sw)}"
        # property: entry [i, j] is the dot product of query i with key j, divided by sqrt(d_k)
        # (scores around 1e6: compared in units of 1e6, so float32 rounding is not graded here)
        np.testing.assert_allclose(np.asarray(Sw, dtype=np.float64) / 1e6, (Qw @ Kw.T) / 10.0 / 1e6, rtol=1e-5, atol=1e-5,
                                   err_msg="scores are wrong for d_k = 100 and large values")

        # property: scores of random unit-variance queries and keys have variance close to 1, whatever d_k is
        Qv, Kv = rng.standard_normal((300, 512)), rng.standard_normal((300, 512))
        var = float(np.asarray(scaled_scores(Qv, Kv), dtype=np.float64).var())
        assert 0.85 < var < 1.15, f"scores of unit-variance inputs with d_k = 512 should have variance close to 1; got {var:.4f}"
        ### END HIDDEN TESTS
        ''', "test_scaled_scores", points=2),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        gen = torch.Generator().manual_seed(4)
        Qb, Kb = torch.randn(2, 4, 3, 8, generator=gen), torch.randn(2, 4, 6, 8, generator=gen)
        Sb = scaled_scores(Qb.clone(), Kb.clone())
        assert tuple(Sb.shape[:2]) == (2, 4), f"the leading (batch, heads) axes (2, 4) of Q and K should be kept; got scores of shape {tuple(Sb.shape)}"
        ### BEGIN HIDDEN TESTS
        # property: works with leading batch dimensions (batch, heads, n, d_k)
        # each (batch, head) slice must equal your own function on that slice alone, so this
        # cell grades the batching only (the values are graded in test_scaled_scores)
        for b in range(2):
            for h in range(4):
                torch.testing.assert_close(torch.as_tensor(Sb[b, h]).double(), torch.as_tensor(scaled_scores(Qb[b, h], Kb[b, h])).double(),
                                           rtol=1e-5, atol=1e-5,
                                           msg=f"slice [{b}, {h}] of the batched scores differs from scoring that slice on its own")
        rng = np.random.default_rng(21)
        Qn, Kn = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 9, 3))
        Sn = scaled_scores(Qn.copy(), Kn.copy())
        assert np.shape(Sn)[:1] == (5,), f"the leading batch axis (5) of Q and K should be kept; got scores of shape {np.shape(Sn)}"
        for b in range(5):
            np.testing.assert_allclose(np.asarray(Sn[b], dtype=np.float64), np.asarray(scaled_scores(Qn[b], Kn[b]), dtype=np.float64),
                                       rtol=1e-10, atol=1e-12, err_msg=f"numpy batch {b} differs from scoring it on its own")
        ### END HIDDEN TESTS
        ''', "test_scaled_scores_batch", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        gen = torch.Generator().manual_seed(5)
        Qt, Kt = torch.randn(3, 8, generator=gen), torch.randn(6, 8, generator=gen)
        St = scaled_scores(Qt, Kt)
        assert isinstance(St, torch.Tensor), f"torch input should give torch output; got {type(St).__name__}"
        ### BEGIN HIDDEN TESTS
        # property: torch in, torch out; numpy in, numpy out; float32 stays float32
        assert St.dtype == torch.float32, f"float32 tensors should give float32 scores; got {St.dtype}"
        rng = np.random.default_rng(22)
        Qn, Kn = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
        Sn = scaled_scores(Qn, Kn)
        assert isinstance(Sn, np.ndarray), f"numpy input should give numpy output; got {type(Sn).__name__}"
        assert Sn.dtype == np.float32, f"float32 numpy input should give float32 scores; got {Sn.dtype}"
        S64 = scaled_scores(Qn.astype(np.float64), Kn.astype(np.float64))
        assert isinstance(S64, np.ndarray) and S64.dtype == np.float64, (
            f"float64 numpy input should give float64 numpy scores; got {type(S64).__name__} {getattr(S64, 'dtype', '')}")
        ### END HIDDEN TESTS
        ''', "test_scaled_scores_types", points=1),
        tests('''
        import warnings
        import numpy as np
        import torch
        warnings.simplefilter("ignore")   # not graded (COURSE_SPEC 3.1), and nbgrader scores a cell that prints a warning (stderr) as 0

        rng = np.random.default_rng(23)
        Qn, Kn = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
        Qn0, Kn0 = Qn.copy(), Kn.copy()
        scaled_scores(Qn, Kn)
        assert np.array_equal(Qn, Qn0) and np.array_equal(Kn, Kn0), "scaled_scores modified its numpy inputs"
        ### BEGIN HIDDEN TESTS
        # property: leaves Q and K unchanged
        gen = torch.Generator().manual_seed(6)
        Qb, Kb = torch.randn(3, 4, generator=gen), torch.randn(5, 4, generator=gen)
        Q0, K0 = Qb.clone(), Kb.clone()
        scaled_scores(Qb, Kb)
        assert torch.equal(Qb, Q0) and torch.equal(Kb, K0), "scaled_scores modified its torch inputs"
        Q32, K32 = Qn.astype(np.float32), Kn.astype(np.float32)
        Q32_0, K32_0 = Q32.copy(), K32.copy()
        scaled_scores(Q32, K32)
        assert np.array_equal(Q32, Q32_0) and np.array_equal(K32, K32_0), "scaled_scores modified its float32 inputs"

        # property: torch input stays differentiable: gradients flow back to Q and K
        # the scores are bilinear in Q and K, so the gradient must predict exactly how the sum of
        # your own scores changes when Q or K moves (this grades autograd, not the values)
        Qg = Qb.double().requires_grad_(True)
        Kg = Kb.double().requires_grad_(True)
        out = scaled_scores(Qg, Kg)
        assert isinstance(out, torch.Tensor) and out.requires_grad, "scores of tensors that require grad should require grad"
        out.sum().backward()
        assert Qg.grad is not None and Kg.grad is not None, "no gradient reached Q or K"
        dQ, dK = torch.randn(3, 4, generator=gen, dtype=torch.float64), torch.randn(5, 4, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            base = scaled_scores(Qb.double(), Kb.double()).sum()
            moved_k = scaled_scores(Qb.double(), Kb.double() + dK).sum() - base
            moved_q = scaled_scores(Qb.double() + dQ, Kb.double()).sum() - base
        # (check_dtype=False: the dtype is graded in test_scaled_scores_types)
        torch.testing.assert_close((Kg.grad * dK).sum(), moved_k, rtol=1e-5, atol=1e-5, check_dtype=False,
                                   msg="the gradient with respect to K does not match how the scores change with K")
        torch.testing.assert_close((Qg.grad * dQ).sum(), moved_q, rtol=1e-5, atol=1e-5, check_dtype=False,
                                   msg="the gradient with respect to Q does not match how the scores change with Q")
        ### END HIDDEN TESTS
        ''', "test_scaled_scores_inputs", points=1),
        md("""
        **What just happened.** Your scores, pushed through a softmax and multiplied by `V`,
        are what `torch.nn.functional.scaled_dot_product_attention` computes: its default
        scale is exactly `1/√d_k`, with `d_k` the last axis of the queries and keys.
        """),
        code("""
        gen = torch.Generator().manual_seed(2)
        Q_t, K_t, V_t = (torch.randn(2, 5, 16, generator=gen) for _ in range(3))
        by_hand = torch.softmax(scaled_scores(Q_t, K_t), dim=-1) @ V_t
        by_torch = torch.nn.functional.scaled_dot_product_attention(Q_t, K_t, V_t)
        print("same as torch's scaled_dot_product_attention:", torch.allclose(by_hand, by_torch, atol=1e-6))
        """),
        md("""
        ## 6. In your own words (manually graded, 2 points)

        Dividing by `d_k` (which is what `√d_k · √d_q` amounts to) also removes the growth
        of the scores with `d_k`. **Why does it still hurt?** Answer in three to five
        sentences in the cell below, using what you measured in this notebook: what
        happens to the variance of the scores, to the attention weights and their entropy,
        and to what the model can learn, as `d_k` grows.
        """),
        written_answer("""
        Dividing by `d_k` over-corrects: the variance of the scores becomes
        `d_k / d_k² = 1/d_k`, so for a wide model every score is close to 0. The softmax of
        nearly equal scores is nearly uniform: the largest weight approaches `1/n_k` and the
        entropy approaches its maximum `log n_k`, as measured in section 4. The weights then
        hardly depend on the queries and keys, so attention averages the values instead of
        selecting some, and the gradient that reaches `W_q` and `W_k` is scaled down by the
        extra `1/√d_k` as well, slowing learning. Only `√d_k`, the standard deviation of
        `q · k`, keeps the scores at unit variance for every width.
        """, "why_not_divide_by_d_k", points=2),
        md("""
        ### Try it (not graded)

        Change `n_keys` (say 2 or 64) or `d_k` and predict first: does scaling by `√d_k`
        keep the largest weight the same when the number of keys changes? (It should not:
        `√d_k` fixes the spread of the scores, not the number of keys competing.)
        """),
        code("""
        n_keys, d_k = 64, 256
        lines = []
        for label, denominator in [("no scaling", 1.0), ("÷ √d_k", math.sqrt(d_k)), ("÷ d_k", float(d_k))]:
            max_weight, entropy, grad = softmax_stats(d_k, denominator, n_keys=n_keys)
            lines.append(f"{label:11s} max weight {max_weight:.3f}  entropy {entropy:.3f} (max {math.log(n_keys):.3f})")
        print("\\n".join(lines))
        """),
        md("""
        ## Summary

        - For queries and keys with unit-variance entries, `Var(q · k) = d_k`: the scores
          spread out like `√d_k`.
        - Large scores saturate the softmax: most rows of weights become nearly one-hot and
          the gradients vanish. Dividing by `√d_k` keeps the scores at unit variance for every width.
        - Dividing by `√d_k · √d_q = d_k` over-corrects: variance `1/d_k`, near-uniform
          weights, entropy near `log n_k`.
        - `scaled_scores(Q, K) = Q Kᵀ / √d_k` is the first half of
          `scaled_dot_product_attention`; notebook 03 builds the softmax and the masks.

        ## Going further

        - Vaswani et al., *Attention Is All You Need* (2017), section 3.2.1 and its
          footnote on the variance of `q · k`: <https://arxiv.org/abs/1706.03762>
        - PyTorch: [`torch.nn.functional.scaled_dot_product_attention`](https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
          (see its `scale` argument).
        - Dive into Deep Learning, "Attention Scoring Functions":
          <https://d2l.ai/chapter_attention-mechanisms-and-transformers/attention-scoring-functions.html>
        """),
    ]


def build(path: Path = PATH) -> Path:
    return write(notebook(cells()), path)


if __name__ == "__main__":
    print(build())
