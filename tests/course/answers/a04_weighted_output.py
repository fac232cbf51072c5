"""Notebook 04 (weighted output): wrong answers and correct answers in other styles.

Graded: ``scaled_dot_product_attention`` (test cells: values incl. large scores, batch axes,
masks, inputs unchanged, type and dtype, torch path with gradients, finite gradients through
a fully masked row) and ``AttentionLayer`` (values and shapes, masks, gradients, finite
gradients through a fully masked row). The names of the test cells are below.

Correct answers are ports of public implementations, adapted only where the contract needs
it: numpy in -> numpy out (a ``torch.as_tensor`` / ``.numpy()`` round trip), a fully masked
row gives zero weights and finite gradients (most sources give a uniform row or NaN there).
Faithful ports that keep the source's behaviour on that row are WRONG answers here.
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "04-weighted-output"
NOTEBOOK = "weighted_output.ipynb"

MAIN = "test_scaled_dot_product_attention"
BATCH = "test_scaled_dot_product_attention_batch"
MASK = "test_scaled_dot_product_attention_mask"
INPUTS = "test_scaled_dot_product_attention_inputs"
DTYPE = "test_scaled_dot_product_attention_dtype"
TORCH = "test_scaled_dot_product_attention_torch"
MGRAD = "test_scaled_dot_product_attention_masked_grad"
L_MAIN = "test_AttentionLayer"
L_MASK = "test_AttentionLayer_mask"
L_GRAD = "test_AttentionLayer_grad"
L_MGRAD = "test_AttentionLayer_masked_grad"

# One correct function in torch, with the places a mistake goes as fields (the old
# tests/course/test_mutants_04_weighted_output.py, migrated).
_SDPA = '''
def scaled_dot_product_attention(Q, K, V, mask=None):
    is_numpy = not isinstance(Q, torch.Tensor)
    if is_numpy:
        Q, K, V = (torch.as_tensor(np.asarray(a)) for a in (Q, K, V))
    scores = {scores}
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool)
        {fill}
    weights = torch.softmax(scores, dim={dim})
    if mask is not None:
        {zero}
    output = {output}
    if is_numpy:
        return output.numpy(), weights.numpy()
    return output, weights
'''
_RIGHT = dict(scores="Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])",
              fill='scores = scores.masked_fill(~mask, float("-inf")).masked_fill('
                   '~mask.any(dim=-1, keepdim=True), 0.0)',
              dim="-1", zero="weights = weights.masked_fill(~mask, 0.0)", output="weights @ V")


def _sdpa(**mistake: str) -> dict[str, str]:
    return {"scaled_dot_product_attention": _SDPA.format(**{**_RIGHT, **mistake})}


_LAYER = '''
class AttentionLayer(nn.Module):
    def forward(self, q, k, v, mask=None):
        scores = {scores}
        if mask is not None:
            {fill}
        weights = F.softmax(scores, dim={dim})
        if mask is not None:
            {zero}
        return {ret}
'''
_LAYER_RIGHT = dict(scores="q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))",
                    fill='scores = scores.masked_fill(~mask, float("-inf")).masked_fill('
                         '~mask.any(dim=-1, keepdim=True), 0.0)',
                    dim="-1", zero="weights = weights.masked_fill(~mask, 0.0)",
                    ret="weights @ v, weights")


def _layer(**mistake: str) -> dict[str, str]:
    return {"AttentionLayer": _LAYER.format(**{**_LAYER_RIGHT, **mistake})}


# numpy in -> numpy out around a torch function ``_attend(q, k, v, mask)``
_NUMPY_WRAPPER = '''

def scaled_dot_product_attention(Q, K, V, mask=None):
    if isinstance(Q, torch.Tensor):
        return _attend(Q, K, V, None if mask is None else torch.as_tensor(mask, dtype=torch.bool))
    out, w = _attend(*(torch.as_tensor(np.asarray(a)) for a in (Q, K, V)),
                     None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool)))
    return out.numpy(), w.numpy()
'''

# The PyTorch reference implementation from the docstring of
# torch.nn.functional.scaled_dot_product_attention: the mask becomes a float bias that is
# ADDED to the scores. Zeroing the empty rows afterwards repairs the output, not the gradient.
_ADDED_BIAS = '''
def _attend(query, key, value, attn_mask=None):
    scale_factor = 1 / math.sqrt(query.size(-1))
    attn_weight = query @ key.transpose(-2, -1) * scale_factor
    if attn_mask is not None:
        attn_bias = torch.zeros(attn_mask.shape, dtype=query.dtype)
        attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        attn_weight = attn_weight + attn_bias
    attn_weight = torch.softmax(attn_weight, dim=-1)
    if attn_mask is not None:   # repair the forward pass only
        attn_weight = torch.where(attn_mask, attn_weight, 0.0)
    return attn_weight @ value, attn_weight
'''

# The same reference implementation, adapted to the contract: a fully masked row gets a
# finite bias (0) before the softmax, so no NaN is ever computed, and zero weights after it.
_REFERENCE_SDPA_FIXED = '''
def _attend(query, key, value, attn_mask=None):
    scale_factor = 1 / math.sqrt(query.size(-1))
    attn_weight = query @ key.transpose(-2, -1) * scale_factor
    if attn_mask is not None:
        attn_mask = torch.broadcast_to(attn_mask, attn_weight.shape)
        attn_bias = torch.zeros(attn_weight.shape, dtype=query.dtype)
        attn_bias.masked_fill_(attn_mask.logical_not(), float("-inf"))
        attn_bias.masked_fill_(~attn_mask.any(dim=-1, keepdim=True), 0.0)  # contract: no NaN
        attn_weight = attn_weight + attn_bias
    attn_weight = torch.softmax(attn_weight, dim=-1)
    if attn_mask is not None:
        attn_weight = attn_weight.masked_fill(~attn_mask, 0.0)
    return attn_weight @ value, attn_weight
'''

# The Annotated Transformer's attention(), dropout left out. masked_fill(mask == 0, -1e9)
# gives a fully masked row uniform weights; the adaptation zeroes masked weights afterwards.
_ANNOTATED = '''
def _attend(query, key, value, mask=None):
    d_k = query.size(-1)
    scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    p_attn = scores.softmax(dim=-1)
    if mask is not None:
        p_attn = p_attn.masked_fill(mask == 0, 0.0)   # contract: a masked weight is exactly 0
    return torch.matmul(p_attn, value), p_attn
'''
_ANNOTATED_FAITHFUL = _ANNOTATED.replace(
    "    if mask is not None:\n        p_attn = p_attn.masked_fill(mask == 0, 0.0)"
    "   # contract: a masked weight is exactly 0\n", "")

# UvA DL tutorial 6, scaled_dot_product: masked_fill(mask == 0, -9e15)
_UVA = '''
def _attend(q, k, v, mask=None):
    d_k = q.size()[-1]
    attn_logits = torch.matmul(q, k.transpose(-2, -1))
    attn_logits = attn_logits / math.sqrt(d_k)
    if mask is not None:
        attn_logits = attn_logits.masked_fill(mask == 0, -9e15)
    attention = F.softmax(attn_logits, dim=-1)
    if mask is not None:   # contract: a row with nothing to attend to gets zeros
        attention = torch.where(mask.any(dim=-1, keepdim=True), attention, 0.0)
    values = torch.matmul(attention, v)
    return values, attention
'''

# nanoGPT CausalSelfAttention, the manual (non-flash) path, with a general mask
_NANOGPT = '''
def _attend(q, k, v, mask=None):
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    if mask is not None:
        att = att.masked_fill(mask == 0, float('-inf'))
    att = F.softmax(att, dim=-1)
    att = torch.nan_to_num(att, nan=0.0)   # contract: a fully masked row gives zeros, not NaN
    y = att @ v
    return y, att
'''

# Hugging Face transformers eager_attention_forward: an additive mask of finfo.min
_HF_EAGER = '''
def _attend(query, key_states, value_states, mask=None):
    scaling = query.shape[-1] ** -0.5
    attn_weights = torch.matmul(query, key_states.transpose(-2, -1)) * scaling
    if mask is not None:
        causal_mask = torch.zeros(mask.shape, dtype=query.dtype).masked_fill(
            ~mask, torch.finfo(query.dtype).min)
        attn_weights = attn_weights + causal_mask
    attn_weights = F.softmax(attn_weights, dim=-1)
    if mask is not None:   # contract: masked weights exactly 0, an empty row all zeros
        attn_weights = torch.where(mask, attn_weights, 0.0)
    attn_output = torch.matmul(attn_weights, value_states)
    return attn_output, attn_weights
'''
_HF_EAGER_FAITHFUL = _HF_EAGER.replace(
    "    if mask is not None:   # contract: masked weights exactly 0, an empty row all zeros\n"
    "        attn_weights = torch.where(mask, attn_weights, 0.0)\n", "")

# d2l 11.3 masked_softmax + DotProductAttention, valid_lens replaced by a boolean mask,
# torch.bmm by matmul (any leading axes); masked entries get value=-1e6 as in d2l
_D2L = '''
def masked_softmax_d2l(X, mask):
    if mask is None:
        return nn.functional.softmax(X, dim=-1)
    mask = torch.broadcast_to(mask, X.shape)
    X = X.clone()
    X[~mask] = -1e6
    # contract: masked weights exactly 0 and an empty row all zeros (d2l: a uniform row)
    return nn.functional.softmax(X, dim=-1) * mask


def _attend(queries, keys, values, mask=None):
    d = queries.shape[-1]
    scores = torch.matmul(queries, keys.transpose(-2, -1)) / math.sqrt(d)
    attention_weights = masked_softmax_d2l(scores, mask)
    return torch.matmul(attention_weights, values), attention_weights
'''

# einsum in both libraries: numpy stays numpy (stable softmax of notebook 03), torch stays torch
_EINSUM = '''
def scaled_dot_product_attention(Q, K, V, mask=None):
    if isinstance(Q, torch.Tensor):
        scores = torch.einsum("...qd,...kd->...qk", Q, K) / math.sqrt(Q.shape[-1])
        if mask is None:
            weights = torch.softmax(scores, dim=-1)
        else:
            mask = torch.as_tensor(mask, dtype=torch.bool)
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            weights = torch.where(mask, weights, 0.0)  # also turns an empty row's NaN into 0
        return torch.einsum("...qk,...kd->...qd", weights, V), weights
    scores = np.einsum("...qd,...kd->...qk", Q, K) / math.sqrt(Q.shape[-1])
    if mask is None:
        mask = np.ones(scores.shape, dtype=bool)
    weights = masked_softmax(scores, mask)
    return np.einsum("...qk,...kd->...qd", weights, V), weights
'''

# The same numpy/torch split, but dividing by np.sqrt: float32 numpy input becomes float64
_NP_SQRT = '''
def scaled_dot_product_attention(Q, K, V, mask=None):
    if isinstance(Q, torch.Tensor):
        scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool)
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return weights @ V, weights
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    weights = masked_softmax(scores, np.ones(scores.shape, dtype=bool) if mask is None else mask)
    return weights @ V, weights
'''


def _layer_from(attend: str, name: str = "_attend") -> dict[str, str]:
    """AttentionLayer whose forward calls a module-level torch function ``name``."""
    return {"AttentionLayer": attend + f'''

class AttentionLayer(nn.Module):
    def forward(self, q, k, v, mask=None):
        return {name}(q, k, v, mask)
'''}


ANSWERS: dict[str, Answer] = {
    # -------------------------------------------- scaled_dot_product_attention: wrong
    "scaled_dot_product_attention/without_scaling": wrong(
        _sdpa(scores="Q @ K.transpose(-2, -1)"), MAIN, BATCH, MASK, TORCH),
    "scaled_dot_product_attention/scaled_by_d_v": wrong(
        _sdpa(scores="Q @ K.transpose(-2, -1) / math.sqrt(V.shape[-1])"), MAIN, BATCH, MASK, TORCH),
    "scaled_dot_product_attention/scaled_by_n_k": wrong(
        _sdpa(scores="Q @ K.transpose(-2, -1) / math.sqrt(K.shape[-2])"), MAIN, BATCH, MASK, TORCH),
    "scaled_dot_product_attention/scaled_by_d_k_not_sqrt": wrong(
        _sdpa(scores="Q @ K.transpose(-2, -1) / Q.shape[-1]"), MAIN, BATCH, MASK, TORCH),
    "scaled_dot_product_attention/softmax_over_queries": wrong(
        _sdpa(dim="-2"), MAIN, BATCH, MASK, TORCH),
    "scaled_dot_product_attention/weights_transposed": wrong(
        _sdpa(output="weights.transpose(-2, -1) @ V"), MAIN, BATCH, MASK, INPUTS, DTYPE, TORCH,
        MGRAD),
    "scaled_dot_product_attention/mask_ignored": wrong(
        _sdpa(fill="pass", zero="pass"), MASK, TORCH),
    # the Annotated Transformer's -1e9: a fully masked row gets uniform weights, not zeros
    "scaled_dot_product_attention/fill_minus_1e9": wrong(
        _sdpa(fill="scores = scores.masked_fill(~mask, -1e9)", zero="pass"), MASK, TORCH),
    "scaled_dot_product_attention/nan_on_fully_masked_row": wrong(
        _sdpa(fill='scores = scores.masked_fill(~mask, float("-inf"))', zero="pass"),
        MASK, TORCH, MGRAD),
    "scaled_dot_product_attention/dot_T_breaks_batches": wrong(
        _sdpa(scores="Q @ K.T / math.sqrt(Q.shape[-1])"), BATCH, MASK, TORCH, MGRAD),
    "scaled_dot_product_attention/numpy_only": wrong({"scaled_dot_product_attention": '''
def scaled_dot_product_attention(Q, K, V, mask=None):
    Q, K, V = (np.asarray(a) for a in (Q, K, V))
    scores = Q @ np.swapaxes(K, -1, -2) / math.sqrt(Q.shape[-1])
    if mask is None:
        mask = np.ones(scores.shape, dtype=bool)
    weights = masked_softmax(scores, mask)
    return weights @ V, weights
'''}, DTYPE, TORCH, MGRAD),
    # forward right everywhere; the NaN of the empty row comes back in the backward pass
    "scaled_dot_product_attention/reference_sdpa_added_bias_nan_gradient": wrong(
        {"scaled_dot_product_attention": _ADDED_BIAS + _NUMPY_WRAPPER}, MGRAD),
    "scaled_dot_product_attention/np_sqrt_upcasts_float32": wrong(
        {"scaled_dot_product_attention": _NP_SQRT}, DTYPE),
    "scaled_dot_product_attention/casts_to_float64": wrong(_sdpa(
        scores="Q.double() @ K.double().transpose(-2, -1) / math.sqrt(Q.shape[-1])",
        output="weights @ V.double()"), DTYPE),
    # HF's additive finfo.min mask, kept as is: an empty row gets uniform weights
    "scaled_dot_product_attention/hf_eager_finfo_min_uniform_row": wrong(
        {"scaled_dot_product_attention": _HF_EAGER_FAITHFUL + _NUMPY_WRAPPER}, MASK, TORCH),

    # -------------------------------------------- scaled_dot_product_attention: right
    "scaled_dot_product_attention/annotated_transformer": right(
        {"scaled_dot_product_attention": _ANNOTATED + _NUMPY_WRAPPER},
        source="The Annotated Transformer (nlp.seas.harvard.edu/annotated-transformer), "
               "attention(): masked_fill(mask == 0, -1e9) then softmax; adapted: masked "
               "weights set to 0 after the softmax, numpy round trip"),
    "scaled_dot_product_attention/uva_tutorial6": right(
        {"scaled_dot_product_attention": _UVA + _NUMPY_WRAPPER},
        source="UvA DL course, tutorial 6 (Transformers and multi-head attention), "
               "scaled_dot_product(); adapted: empty rows zeroed, numpy round trip"),
    "scaled_dot_product_attention/nanogpt_manual_path": right(
        {"scaled_dot_product_attention": _NANOGPT + _NUMPY_WRAPPER},
        source="nanoGPT model.py, CausalSelfAttention.forward, manual implementation; "
               "adapted: general mask instead of the causal buffer, nan_to_num for empty rows"),
    "scaled_dot_product_attention/hf_eager_attention_forward": right(
        {"scaled_dot_product_attention": _HF_EAGER + _NUMPY_WRAPPER},
        source="Hugging Face transformers, eager_attention_forward (e.g. modeling_llama.py): "
               "additive finfo.min mask; adapted: masked weights zeroed, softmax in the input dtype"),
    "scaled_dot_product_attention/pytorch_reference_sdpa": right(
        {"scaled_dot_product_attention": _REFERENCE_SDPA_FIXED + _NUMPY_WRAPPER},
        source="PyTorch, docstring of torch.nn.functional.scaled_dot_product_attention "
               "(reference implementation with attn_bias); adapted: empty rows get a 0 bias "
               "and zero weights, so no NaN reaches the forward or the backward pass"),
    "scaled_dot_product_attention/d2l_masked_softmax": right(
        {"scaled_dot_product_attention": _D2L + _NUMPY_WRAPPER},
        source="Dive into Deep Learning, 11.3 (Attention Scoring Functions): masked_softmax "
               "with value=-1e6 and DotProductAttention; adapted: boolean mask instead of "
               "valid_lens, matmul instead of bmm, weights multiplied by the mask"),
    "scaled_dot_product_attention/einsum_numpy_and_torch": right(
        {"scaled_dot_product_attention": _EINSUM},
        source="einsum attention as in T. Rocktaeschel, 'Einsum is all you need' "
               "(https://rockt.github.io/2018/04/30/einsum); numpy path uses notebook 03's "
               "masked_softmax"),

    # -------------------------------------------- AttentionLayer: wrong
    "AttentionLayer/returns_only_output": wrong(_layer(ret="weights @ v"), L_MAIN, L_MASK),
    "AttentionLayer/without_scaling": wrong(
        _layer(scores="q @ k.transpose(-2, -1)"), L_MAIN, L_MASK),
    "AttentionLayer/mask_inverted": wrong(_layer(
        fill='scores = scores.masked_fill(mask, float("-inf")).masked_fill('
             'mask.all(dim=-1, keepdim=True), 0.0)',
        zero="weights = weights.masked_fill(mask, 0.0)"), L_MASK),
    "AttentionLayer/softmax_over_queries": wrong(_layer(dim="-2"), L_MAIN, L_MASK),
    "AttentionLayer/fill_minus_1e9": wrong(
        _layer(fill="scores = scores.masked_fill(~mask, -1e9)", zero="pass"), L_MASK),
    "AttentionLayer/through_numpy_no_gradient": wrong({"AttentionLayer": '''
class AttentionLayer(nn.Module):
    # self-contained (not calling the student's scaled_dot_product_attention), so that its
    # verdict does not depend on the other graded function of the submission
    def forward(self, q, k, v, mask=None):
        q, k, v = (t.detach().numpy() for t in (q, k, v))
        scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
        allowed = np.ones(scores.shape, dtype=bool) if mask is None else mask.numpy()
        w = masked_softmax(scores, allowed)   # notebook 03's, from the locked cell
        return torch.from_numpy(w @ v), torch.from_numpy(w)
'''}, L_GRAD, L_MGRAD),
    # the tutorial seed's third bug: a layer that subclasses the functional API
    "AttentionLayer/subclasses_functional": wrong({"AttentionLayer": '''
class AttentionLayer(F):
    def forward(self, q, k, v, mask=None):
        weights = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
        return weights @ v, weights
'''}, L_MAIN, L_MASK, L_GRAD, L_MGRAD),
    "AttentionLayer/reference_sdpa_added_bias_nan_gradient": wrong(
        _layer_from(_ADDED_BIAS), L_MGRAD),
    # nanoGPT's manual path as is: an empty row is NaN
    "AttentionLayer/nanogpt_faithful_nan_row": wrong(_layer_from(
        _NANOGPT.replace("    att = torch.nan_to_num(att, nan=0.0)"
                         "   # contract: a fully masked row gives zeros, not NaN\n", "")),
        L_MASK, L_MGRAD),
    "AttentionLayer/annotated_transformer_faithful_uniform_row": wrong(
        _layer_from(_ANNOTATED_FAITHFUL), L_MASK),

    # -------------------------------------------- AttentionLayer: right
    "AttentionLayer/annotated_transformer": right(
        _layer_from(_ANNOTATED),
        source="The Annotated Transformer, attention() called from a module; adapted: "
               "masked weights set to 0 after the softmax"),
    "AttentionLayer/uva_tutorial6": right(
        _layer_from(_UVA),
        source="UvA DL course, tutorial 6, scaled_dot_product() as used by its "
               "MultiheadAttention.forward; adapted: empty rows zeroed"),
    "AttentionLayer/nanogpt_manual_path": right(
        _layer_from(_NANOGPT),
        source="nanoGPT model.py, CausalSelfAttention.forward, manual implementation; "
               "adapted: general mask, nan_to_num for empty rows"),
    "AttentionLayer/hf_eager_attention_forward": right(
        _layer_from(_HF_EAGER),
        source="Hugging Face transformers, eager_attention_forward; adapted: boolean mask "
               "turned into the additive finfo.min mask, masked weights zeroed"),
    "AttentionLayer/pytorch_reference_sdpa": right(
        _layer_from(_REFERENCE_SDPA_FIXED),
        source="PyTorch, docstring of torch.nn.functional.scaled_dot_product_attention "
               "(reference implementation); adapted: empty rows get a finite bias and zeros"),
    "AttentionLayer/d2l_dot_product_attention": right({"AttentionLayer": _D2L + '''

class AttentionLayer(nn.Module):
    """d2l's DotProductAttention without dropout and without constructor arguments."""

    def forward(self, queries, keys, values, mask=None):
        return _attend(queries, keys, values, mask)
'''}, source="Dive into Deep Learning, 11.3, DotProductAttention and masked_softmax; "
              "adapted: boolean mask, matmul, weights multiplied by the mask"),
}
