"""Answer catalogue for 03-softmax: ``softmax``, ``causal_mask`` and ``masked_softmax``.

Test cells (points), one property group each (COURSE_SPEC 3.1: one slip costs its property):
softmax: ``test_softmax`` (1, values), ``test_softmax_large_values`` (1), ``test_softmax_axis``
(1), ``test_softmax_contract`` (1, dtype and input unchanged); causal_mask: ``test_causal_mask``
(1, the triangle), ``test_causal_mask_dtype`` (1); masked_softmax: ``test_masked_softmax`` (1,
values), ``test_masked_softmax_broadcast`` (1), ``test_masked_softmax_axis`` (1),
``test_masked_softmax_large_values`` (1), ``test_masked_softmax_fully_masked`` (2),
``test_masked_softmax_contract`` (1).

Migrated from the former tests/course/test_mutants_03_softmax.py (every mutant kept, re-targeted
to the split cells). One former mutant is now a correct answer: ``-inf`` fill, softmax, then
``np.nan_to_num`` returns exactly the right weights (it only makes numpy warn), and warnings
are not graded (COURSE_SPEC 3.1).
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "03-softmax"
NOTEBOOK = "softmax.ipynb"

_IMPORTS = "import numpy as np\nimport torch\n\n"

S_VALUES, S_LARGE, S_AXIS, S_CONTRACT = (
    "test_softmax", "test_softmax_large_values", "test_softmax_axis", "test_softmax_contract")
C_VALUES, C_DTYPE = "test_causal_mask", "test_causal_mask_dtype"
M_VALUES, M_BROADCAST, M_AXIS, M_LARGE, M_FULLY, M_CONTRACT = (
    "test_masked_softmax", "test_masked_softmax_broadcast", "test_masked_softmax_axis",
    "test_masked_softmax_large_values", "test_masked_softmax_fully_masked",
    "test_masked_softmax_contract")


def _softmax(src: str) -> dict[str, str]:
    return {"softmax": _IMPORTS + src.strip("\n") + "\n"}


def _causal(src: str) -> dict[str, str]:
    return {"causal_mask": _IMPORTS + src.strip("\n") + "\n"}


# Answers that "call their softmax" call this copy, not the notebook's `softmax`: the stock
# grader hands in several answers of different functions in one submission, so a masked
# answer must not depend on which softmax answer it shares a notebook with.
_OWN_SOFTMAX = """
def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)

"""


def _masked(src: str) -> dict[str, str]:
    return {"masked_softmax": _IMPORTS + _OWN_SOFTMAX + src.strip("\n") + "\n"}


SOFTMAX: dict[str, Answer] = {
    # --- wrong (migrated) ---
    "softmax/without_max_subtraction": wrong(_softmax('''
def softmax(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
'''), S_LARGE),
    "softmax/max_of_whole_array": wrong(_softmax('''
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=axis, keepdims=True)
'''), S_LARGE),
    "softmax/normalised_over_axis_0": wrong(_softmax('''
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
'''), S_VALUES, S_LARGE, S_AXIS),
    "softmax/ignores_axis": wrong(_softmax('''
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''), S_AXIS),
    "softmax/in_place": wrong(_softmax('''
def softmax(x, axis=-1):
    x -= x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x
'''), S_CONTRACT),
    "softmax/without_keepdims": wrong(_softmax('''
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis))
    return e / e.sum(axis=axis)
'''), S_VALUES, S_LARGE, S_AXIS, S_CONTRACT),
    "softmax/upcasts_to_float64": wrong(_softmax('''
def softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''), S_CONTRACT),
    # --- wrong (faithful ports that break the contract) ---
    # picoGPT gpt2.py: softmax over the last axis only (no axis argument)
    "softmax/picogpt_last_axis_only": wrong(_softmax('''
def softmax(x, axis=-1):
    exp_x = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)
'''), S_AXIS),
    # d2l 4.4 "Softmax Regression Implementation from Scratch": no max subtraction, sum over axis 1
    "softmax/d2l_from_scratch": wrong(_softmax('''
def softmax(x, axis=-1):
    X_exp = np.exp(x)
    partition = X_exp.sum(1, keepdims=True)
    return X_exp / partition
'''), S_VALUES, S_LARGE, S_AXIS),
    # torch.Tensor(x) always makes float32: float64 scores come back as float32. The values
    # cells grade the formula at rtol 1e-6, so only the dtype property is lost.
    "softmax/torch_Tensor_constructor": wrong(_softmax('''
def softmax(x, axis=-1):
    return torch.softmax(torch.Tensor(x), dim=axis).numpy()
'''), S_CONTRACT),
    # --- right (other styles) ---
    "softmax/scipy_special": right(_softmax('''
def softmax(x, axis=-1):
    x_max = np.amax(x, axis=axis, keepdims=True)
    exp_x_shifted = np.exp(x - x_max)
    return exp_x_shifted / np.sum(exp_x_shifted, axis=axis, keepdims=True)
'''), source="scipy.special.softmax (scipy/special/_logsumexp.py), default axis -1 instead of None"),
    "softmax/jax_nn": right(_softmax('''
def softmax(x, axis=-1):
    # jax.nn.softmax without `where`: x_max = max(x, axis, keepdims); exp(x - x_max) / sum
    x_max = np.max(x, axis, keepdims=True)
    unnormalized = np.exp(x - x_max)
    return unnormalized / np.sum(unnormalized, axis, keepdims=True)
'''), source="jax.nn.softmax, jax/_src/nn/functions.py `_softmax` (jnp -> np)"),
    "softmax/torch_roundtrip": right(_softmax('''
def softmax(x, axis=-1):
    return torch.softmax(torch.from_numpy(np.asarray(x)), dim=axis).numpy()
'''), source="torch.softmax (pytorch.org/docs/stable/generated/torch.softmax.html), numpy via from_numpy/.numpy()"),
    "softmax/log_sum_exp": right(_softmax('''
def softmax(x, axis=-1):
    # exp(x - logsumexp(x)), logsumexp computed stably as in scipy.special.logsumexp
    m = np.max(x, axis=axis, keepdims=True)
    lse = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.exp(x - lse)
'''), source="scipy.special.log_softmax / logsumexp (scipy/special/_logsumexp.py), exponentiated"),
    "softmax/moveaxis_last": right(_softmax('''
def softmax(x, axis=-1):
    # work on the last axis (as picoGPT does), moving the requested axis there and back
    z = np.moveaxis(x, axis, -1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.moveaxis(e / e.sum(axis=-1, keepdims=True), -1, axis)
'''), source="picoGPT gpt2.py `softmax` (github.com/jaymody/picoGPT), axis handled with np.moveaxis"),
}

CAUSAL: dict[str, Answer] = {
    # --- wrong (migrated) ---
    "causal_mask/upper_triangle": wrong(_causal('''
def causal_mask(n):
    return np.triu(np.ones((n, n), dtype=bool))
'''), C_VALUES),
    "causal_mask/without_diagonal": wrong(_causal('''
def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool), k=-1)
'''), C_VALUES),
    "causal_mask/int_dtype": wrong(_causal('''
def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=int))
'''), C_DTYPE),
    "causal_mask/true_means_blocked": wrong(_causal('''
def causal_mask(n):
    return np.triu(np.ones((n, n), dtype=bool), k=1)
'''), C_VALUES),
    # --- wrong (faithful ports) ---
    # nanoGPT keeps a float buffer torch.tril(torch.ones(n, n)) and tests `== 0` later
    "causal_mask/nanogpt_float_buffer": wrong(_causal('''
def causal_mask(n):
    return torch.tril(torch.ones(n, n)).numpy()
'''), C_DTYPE),
    # The Annotated Transformer's subsequent_mask returns shape (1, n, n)
    "causal_mask/annotated_transformer_leading_axis": wrong(_causal('''
def causal_mask(n):
    attn_shape = (1, n, n)
    subsequent_mask = np.triu(np.ones(attn_shape), k=1).astype(np.uint8)
    return subsequent_mask == 0
'''), C_VALUES),
    # --- right ---
    "causal_mask/arange_comparison": right(_causal('''
def causal_mask(n):
    i = np.arange(n)
    return i[None, :] <= i[:, None]
'''), source="flax.linen.make_causal_mask: make_attention_mask(idxs, idxs, jnp.greater_equal)"),
    "causal_mask/pytorch_reference_sdpa": right(_causal('''
def causal_mask(n):
    # torch.nn.functional.scaled_dot_product_attention docstring, is_causal branch
    return torch.ones(n, n, dtype=torch.bool).tril(diagonal=0).numpy()
'''), source="PyTorch docs, scaled_dot_product_attention reference implementation (temp_mask)"),
    "causal_mask/np_tri": right(_causal('''
def causal_mask(n):
    return np.tri(n, dtype=bool)
'''), source="numpy.tri (numpy.org/doc/stable/reference/generated/numpy.tri.html)"),
    "causal_mask/hf_inverted_triu": right(_causal('''
def causal_mask(n):
    # Hugging Face builds the *blocked* part with triu(diagonal=1); True = may attend is its negation
    return ~np.triu(np.ones((n, n), dtype=bool), k=1)
'''), source="Hugging Face transformers, modeling_attn_mask_utils (torch.triu(..., diagonal=1) as blocked)"),
    "causal_mask/nanogpt_adapted": right(_causal('''
def causal_mask(n):
    return (torch.tril(torch.ones(n, n)) == 1).numpy()
'''), source="nanoGPT model.py `bias` buffer torch.tril(torch.ones(...)), compared to a bool mask"),
    "causal_mask/annotated_transformer_adapted": right(_causal('''
def causal_mask(n):
    subsequent_mask = np.triu(np.ones((1, n, n)), k=1).astype(np.uint8)
    return (subsequent_mask == 0)[0]
'''), source="The Annotated Transformer `subsequent_mask`, leading axis dropped"),
}

MASKED: dict[str, Answer] = {
    # --- wrong (migrated) ---
    "masked_softmax/fill_minus_1e9": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    return _softmax(np.where(mask, scores, -1e9), axis=axis)
'''), M_FULLY),
    "masked_softmax/nan_on_fully_masked_row": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    return _softmax(np.where(mask, scores, -np.inf), axis=axis)
'''), M_FULLY),
    "masked_softmax/mask_inverted": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    mask = np.broadcast_to(mask, scores.shape)
    e = np.where(mask, 0, np.exp(scores - scores.max(axis=axis, keepdims=True)))
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1)
'''), M_VALUES, M_BROADCAST, M_AXIS, M_LARGE, M_FULLY),
    "masked_softmax/not_renormalised": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    return _softmax(scores, axis=axis) * mask
'''), M_VALUES, M_BROADCAST, M_AXIS, M_LARGE),
    "masked_softmax/2d_row_loop": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    weights = np.zeros_like(scores)
    for i in range(scores.shape[0]):
        allowed = mask[i]
        if allowed.any():
            weights[i, allowed] = _softmax(scores[i, allowed])
    return weights
'''), M_BROADCAST, M_AXIS, M_FULLY),
    "masked_softmax/ignores_axis": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    mask = np.broadcast_to(mask, scores.shape)
    allowed = np.where(mask, scores, -np.inf)
    top = allowed.max(axis=-1, keepdims=True)
    e = np.where(mask, np.exp(allowed - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1)
'''), M_AXIS),
    # --- wrong (new) ---
    # Annotated Transformer / Hugging Face eager attention: masked_fill with a large negative
    # number (here the float's minimum): a fully masked row becomes uniform, not zeros
    "masked_softmax/hf_eager_finfo_min": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    scores = np.asarray(scores)
    filled = np.where(mask, scores, np.finfo(scores.dtype).min)
    return _softmax(filled, axis=axis)
'''), M_FULLY),
    # PyTorch's documented reference SDPA: masked_fill(-inf) then softmax: NaN rows
    "masked_softmax/pytorch_reference_sdpa_nan": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    t = torch.from_numpy(np.array(scores))
    m = torch.from_numpy(np.broadcast_to(mask, t.shape).copy())
    bias = torch.zeros_like(t).masked_fill(m.logical_not(), float("-inf"))
    return torch.softmax(t + bias, dim=axis).numpy()
'''), M_FULLY),
    # d2l 11.3 masked_softmax (fills -1e6, then softmax): uniform rows where nothing is allowed
    "masked_softmax/d2l_fill_minus_1e6": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    X = torch.from_numpy(np.array(scores))
    m = torch.from_numpy(np.broadcast_to(mask, X.shape).copy())
    X = X.masked_fill(~m, -1e6)
    return torch.nn.functional.softmax(X, dim=axis).numpy()
'''), M_FULLY),
    # max over every entry instead of the allowed ones: a masked score far above the allowed
    # ones underflows every allowed exp() to 0
    "masked_softmax/max_over_all_entries": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    mask = np.broadcast_to(mask, np.shape(scores))
    e = np.exp(scores - np.max(scores, axis=axis, keepdims=True)) * mask
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1)
'''), M_LARGE),
    # writes -inf into the caller's scores
    "masked_softmax/fills_scores_in_place": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    m = np.broadcast_to(mask, scores.shape)
    scores[~m] = -np.inf
    top = scores.max(axis=axis, keepdims=True)
    e = np.where(m, np.exp(scores - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1)
'''), M_CONTRACT),
    "masked_softmax/upcasts_to_float64": wrong(_masked('''
def masked_softmax(scores, mask, axis=-1):
    scores = np.asarray(scores, dtype=np.float64)
    m = np.broadcast_to(mask, scores.shape)
    allowed = np.where(m, scores, -np.inf)
    top = allowed.max(axis=axis, keepdims=True)
    e = np.where(m, np.exp(allowed - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(axis=axis, keepdims=True)
    return e / np.where(total > 0, total, 1)
'''), M_CONTRACT),
    # --- right (other styles; several make numpy warn, which is not graded) ---
    "masked_softmax/minus_inf_then_nan_to_num": right(_masked('''
def masked_softmax(scores, mask, axis=-1):
    return np.nan_to_num(_softmax(np.where(mask, scores, -np.inf), axis=axis))
'''), source="PyTorch reference SDPA masking (masked_fill -inf) + torch.nan_to_num, the rule of "
              "aten _safe_softmax (fully masked rows -> 0); numpy warns, not graded"),
    "masked_softmax/jax_where_initial": right(_masked('''
def masked_softmax(scores, mask, axis=-1):
    # jax.nn.softmax(x, axis, where=mask), jnp -> np
    x = np.asarray(scores)
    where = np.broadcast_to(mask, x.shape)
    initial = -np.inf
    x_max = np.max(x, axis, where=where, initial=initial, keepdims=True)
    x_safe = np.where(where, x, initial)
    unnormalized = np.exp(x_safe - x_max)
    result = unnormalized / np.sum(unnormalized, axis, where=where, keepdims=True)
    return np.where(where, result, 0)
'''), source="jax.nn.softmax with `where`, jax/_src/nn/functions.py `_softmax` (jnp -> np)"),
    "masked_softmax/numpy_masked_array": right(_masked('''
def masked_softmax(scores, mask, axis=-1):
    scores = np.asarray(scores)
    s = np.ma.masked_array(scores, mask=~np.broadcast_to(mask, scores.shape))
    e = np.ma.exp(s - s.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).filled(0)
'''), source="numpy.ma (numpy.org/doc/stable/reference/maskedarray.html): masked max/exp/sum, filled(0)"),
    "masked_softmax/d2l_adapted_zeros": right(_masked('''
def masked_softmax(scores, mask, axis=-1):
    # d2l's masked_softmax (fill -1e6, softmax), adapted to the zeros contract: the masked
    # entries are zeroed after the softmax, so a row with nothing allowed becomes 0
    X = torch.from_numpy(np.array(scores))
    m = torch.from_numpy(np.broadcast_to(mask, X.shape).copy())
    X = X.masked_fill(~m, float("-inf"))
    w = torch.nn.functional.softmax(X, dim=axis)
    return torch.where(m, w, torch.zeros_like(w)).numpy()
'''), source="d2l.ai 11.3 'Attention Scoring Functions' masked_softmax, fill -inf and zero masked entries"),
    "masked_softmax/torch_sdpa_nan_to_num": right(_masked('''
def masked_softmax(scores, mask, axis=-1):
    t = torch.from_numpy(np.array(scores))
    m = torch.from_numpy(np.broadcast_to(mask, t.shape).copy())
    bias = torch.zeros_like(t).masked_fill(m.logical_not(), float("-inf"))
    return torch.softmax(t + bias, dim=axis).nan_to_num(0.0).numpy()
'''), source="PyTorch docs, scaled_dot_product_attention reference implementation + nan_to_num"),
    "masked_softmax/calls_own_softmax_then_zeros": right(_masked('''
def masked_softmax(scores, mask, axis=-1):
    m = np.broadcast_to(mask, np.shape(scores))
    any_allowed = m.any(axis=axis, keepdims=True)
    # rows with nothing allowed get a harmless 0 everywhere before the softmax
    safe = np.where(m, scores, -np.inf)
    safe = np.where(any_allowed, safe, 0)
    return np.where(m, _softmax(safe, axis=axis), 0)
'''), source="Hugging Face transformers eager attention pattern (mask, softmax), with the fully "
              "masked rows handled before the softmax as the course asks"),
}

ANSWERS: dict[str, Answer] = {**SOFTMAX, **CAUSAL, **MASKED}
