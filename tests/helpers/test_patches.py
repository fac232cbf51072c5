"""helpers.patches.show_patch_attention: per-patch weights overlaid on an image.

The baseline image is regenerated like the heatmap ones (see test_heatmap_baselines.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from helpers import show_patch_attention
from helpers.data import sample_image

IMAGE = np.random.default_rng(0).random((48, 64, 3))  # 3 x 4 patches of 16 px
GRID = np.random.default_rng(1).random((3, 4))


def overlay(ax: Axes) -> np.ndarray:
    return np.asarray(ax.images[1].get_array())


def query_outlines(ax: Axes) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]


def test_draws_the_image_then_the_weights_grid_over_the_patches():
    ax = show_patch_attention(IMAGE, GRID, 16)
    assert len(ax.images) == 2
    np.testing.assert_allclose(ax.images[0].get_array(), IMAGE)
    np.testing.assert_array_equal(overlay(ax), GRID)
    assert ax.images[1].get_extent() == [-0.5, 63.5, 47.5, -0.5]
    assert ax.images[1].get_alpha() == 0.6
    assert len(ax.figure.axes) == 2, "image + colorbar"


def test_flat_weights_are_patches_in_row_major_order():
    flat = show_patch_attention(IMAGE, GRID.ravel(), 16)
    np.testing.assert_array_equal(overlay(flat), GRID)


def test_pixels_beyond_the_last_whole_patch_get_no_overlay():
    image = np.random.default_rng(2).random((50, 70, 3))  # 3 x 4 whole 16 px patches
    ax = show_patch_attention(image, GRID, 16)
    assert ax.images[1].get_extent() == [-0.5, 63.5, 47.5, -0.5]
    assert (ax.get_xlim(), ax.get_ylim()) == ((-0.5, 69.5), (49.5, -0.5))


@pytest.mark.parametrize("query", [6, (1, 2), [1, 2], np.int64(6)])
def test_the_query_patch_is_outlined_in_red(query):
    ax = show_patch_attention(IMAGE, GRID, 16, query_patch=query)
    (outline,) = query_outlines(ax)
    assert outline.get_xy() == (2 * 16 - 0.5, 1 * 16 - 0.5)
    assert (outline.get_width(), outline.get_height()) == (16, 16)
    assert outline.get_edgecolor() == to_rgba("red")
    assert ax.get_title() == "attention from the query patch (row 1, col 2)"


def test_no_query_means_no_outline_and_no_default_title():
    ax = show_patch_attention(IMAGE, GRID, 16)
    assert not query_outlines(ax) and ax.get_title() == ""


def test_options_title_alpha_cmap_and_a_given_axes():
    import matplotlib.pyplot as plt

    _, given = plt.subplots()
    ax = show_patch_attention(IMAGE, GRID, 16, 0, ax=given, alpha=0.3, cmap="magma",
                              title="CLS attention")
    assert ax is given and ax.get_title() == "CLS attention"
    assert ax.images[1].get_alpha() == 0.3
    assert ax.images[1].get_cmap().name == "magma"


def test_colour_scale_runs_from_zero_to_the_largest_weight():
    norm = show_patch_attention(IMAGE, GRID, 16).images[1].norm
    assert (norm.vmin, norm.vmax) == (0.0, GRID.max())


def test_grey_uint8_and_torch_images_are_accepted():
    grey = show_patch_attention(IMAGE[..., 0], GRID, 16)
    assert grey.images[0].get_array().ndim == 2
    as_uint8 = (IMAGE * 255).round().astype(np.uint8)
    ax = show_patch_attention(as_uint8, GRID, 16)
    np.testing.assert_allclose(ax.images[0].get_array(), as_uint8 / 255.0)
    ax = show_patch_attention(torch.tensor(IMAGE), torch.tensor(GRID, requires_grad=True), 16)
    np.testing.assert_allclose(overlay(ax), GRID)


def test_a_normalised_image_is_rescaled_for_display():
    normalised = (IMAGE - 0.5) / 0.25
    shown = show_patch_attention(normalised, GRID, 16).images[0].get_array()
    assert shown.min() == 0.0 and shown.max() == 1.0
    np.testing.assert_allclose(shown, (IMAGE - IMAGE.min()) / np.ptp(IMAGE))


def test_inputs_are_not_modified():
    image, grid = IMAGE.copy(), GRID.copy()
    show_patch_attention(image, grid, 16, 3)
    np.testing.assert_array_equal(image, IMAGE)
    np.testing.assert_array_equal(grid, GRID)


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("weights, message", [
    (np.ones(13), r"weights must be a \(3, 4\) grid or 12 flat values, one per 16x16 patch "
                  r"of an image of shape \(48, 64, 3\); got 13 values \(is the first one a "
                  r"\[CLS\] token\? drop it with weights\[1:\]\)"),
    (np.ones(10), r"got 10 values$"),
    (np.ones((4, 3)), r"\(3, 4\) grid .*; got shape \(4, 3\)"),
    (np.ones((1, 3, 4)), r"\(3, 4\) grid .*; got shape \(1, 3, 4\)"),
    (-GRID, "non-negative"),
    (np.full((3, 4), np.nan), "finite"),
    ([["a"] * 4] * 3, "must contain numbers"),
])
def test_weights_that_do_not_fit_the_patches_are_refused(weights, message):
    with pytest.raises((ValueError, TypeError), match=message):
        show_patch_attention(IMAGE, weights, 16)


@pytest.mark.parametrize("image, message", [
    (np.zeros((3, 48, 64)), r"channels-last \(H, W, 3\); got shape \(3, 48, 64\), which "
                            r"looks channels-first: use image.permute\(1, 2, 0\)"),
    (np.zeros((48, 64, 5)), r"\(H, W, 3\) RGB, \(H, W, 4\) RGBA or \(H, W\) grey; got "
                            r"shape \(48, 64, 5\)"),
    (np.zeros(48), r"got shape \(48,\)"),
    (np.full((48, 64), np.nan), "image must be finite"),
])
def test_malformed_images_are_refused(image, message):
    with pytest.raises(ValueError, match=message):
        show_patch_attention(image, GRID, 16)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"patch_size": 0}, ValueError, r"between 1 and the image's shorter side \(48 .*got 0"),
    ({"patch_size": 49}, ValueError, "got 49"),
    ({"patch_size": 16.0}, TypeError, "patch_size must be an int .*got float 16.0"),
    ({"query_patch": 12}, ValueError, r"flat index in \[0, 12\) for a 3 x 4 patch grid; "
                                      r"got 12"),
    ({"query_patch": (3, 0)}, ValueError, r"lie in the 3 x 4 patch grid; got \(3, 0\)"),
    ({"query_patch": "5"}, TypeError, r"a flat patch index \(int\) or a \(row, col\) pair"),
    ({"query_patch": True}, TypeError, "got True"),
    ({"alpha": 1.5}, ValueError, "alpha must be between 0 and 1; got 1.5"),
])
def test_bad_options_are_refused(kwargs, error, message):
    args = {"patch_size": 16, **kwargs}
    with pytest.raises(error, match=message):
        show_patch_attention(IMAGE, GRID, **args)


def test_baseline_patch_attention_on_the_sample_image(match_baseline):
    image = sample_image()[::4, ::4]  # (150, 128, 3): 9 x 8 patches of 16 px
    rows, cols = np.mgrid[0:9, 0:8]
    # a query at (3, 4) attending mostly to its neighbours
    scores = -((rows - 3) ** 2 + (cols - 4) ** 2) / 4.0
    weights = np.exp(scores) / np.exp(scores).sum()
    ax = show_patch_attention(image, weights.ravel(), 16, query_patch=(3, 4))
    match_baseline(ax.figure, "patch_attention")
