"""helpers.heatmap.show_heads: a titled grid of heads (and layers) on ONE colour scale."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from helpers import show_heads
from helpers.data import TOKENS

from ._inputs import causal, random_weights


def panels(fig: Figure) -> list:
    """The visible Axes holding a heatmap, in drawing order."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


def colorbars(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and not ax.images]


def grid_position(ax) -> tuple[int, int]:
    spec = ax.get_subplotspec()
    return spec.rowspan.start, spec.colspan.start


def test_three_d_weights_give_one_titled_panel_per_head():
    w = random_weights(3, 4, 5)
    fig = show_heads(w, list("abcd"), list("vwxyz"))
    assert isinstance(fig, Figure)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["head 0", "head 1", "head 2"]
    for h, ax in enumerate(axes):
        np.testing.assert_array_equal(np.ma.asarray(ax.images[0].get_array()), w[h])


def test_four_d_weights_give_one_row_per_layer():
    w = random_weights(2, 3, 4, 4)
    fig = show_heads(w)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == [
        f"layer {l}, head {h}" for l in range(2) for h in range(3)]
    assert [grid_position(ax) for ax in axes] == [(l, h) for l in range(2) for h in range(3)]
    np.testing.assert_array_equal(np.ma.asarray(axes[4].images[0].get_array()), w[1, 1])


def test_all_panels_share_one_colour_scale_and_one_colorbar():
    w = random_weights(4, 3, 3)
    w[2] *= 0.5  # head 2's own maximum is lower than the others'
    fig = show_heads(w)
    norms = {(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in panels(fig)}
    assert norms == {(0.0, w.max())}
    assert len(colorbars(fig)) == 1
    assert colorbars(fig)[0].get_ylabel() == "attention weight"


def test_masked_cells_do_not_set_the_shared_scale():
    mask = causal(3)
    w = random_weights(2, 3, 3, mask=mask)
    w[:, 0, 2] = 5.0  # large, but masked
    fig = show_heads(w, mask=mask)
    assert {ax.images[0].norm.vmax for ax in panels(fig)} == {w[:, mask].max()}
    for ax in panels(fig):
        np.testing.assert_array_equal(np.ma.getmaskarray(ax.images[0].get_array()), ~mask)


def test_a_mask_per_head_is_applied_to_its_own_panel():
    mask = np.stack([causal(3), np.ones((3, 3), dtype=bool)])
    fig = show_heads(random_weights(2, 3, 3), mask=mask)
    masks = [np.ma.getmaskarray(ax.images[0].get_array()) for ax in panels(fig)]
    np.testing.assert_array_equal(masks[0], ~causal(3))
    assert not masks[1].any()


def test_default_layout_is_at_most_four_panels_per_row():
    fig = show_heads(random_weights(6, 3, 3))
    assert [grid_position(ax) for ax in panels(fig)] == [
        (0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    assert len(panels(fig)) == 6  # the two unused grid cells are hidden


def test_ncols_sets_panels_per_row():
    fig = show_heads(random_weights(5, 3, 3), ncols=2)
    assert [grid_position(ax) for ax in panels(fig)] == [
        (0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]


def test_tokens_label_the_left_column_and_the_bottom_panels():
    fig = show_heads(random_weights(3, 3, 3), TOKENS, TOKENS, ncols=2)
    by_pos = {grid_position(ax): ax for ax in panels(fig)}
    def shown(labels):
        return [t.get_text() for t in labels if t.get_text()]

    texts = {pos: (shown(ax.get_yticklabels()), shown(ax.get_xticklabels()))
             for pos, ax in by_pos.items()}
    assert texts[(0, 0)] == (list(TOKENS), [])          # left column, a panel below
    assert texts[(0, 1)] == ([], list(TOKENS))          # nothing below it: keys shown
    assert texts[(1, 0)] == (list(TOKENS), list(TOKENS))
    assert by_pos[(1, 0)].get_xlabel() == "keys" and by_pos[(0, 1)].get_ylabel() == ""


def test_custom_titles_and_suptitle():
    fig = show_heads(random_weights(2, 3, 3), titles=["syntax", "position"],
                     suptitle="two heads, one colour scale")
    assert [ax.get_title() for ax in panels(fig)] == ["syntax", "position"]
    assert fig.get_suptitle() == "two heads, one colour scale"


@pytest.mark.parametrize("side, annotated", [(8, True), (9, False)])
def test_annotate_none_labels_cells_of_small_panels_only(side, annotated):
    fig = show_heads(random_weights(2, side, side))
    counts = [len(ax.texts) for ax in panels(fig)]
    assert counts == ([side * side] * 2 if annotated else [0, 0])


def test_annotate_none_leaves_large_grids_unannotated():
    # 16 panels of 8 x 8 = 1024 cells: too many numbers to read
    assert not any(ax.texts for ax in panels(show_heads(random_weights(16, 8, 8))))
    assert all(ax.texts for ax in panels(show_heads(random_weights(12, 8, 8))))


def test_annotate_can_be_forced():
    fig = show_heads(random_weights(2, 9, 9), annotate=True)
    assert [len(ax.texts) for ax in panels(fig)] == [81, 81]
    assert not any(ax.texts for ax in panels(show_heads(random_weights(2, 2, 2),
                                                         annotate=False)))


def test_accepts_torch_tensors_with_grad_and_nested_lists():
    w = random_weights(2, 3, 3)
    t = torch.tensor(w, requires_grad=True)
    for given in (t * 1.0, w.tolist()):
        axes = panels(show_heads(given))
        np.testing.assert_allclose(np.ma.asarray(axes[1].images[0].get_array()), w[1])


def test_panel_size_is_fixed_so_grids_grow_predictably():
    one_row = show_heads(random_weights(4, 3, 3)).get_size_inches()
    two_rows = show_heads(random_weights(8, 20, 20)).get_size_inches()
    assert one_row[0] == two_rows[0] and two_rows[1] > one_row[1]


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape, hint", [
    ((3, 3), "for one 2-D (n_queries, n_keys) matrix use show_attention"),
    ((2, 2, 2, 2, 2), ""),
    ((4,), ""),
])
def test_wrong_ndim_says_expected_and_given_shape(shape, hint):
    expected = ("weights must be 3-D (heads, n_queries, n_keys) or 4-D (layers, heads, "
                f"n_queries, n_keys); got shape {shape}")
    with pytest.raises(ValueError, match=re.escape(expected)) as err:
        show_heads(np.full(shape, 0.5))
    assert hint in str(err.value)
    if not hint:
        assert str(err.value) == expected, "no tip that does not apply"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"queries": ["a"]}, ValueError, "queries has 1 labels but the weights have 3 rows"),
    ({"keys": list("abcd")}, ValueError, "keys has 4 labels but the weights have 3 columns"),
    ({"titles": ["one"]}, ValueError, r"one entry per panel \(2\); got 1"),
    ({"titles": "one"}, TypeError, "single string 'one' .*suptitle"),
    ({"mask": np.ones((4, 3, 3), dtype=bool)}, ValueError,
     r"broadcasts to the weights' shape \(2, 3, 3\); got shape \(4, 3, 3\)"),
    ({"ncols": 0}, ValueError, "ncols must be a positive int; got 0"),
    ({"ncols": 1.5}, ValueError, "ncols must be a positive int; got 1.5"),
    ({"annotate": "auto"}, TypeError, "annotate must be True, False or None"),
])
def test_bad_arguments_name_what_was_expected(kwargs, error, message):
    with pytest.raises(error, match=message):
        show_heads(random_weights(2, 3, 3), **kwargs)


def test_ncols_is_refused_for_layers_by_heads():
    with pytest.raises(ValueError, match=r"ncols applies to 3-D weights only; 4-D weights "
                                         r"of shape \(2, 2, 3, 3\) are drawn as 2 layers x "
                                         r"2 heads; got ncols=3"):
        show_heads(random_weights(2, 2, 3, 3), ncols=3)


def test_nan_and_negative_weights_are_refused_with_their_index():
    w = random_weights(2, 3, 3)
    w[1, 0, 2] = np.nan
    with pytest.raises(ValueError, match=r"finite; .*at index \(1, 0, 2\)"):
        show_heads(w)
    w[1, 0, 2] = -1.0
    with pytest.raises(ValueError, match=r"non-negative .*at index \(1, 0, 2\)"):
        show_heads(w)
