"""Pixel comparison of the helpers' figures against committed PNG baselines.

Each test draws one figure under a pinned style (matplotlib 'default', DejaVu Sans, no
hinting, Agg) and compares it with ``tests/helpers/baseline/<name>.png`` using
``matplotlib.testing.compare.compare_images`` (RMS tolerance in conftest.TOLERANCE).

To regenerate after an intended change of appearance::

    HELPERS_REGENERATE_BASELINES=1 .venv/bin/python -m pytest -o addopts="" \
        tests/helpers/test_heatmap_baselines.py tests/helpers/test_patches.py -k baseline

and then open every PNG in tests/helpers/baseline/ and look at it before committing.
"""
from __future__ import annotations

import numpy as np

from helpers import show_attention, show_heads
from helpers.data import TOKENS

from ._inputs import causal, random_weights


def test_baseline_sentence_annotated(match_baseline):
    ax = show_attention(random_weights(3, 3, seed=1), TOKENS, TOKENS,
                        title="weights sum to 1 across each row")
    match_baseline(ax.figure, "sentence_annotated")


def test_baseline_causal_mask_hatched(match_baseline):
    tokens = "the cat sat on the mat".split()
    mask = causal(6)
    ax = show_attention(random_weights(6, 6, seed=2, mask=mask), tokens, tokens, mask=mask,
                        title="causal self-attention")
    match_baseline(ax.figure, "causal_mask_hatched")


def test_baseline_long_sequence_unannotated(match_baseline):
    tokens = [f"tok{i}" for i in range(48)]
    ax = show_attention(random_weights(48, 48, seed=3), tokens, tokens,
                        title="48 tokens: every 2nd label")
    match_baseline(ax.figure, "long_sequence")


def test_baseline_heads_grid_with_padding_mask(match_baseline):
    keep = np.array([True, True, True, True, False])  # last key is padding
    tokens = ["<s>", "a", "b", "c", "<pad>"]
    w = random_weights(6, 5, 5, seed=4, mask=np.broadcast_to(keep, (5, 5)))
    fig = show_heads(w, tokens, tokens, mask=keep, suptitle="6 heads, one colour scale")
    match_baseline(fig, "heads_padding_mask")


def test_baseline_layers_by_heads(match_baseline):
    fig = show_heads(random_weights(2, 3, 4, 4, seed=5), list("wxyz"), list("wxyz"),
                     suptitle="layer x head")
    match_baseline(fig, "layers_by_heads")
