"""helpers._arrays: input conversion and validation shared by the plotting helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers._arrays import (as_labels, as_mask, as_weights, check_rows_sum_to_one,
                             to_numpy)


# --- to_numpy ------------------------------------------------------------------------------
@pytest.mark.parametrize("given", [
    [[1, 2], [3, 4]],
    ((1.0, 2.0), (3.0, 4.0)),
    np.array([[1, 2], [3, 4]], dtype=np.int8),
    np.array([[1, 2], [3, 4]], dtype=np.float32),
    torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True),
    torch.tensor([[1, 2], [3, 4]], dtype=torch.bfloat16),
])
def test_to_numpy_gives_float64_from_lists_arrays_and_tensors(given):
    out = to_numpy(given)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])


def test_to_numpy_accepts_a_list_of_tensors_that_require_grad():
    heads = [torch.full((2, 2), 0.5, requires_grad=True) * 1.0, torch.eye(2)]
    np.testing.assert_array_equal(to_numpy(heads), [np.full((2, 2), 0.5), np.eye(2)])


def test_to_numpy_returns_a_copy():
    a = np.ones((2, 2))
    to_numpy(a)[0, 0] = 5.0
    assert a[0, 0] == 1.0
    t = torch.ones(2)
    to_numpy(t)[0] = 5.0
    assert t[0] == 1.0


def test_to_numpy_accepts_scalars_and_bools():
    assert to_numpy(0.5).shape == ()
    np.testing.assert_array_equal(to_numpy([True, False]), [1.0, 0.0])


def test_to_numpy_never_imports_torch():
    # Tensors are recognised by duck typing; an object with detach/cpu/numpy is enough.
    class Duck:
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.array([1, 2])

    np.testing.assert_array_equal(to_numpy(Duck()), [1.0, 2.0])


@pytest.mark.parametrize("given, message", [
    (None, "got None"),
    ("abc", "got a string 'abc'"),
    (b"ab", "got a string"),
    ([[1, 2], [3]], "rectangular array of numbers; got list"),
    ([object()], "must contain numbers; got list with dtype object"),
    (np.array(["1", "2"]), r"must contain numbers; got numpy.ndarray with shape \(2,\) "
                           r"with dtype <U1"),
    (np.array([1j]), "real numbers; got complex dtype complex128"),
])
def test_to_numpy_refuses_non_numbers_with_a_type_error(given, message):
    with pytest.raises(TypeError, match=message):
        to_numpy(given, "x")


def test_to_numpy_messages_use_the_argument_name():
    with pytest.raises(TypeError, match="^image must"):
        to_numpy(None, "image")


# --- as_weights ----------------------------------------------------------------------------
def test_as_weights_accepts_the_allowed_ndims_only():
    assert as_weights(np.ones((2, 3)), (2,)).shape == (2, 3)
    assert as_weights(np.ones((1, 2, 3)), (3, 4)).shape == (1, 2, 3)
    with pytest.raises(ValueError, match=r"^w must be 2-D thing; got shape \(2, 2, 2\); "
                                         r"try this$"):
        as_weights(np.ones((2, 2, 2)), (2,), name="w", expected="2-D thing",
                   hint="try this")


def test_as_weights_accepts_zero_and_refuses_tiny_negatives():
    as_weights(np.zeros((2, 2)), (2,))
    with pytest.raises(ValueError, match="negative"):
        as_weights(np.array([[0.5, -1e-12]]), (2,))


@pytest.mark.parametrize("bad, count", [(np.nan, 1), (np.inf, 1), (-np.inf, 1)])
def test_as_weights_counts_non_finite_values(bad, count):
    w = np.ones((2, 2))
    w[0, 1] = bad
    with pytest.raises(ValueError, match=rf"got {count} NaN/inf value\(s\), the first at "
                                         r"index \(0, 1\)"):
        as_weights(w, (2,))


def test_as_weights_reports_all_nan_rows_as_a_softmax_problem():
    with pytest.raises(ValueError, match="-inf scores .* NaN after a naive softmax"):
        as_weights(np.full((1, 3), np.nan), (2,))


# --- as_mask -------------------------------------------------------------------------------
def test_as_mask_none_stays_none():
    assert as_mask(None, (2, 2)) is None


def test_as_mask_broadcasts_and_returns_bool():
    m = as_mask([[1, 0]], (3, 2))
    assert m.dtype == bool and m.shape == (3, 2)
    np.testing.assert_array_equal(m, [[True, False]] * 3)
    np.testing.assert_array_equal(as_mask(torch.tensor([True, False]), (2, 2)),
                                  [[True, False]] * 2)


def test_as_mask_refuses_float_and_additive_masks():
    with pytest.raises(TypeError, match=r"boolean .*got values other than 0/1, e\.g\. -inf"):
        as_mask(np.array([0.0, -np.inf]), (2,))
    with pytest.raises(TypeError, match="e.g. 0.5"):
        as_mask(np.array([0.5, 1.0]), (2,))


def test_as_mask_refuses_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"broadcasts to the weights' shape \(2, 3\); got "
                                         r"shape \(3, 2\)"):
        as_mask(np.ones((3, 2), dtype=bool), (2, 3))


# --- as_labels -----------------------------------------------------------------------------
def test_as_labels_turns_anything_into_strings():
    assert as_labels(None, 3, name="keys", axis="column") is None
    assert as_labels(("I", 2, 3.5), 3, name="keys", axis="column") == ["I", "2", "3.5"]
    assert as_labels(np.arange(2), 2, name="keys", axis="column") == ["0", "1"]
    assert as_labels(torch.tensor([4, 5]), 2, name="keys", axis="column") == ["4", "5"]
    assert as_labels(iter("ab"), 2, name="keys", axis="column") == ["a", "b"]


def test_as_labels_count_mismatch_names_both_counts():
    with pytest.raises(ValueError, match=r"^queries has 1 labels but the weights have 2 rows "
                                         r"\(one label per row expected\); got "
                                         r"queries=\['a'\]$"):
        as_labels(["a"], 2, name="queries", axis="row")


def test_as_labels_refuses_a_string_and_non_sequences():
    with pytest.raises(TypeError, match=r"one per column; got the single string 'ab' "
                                        r"\(did you mean 'ab'.split\(\)\?\)"):
        as_labels("ab", 2, name="keys", axis="column")
    with pytest.raises(TypeError, match="sequence of labels; got float"):
        as_labels(2.0, 2, name="keys", axis="column")


# --- check_rows_sum_to_one ---------------------------------------------------------------
def test_rows_summing_to_one_pass_within_float32_rounding():
    check_rows_sum_to_one(np.array([[0.5, 0.5], [0.2, 0.8 + 5e-5]]))


@pytest.mark.parametrize("row", [[0.5, 0.4], [0.6, 0.6], [0.0, 0.0]])
def test_rows_not_summing_to_one_fail(row):
    with pytest.raises(ValueError, match=r"got 1 row\(s\) that do not, e\.g\. row \(1,\)"):
        check_rows_sum_to_one(np.array([[0.5, 0.5], row]))


def test_batched_rows_report_the_full_row_index():
    w = np.full((2, 3, 2), 0.5)
    w[1, 2] = [0.1, 0.1]
    with pytest.raises(ValueError, match=r"row \(1, 2\) sums to 0\.2"):
        check_rows_sum_to_one(w)


def test_a_fully_masked_row_may_be_all_zero_but_not_anything_else():
    mask = np.array([[True, True], [False, False]])
    check_rows_sum_to_one(np.array([[0.5, 0.5], [0.0, 0.0]]), mask)
    check_rows_sum_to_one(np.array([[0.5, 0.5], [0.5, 0.5]]), mask)  # sums to 1: fine
    with pytest.raises(ValueError, match="sums to 0.3"):
        check_rows_sum_to_one(np.array([[0.5, 0.5], [0.3, 0.0]]), mask)
    partly = np.array([[True, True], [True, False]])
    with pytest.raises(ValueError, match="sums to 0"):
        check_rows_sum_to_one(np.array([[0.5, 0.5], [0.0, 0.0]]), partly)
