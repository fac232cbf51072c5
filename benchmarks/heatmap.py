"""Heatmap rendering: helpers.show_attention against a bare matplotlib imshow.

Both draw an (n, n) matrix into a fresh figure and save it as PNG to memory; the ratio
show_attention / imshow says what the helper's labels, masking and colour bar cost.
Target: <= 1.2x at 512x512 (where annotations are off and drawing dominates).
"""
from __future__ import annotations

import io

import numpy as np

TARGET_RATIO_AT_512 = 1.2


def _softmax_rows(n: int) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((n, n))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run(sizes=(16, 128, 512), repeats: int = 7) -> list[dict]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import show_attention
    from .timing import interleaved_medians

    rows = []
    for n in sizes:
        weights = _softmax_rows(n)

        def bare():
            fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
            ax.imshow(weights, cmap="viridis", vmin=0.0)
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)

        def helper():
            fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
            show_attention(weights, ax=ax)
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)

        def helper_no_colorbar():  # to see what the colour bar alone costs
            fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
            show_attention(weights, ax=ax, colorbar=False)
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)

        t = interleaved_medians({"imshow": bare, "show_attention": helper,
                                 "no_colorbar": helper_no_colorbar}, repeats)
        rows.append({"benchmark": "heatmap", "n": n,
                     "imshow_s": t["imshow"], "show_attention_s": t["show_attention"],
                     "ratio": t["show_attention"] / t["imshow"],
                     "ratio_without_colorbar": t["no_colorbar"] / t["imshow"],
                     "target": f"<= {TARGET_RATIO_AT_512}x" if n == 512 else None})
    return rows
