"""helpers.heatmap.show_attention: what it draws, what it accepts, how it refuses bad input.

Figure appearance is pinned by PNG baselines in test_heatmap_baselines.py; this module
checks behaviour through matplotlib's objects (image data, norms, tick labels, texts).
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes

from helpers import show_attention
from helpers.data import TOKENS

from ._inputs import causal, random_weights

W3 = random_weights(3, 3)


def tick_texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


def heatmap_data(ax: Axes) -> np.ma.MaskedArray:
    return np.ma.asarray(ax.images[0].get_array())


# --- what is drawn ---------------------------------------------------------------------
def test_rows_are_queries_and_columns_are_keys():
    w = random_weights(2, 5)
    ax = show_attention(w, ["q0", "q1"], list("abcde"))
    np.testing.assert_array_equal(heatmap_data(ax), w)
    assert tick_texts(ax.get_yticklabels()) == ["q0", "q1"]
    assert tick_texts(ax.get_xticklabels()) == list("abcde")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("keys", "queries")


def test_returns_the_axes_and_draws_into_a_given_one():
    fig, given = plt.subplots()
    ax = show_attention(W3, ax=given)
    assert ax is given and len(given.images) == 1


def test_without_labels_ticks_are_indices():
    ax = show_attention(random_weights(2, 4))
    assert tick_texts(ax.get_xticklabels()) == ["0", "1", "2", "3"]
    assert tick_texts(ax.get_yticklabels()) == ["0", "1"]


def test_long_key_labels_are_rotated_short_ones_are_not():
    ax = show_attention(W3, TOKENS, TOKENS)
    assert all(t.get_rotation() == 45 for t in ax.get_xticklabels())
    many = [f"tok{i}" for i in range(20)]
    ax = show_attention(random_weights(2, 20), keys=many)
    assert all(t.get_rotation() == 90 for t in ax.get_xticklabels())
    ax = show_attention(W3, list("abc"), list("abc"))
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels())


def test_very_long_sequences_show_a_readable_subset_of_labels():
    tokens = [f"t{i}" for i in range(100)]
    ax = show_attention(random_weights(100, 100), tokens, tokens)
    shown = tick_texts(ax.get_xticklabels())
    assert 5 <= len(shown) <= 40
    assert shown[0] == "t0" and set(shown) <= set(tokens)
    # each shown label sits at its own column
    for pos, text in zip(ax.get_xticks(), shown):
        assert text == f"t{int(pos)}"


def test_title_and_colorbar():
    ax = show_attention(W3, title="rows sum to 1")
    assert ax.get_title() == "rows sum to 1"
    assert len(ax.figure.axes) == 2, "heatmap + colorbar"
    ax = show_attention(W3, colorbar=False)
    assert len(ax.figure.axes) == 1


def test_figure_size_and_dpi_do_not_depend_on_the_input():
    small = show_attention(random_weights(2, 2)).figure
    large = show_attention(random_weights(40, 7)).figure
    assert tuple(small.get_size_inches()) == tuple(large.get_size_inches())
    assert small.dpi == large.dpi


def test_colour_scale_defaults_to_zero_and_the_largest_weight():
    w = np.array([[0.2, 0.8], [0.6, 0.4]])
    norm = show_attention(w).images[0].norm
    assert (norm.vmin, norm.vmax) == (0.0, 0.8)
    norm = show_attention(w, vmin=0.1, vmax=1.0).images[0].norm
    assert (norm.vmin, norm.vmax) == (0.1, 1.0)


def test_all_zero_weights_still_get_a_valid_colour_scale():
    norm = show_attention(np.zeros((2, 2))).images[0].norm
    assert norm.vmin == 0.0 and norm.vmax > 0.0


def test_inputs_are_not_modified():
    w = W3.copy()
    mask = causal(3)
    show_attention(w, mask=mask, check_rows=False)
    np.testing.assert_array_equal(w, W3)
    np.testing.assert_array_equal(mask, causal(3))


# --- accepted inputs -------------------------------------------------------------------
def test_accepts_a_torch_tensor_that_requires_grad():
    t = torch.tensor(W3, dtype=torch.float32, requires_grad=True)
    ax = show_attention(t @ torch.eye(3), TOKENS, TOKENS)  # non-leaf, has grad_fn
    np.testing.assert_allclose(heatmap_data(ax), W3, rtol=1e-6)
    assert t.grad is None


def test_accepts_half_precision_and_bfloat16_tensors():
    for dtype in (torch.float16, torch.bfloat16):
        ax = show_attention(torch.tensor(W3, dtype=dtype))
        np.testing.assert_allclose(heatmap_data(ax), W3, atol=1e-2)


class TensorOnAnotherDevice:
    """Behaves like a CUDA tensor: .numpy() fails until .cpu() is called."""

    def __init__(self, values, on_cpu=False):
        self.values, self.on_cpu = np.asarray(values), on_cpu

    def detach(self):
        return self

    def cpu(self):
        return TensorOnAnotherDevice(self.values, on_cpu=True)

    def numpy(self):
        if not self.on_cpu:
            raise TypeError("can't convert cuda:0 device type tensor to numpy")
        return self.values


def test_accepts_tensors_on_another_device():
    ax = show_attention(TensorOnAnotherDevice(W3))
    np.testing.assert_array_equal(heatmap_data(ax), W3)


def test_accepts_nested_lists_and_int_or_bool_arrays():
    ax = show_attention([[0.5, 0.5], [1, 0]], ["a", "b"], ["c", "d"])
    np.testing.assert_array_equal(heatmap_data(ax), [[0.5, 0.5], [1.0, 0.0]])
    ax = show_attention(np.eye(2, dtype=bool))
    np.testing.assert_array_equal(heatmap_data(ax), np.eye(2))


def test_labels_may_be_any_objects_or_a_tensor():
    ax = show_attention(W3, [1, 2, 3], np.array(["x", "y", "z"]))
    assert tick_texts(ax.get_yticklabels()) == ["1", "2", "3"]
    assert tick_texts(ax.get_xticklabels()) == ["x", "y", "z"]
    ax = show_attention(W3, torch.tensor([7, 8, 9]))
    assert tick_texts(ax.get_yticklabels()) == ["7", "8", "9"]


# --- annotation ------------------------------------------------------------------------
def cell_texts(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts]


@pytest.mark.parametrize("shape, expected", [
    ((3, 3), True), ((10, 10), True), ((1, 12), True),
    ((11, 10), False), ((5, 21), False), ((2, 13), False), ((13, 1), False),
])
def test_annotate_none_labels_cells_only_when_small(shape, expected):
    ax = show_attention(random_weights(*shape))
    assert (len(ax.texts) == shape[0] * shape[1]) if expected else not ax.texts


def test_annotate_true_and_false_override_the_size_rule():
    assert len(show_attention(random_weights(13, 13), annotate=True).texts) == 169
    assert not show_attention(W3, annotate=False).texts


def test_annotations_show_the_values_with_two_decimals_row_by_row():
    w = np.array([[0.125, 0.875], [1.0, 0.0]])
    assert cell_texts(show_attention(w)) == ["0.12", "0.88", "1.00", "0.00"]
    ax = show_attention(w)
    positions = [t.get_position() for t in ax.texts]
    assert positions == [(0, 0), (1, 0), (0, 1), (1, 1)]  # (column, row)


def test_annotation_colour_contrasts_with_the_cell():
    ax = show_attention(np.array([[0.0, 1.0]]))  # viridis: dark purple, bright yellow
    dark_cell, bright_cell = ax.texts
    assert dark_cell.get_color() == "white"
    assert bright_cell.get_color() == "black"


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape, hint", [
    ((2, 2, 2), "show_heads"), ((2, 2, 2, 2), "show_heads"),
    ((3,), r"weights\[None, :\]"), ((2, 2, 2, 2, 2), ""),
])
def test_wrong_ndim_says_expected_and_given_shape(shape, hint):
    with pytest.raises(ValueError, match=re.escape(
            f"weights must be 2-D (n_queries, n_keys); got shape {shape}")) as err:
        show_attention(np.full(shape, 0.5))
    assert re.search(hint, str(err.value))


@pytest.mark.parametrize("kwargs, message", [
    ({"queries": ["a", "b"]}, "queries has 2 labels but the weights have 3 rows"),
    ({"keys": ["a", "b", "c", "d"]}, "keys has 4 labels but the weights have 3 columns"),
    ({"queries": "I love programming"}, r"single string 'I love programming'.*split\(\)"),
    ({"keys": 3}, "keys must be a sequence of labels; got int"),
])
def test_label_errors_name_the_axis_and_the_counts(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        show_attention(W3, **kwargs)


@pytest.mark.parametrize("bad, message", [
    (np.nan, r"weights must be finite; got 1 NaN/inf value\(s\), the first at index \(1, 2\)"),
    (np.inf, r"must be finite.*\(1, 2\) \(inf\)"),
    (-0.5, r"must be non-negative .*got 1 negative value\(s\), the first -0.5 at index "
           r"\(1, 2\).*scores instead of softmax"),
])
def test_nan_inf_and_negative_weights_are_refused(bad, message):
    w = W3.copy()
    w[1, 2] = bad
    with pytest.raises(ValueError, match=message):
        show_attention(w)


def test_rows_not_summing_to_one_are_refused_only_with_check_rows():
    w = np.array([[0.5, 0.5], [0.6, 0.6]])
    show_attention(w)
    with pytest.raises(ValueError, match=r"every row of weights must sum to 1 .*got 1 row\(s\)"
                                         r".*row \(1,\) sums to 1.2.*last axis"):
        show_attention(w, check_rows=True)


@pytest.mark.parametrize("bad, message", [
    ([["a", "b"]], "weights must contain numbers; got list with dtype <U1"),
    (None, "weights must be an array of numbers .*got None"),
    ("0.5", "got a string '0.5'"),
    ([[0.5, 0.5], [1.0]], "rectangular array of numbers"),
    (np.array([[1 + 1j]]), "real numbers; got complex"),
])
def test_non_numeric_weights_are_a_type_error(bad, message):
    with pytest.raises(TypeError, match=message):
        show_attention(bad)


def test_empty_weights_are_refused():
    with pytest.raises(ValueError, match=r"must not be empty; got shape \(0, 3\)"):
        show_attention(np.zeros((0, 3)))


def test_mask_errors_name_the_shapes_and_the_convention():
    with pytest.raises(ValueError, match=r"mask must have a shape that broadcasts to the "
                                         r"weights' shape \(3, 3\); got shape \(2, 2\)"):
        show_attention(W3, mask=np.ones((2, 2), dtype=bool))
    additive = np.where(causal(3), 0.0, -np.inf)
    with pytest.raises(TypeError, match=r"mask must be boolean \(True = may attend"):
        show_attention(W3, mask=additive)


def test_bad_options_are_refused():
    with pytest.raises(TypeError, match="annotate must be True, False or None.*'yes'"):
        show_attention(W3, annotate="yes")
    with pytest.raises(ValueError, match=r"vmin < vmax; got vmin=1.0, vmax=0.5"):
        show_attention(W3, vmin=1.0, vmax=0.5)
    with pytest.raises(ValueError, match="cmap must be the name of a matplotlib colour "
                                         "map, e.g. 'viridis' or 'Blues'; got 'not_a_cmap'"):
        show_attention(W3, cmap="not_a_cmap")
    with pytest.raises(TypeError, match="cmap must be a colour map name or a matplotlib "
                                        "Colormap; got int 3"):
        show_attention(W3, cmap=3)
    # a Colormap object is fine
    ax = show_attention(W3, cmap=colormaps["Blues"])
    assert ax.images[0].get_cmap().name.startswith("Blues")
