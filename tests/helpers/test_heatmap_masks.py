"""helpers.heatmap.show_attention with masks (True = may attend): masked cells are drawn
distinctly (grey, hatched), carry no annotation and do not count towards the colour scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection

from helpers import show_attention

from ._inputs import causal, random_weights


def heatmap_data(ax: Axes) -> np.ma.MaskedArray:
    return np.ma.asarray(ax.images[0].get_array())


def test_masked_cells_are_masked_in_the_image_and_not_annotated():
    mask = causal(4)
    ax = show_attention(random_weights(4, 4, mask=mask), mask=mask)
    np.testing.assert_array_equal(np.ma.getmaskarray(heatmap_data(ax)), ~mask)
    assert len(ax.texts) == mask.sum()


def test_masked_cells_are_excluded_from_the_colour_scale():
    w = np.array([[0.3, 0.7], [0.4, 9.0]])
    mask = np.array([[True, True], [True, False]])
    assert show_attention(w, mask=mask).images[0].norm.vmax == 0.7


def test_masked_cells_get_a_hatched_overlay_covering_exactly_them():
    mask = causal(5)
    ax = show_attention(random_weights(5, 5, mask=mask), mask=mask)
    overlays = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert len(overlays) == 1 and overlays[0].get_hatch()
    covered = np.zeros((5, 5), dtype=bool)
    for path in overlays[0].get_paths():
        (x0, y0), (x1, y1) = path.get_extents().get_points()
        covered[round(y0 + 0.5):round(y1 + 0.5), round(x0 + 0.5):round(x1 + 0.5)] = True
    np.testing.assert_array_equal(covered, ~mask)


def cell_colour(ax: Axes, row: int, col: int) -> np.ndarray:
    """Mean RGB (0-1) of the middle of one rendered cell."""
    fig = ax.figure
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    x, y = ax.transData.transform((col, row))
    r, c = int(round(pixels.shape[0] - y)), int(round(x))
    return pixels[r - 6:r + 7, c - 6:c + 7].reshape(-1, 3).mean(axis=0)


def test_masked_cells_look_unlike_any_colour_of_the_colour_map():
    mask = causal(3)
    ax = show_attention(random_weights(3, 3, mask=mask), mask=mask, annotate=False)
    masked = cell_colour(ax, 0, 2)
    viridis = colormaps["viridis"](np.linspace(0, 1, 256))[:, :3]
    assert np.abs(masked - masked.mean()).max() < 0.05, f"masked cell should be grey: {masked}"
    assert np.linalg.norm(viridis - masked, axis=1).min() > 0.2
    # while an unmasked cell shows its colour-map colour
    w00 = heatmap_data(ax)[0, 0]
    expected = colormaps["viridis"](ax.images[0].norm(w00))[:3]
    np.testing.assert_allclose(cell_colour(ax, 0, 0), expected, atol=0.02)


def test_a_padding_mask_broadcasts_over_the_queries():
    keep = np.array([[True, True, False]])  # last key is padding
    ax = show_attention(random_weights(3, 3, mask=np.broadcast_to(keep, (3, 3))), mask=keep)
    np.testing.assert_array_equal(np.ma.getmaskarray(heatmap_data(ax)),
                                  np.broadcast_to(~keep, (3, 3)))


def test_a_torch_bool_mask_and_a_0_1_mask_work():
    mask = causal(3)
    for m in (torch.tensor(mask), mask.astype(int)):
        ax = show_attention(random_weights(3, 3, mask=mask), mask=m)
        np.testing.assert_array_equal(np.ma.getmaskarray(heatmap_data(ax)), ~mask)


def test_check_rows_accepts_all_zero_rows_only_where_everything_is_masked():
    mask = np.array([[True, True], [False, False]])
    w = np.array([[0.25, 0.75], [0.0, 0.0]])
    show_attention(w, mask=mask, check_rows=True)  # no error
    with pytest.raises(ValueError, match=r"row \(1,\) sums to 0"):
        show_attention(w, check_rows=True)


def test_check_rows_tolerates_float32_rounding():
    w = torch.softmax(torch.randn(6, 50, generator=torch.Generator().manual_seed(0)), -1)
    show_attention(w, check_rows=True)
