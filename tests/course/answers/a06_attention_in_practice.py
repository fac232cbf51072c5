"""Notebook 06 answers: head_attention and all_heads_attention, wrong and right.

Wrong answers: the mistakes of the old tests/course/test_mutants_06_attention_in_practice.py
(migrated, with the cells they now lose after the test cells were split by property), the
faithful ports that legitimately break the course's contract for a sequence with no real
token (Hugging Face's additive mask, masked_fill(-1e9): a uniform row where the contract
asks for zeros), and a hostile one that replaces helpers.model so that the reference the old
tests read from it agrees with a wrong answer (issue 15): the test cells now load the model
themselves, and the tamper guard watches helpers.model too.

Right answers: ports of public implementations, adapted only where the contract needs it
(numpy in and out, exact zeros for padding and for a row with nothing to attend to).
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "06-attention-in-practice"
NOTEBOOK = "attention_in_practice.ipynb"

HEAD_VALUES = ("test_head_attention", "test_head_attention_mask")
ALL_VALUES = ("test_all_heads_attention", "test_all_heads_attention_head_count",
              "test_all_heads_attention_mask")

_HEAD_DEF = ('def head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, '
             'attention_mask=None):\n'
             '    rows = slice(head * head_dim, (head + 1) * head_dim)\n'
             '    mask = None if attention_mask is None else np.asarray(attention_mask, bool)\n')
_ALL_DEF = ('def all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12, '
            'attention_mask=None):\n'
            '    n, d_model = hidden.shape\n'
            '    head_dim = d_model // num_heads\n'
            '    mask = None if attention_mask is None else np.asarray(attention_mask, bool)\n')


def _head(q: str = "hidden @ W_q[rows].T + b_q[rows]",
          k: str = "hidden @ W_k[rows].T + b_k[rows]",
          scale: str = "np.sqrt(head_dim)", softmax: str = "masked_softmax(scores, mask)") -> dict:
    return {"head_attention": _HEAD_DEF + f"    q = {q}\n    k = {k}\n"
            f"    scores = q @ k.T / {scale}\n    return {softmax}\n"}


def _all(q: str = "hidden @ W_q.T + b_q", k: str = "hidden @ W_k.T + b_k",
         split: str = "(n, num_heads, head_dim).transpose(1, 0, 2)",
         scale: str = "np.sqrt(head_dim)", softmax: str = "masked_softmax(scores, mask)",
         head_dim: str | None = None) -> dict:
    src = _ALL_DEF if head_dim is None else _ALL_DEF.replace(
        "head_dim = d_model // num_heads", f"head_dim = {head_dim}")
    return {"all_heads_attention": src + f"    q = ({q}).reshape{split}\n"
            f"    k = ({k}).reshape{split}\n"
            f"    scores = q @ k.transpose(0, 2, 1) / {scale}\n    return {softmax}\n"}


_HF_ADDITIVE = '''
def head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
    # Hugging Face BertSelfAttention (eager): scores + (1 - mask) * finfo.min, then softmax.
    rows = slice(head * head_dim, (head + 1) * head_dim)
    q = hidden @ W_q[rows].T + b_q[rows]
    k = hidden @ W_k[rows].T + b_k[rows]
    scores = (q @ k.T / np.sqrt(head_dim)).astype(np.float32)
    if attention_mask is not None:
        extended = (1.0 - np.asarray(attention_mask, np.float32)) * np.finfo(np.float32).min
        scores = scores + extended[None, :]
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''

ANSWERS: dict[str, Answer] = {
    # ---------------------------------------------------------------- head_attention: wrong
    "head_attention/no_query_bias": wrong(_head(q="hidden @ W_q[rows].T"), *HEAD_VALUES),
    "head_attention/wrong_rows": wrong(
        _head(q="hidden @ W_q[head:head + head_dim].T + b_q[head:head + head_dim]",
              k="hidden @ W_k[head:head + head_dim].T + b_k[head:head + head_dim]"),
        *HEAD_VALUES),
    "head_attention/scaled_by_sqrt_d_model": wrong(_head(scale="np.sqrt(hidden.shape[-1])"),
                                                   *HEAD_VALUES),
    "head_attention/query_weights_for_keys": wrong(_head(k="hidden @ W_q[rows].T + b_k[rows]"),
                                                   *HEAD_VALUES),
    "head_attention/columns_not_rows": wrong(_head(q="hidden @ W_q[:, rows] + b_q[rows]",
                                                   k="hidden @ W_k[:, rows] + b_k[rows]"),
                                             *HEAD_VALUES),
    # an ignored mask: padding keys get weight, and an all-padding row is uniform
    "head_attention/mask_ignored": wrong(_head(softmax="masked_softmax(scores)"),
                                         "test_head_attention_mask", "test_head_attention_no_keys"),
    # a faithful port of BERT's own masking: exact zeros on padding keys (exp underflows) but
    # 1/n for a sequence with no real token, where the contract asks for zeros
    "head_attention/hf_eager_additive_mask": wrong({"head_attention": _HF_ADDITIVE},
                                                   "test_head_attention_no_keys"),
    "head_attention/masked_fill_minus_1e9": wrong(
        _head(softmax="masked_softmax(np.where(mask, scores, -1e9) if mask is not None "
                      "else scores)"), "test_head_attention_no_keys"),
    # -inf without care: NaN rows when everything is padding
    "head_attention/minus_inf_nan_rows": wrong(
        _head(softmax="(lambda s: np.exp(s - s.max(-1, keepdims=True)) / "
                      "np.exp(s - s.max(-1, keepdims=True)).sum(-1, keepdims=True))("
                      "np.where(mask, scores, -np.inf) if mask is not None else scores)"),
        "test_head_attention_no_keys"),
    "head_attention/scales_query_weights_in_place": wrong({"head_attention": _HEAD_DEF + '''
    W_q[rows] *= 1.0 / np.sqrt(head_dim)        # scale the query weights instead of the
    b_q[rows] *= 1.0 / np.sqrt(head_dim)        # scores: right numbers, but written into W_q
    q = hidden @ W_q[rows].T + b_q[rows]
    k = hidden @ W_k[rows].T + b_k[rows]
    return masked_softmax(q @ k.T, mask)
'''}, "test_head_attention_inputs"),
    # ---------------------------------------------------------------- head_attention: right
    "head_attention/hf_eager_with_zero_rows": right({"head_attention": '''
def head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
    # transformers' BertSelfAttention + eager_attention_forward (modeling_bert.py): linear
    # projections, view(n, heads, head_dim), scores * head_dim**-0.5 plus the additive mask,
    # softmax in float32. Adapted to the contract: the additive mask is -inf, and rows with
    # nothing to attend to are set to 0 instead of BERT's uniform 1/n.
    n, d_model = hidden.shape
    num_heads = d_model // head_dim
    q = (hidden @ W_q.T + b_q).reshape(n, num_heads, head_dim)[:, head]
    k = (hidden @ W_k.T + b_k).reshape(n, num_heads, head_dim)[:, head]
    scores = (q @ k.T) * head_dim ** -0.5
    if attention_mask is not None:
        keep = np.asarray(attention_mask).astype(bool)
        scores = scores + np.where(keep, 0.0, -np.inf)[None, :]
    if not np.isfinite(scores.max(axis=-1)).all():
        return np.zeros(scores.shape)             # every key masked
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''}, source="Hugging Face transformers, models/bert/modeling_bert.py "
             "(BertSelfAttention, eager_attention_forward)"),
    "head_attention/d2l_masked_softmax": right({"head_attention": '''
def head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
    # d2l.ai 11.3 "Attention Scoring Functions": scaled dot-product scores and
    # masked_softmax, which replaces masked entries by a large negative value (-1e6).
    # Adapted to the contract: masked weights are then multiplied by the mask, so they are
    # exactly 0, and a row with no valid key is all zeros.
    rows = slice(head * head_dim, (head + 1) * head_dim)
    queries = hidden @ W_q[rows].T + b_q[rows]
    keys = hidden @ W_k[rows].T + b_k[rows]
    scores = queries @ keys.T / np.sqrt(head_dim)
    valid = np.ones(scores.shape[-1], bool) if attention_mask is None else \\
        np.asarray(attention_mask) != 0
    scores = np.where(valid, scores, -1e6)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True)) * valid
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)
'''}, source="Dive into Deep Learning, section 11.3 (masked_softmax, DotProductAttention)"),
    "head_attention/torch_sdpa_weights": right({"head_attention": '''
import torch

def head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
    # The reference implementation in the docstring of
    # torch.nn.functional.scaled_dot_product_attention: attn_bias filled with -inf where the
    # boolean mask is False, softmax(q @ k^T * scale + attn_bias). Adapted to the contract:
    # numpy out, and nan_to_num turns the NaN of a fully masked row into zeros.
    r = slice(head * head_dim, (head + 1) * head_dim)
    x = torch.from_numpy(np.asarray(hidden, dtype=np.float64))
    q = torch.nn.functional.linear(x, torch.from_numpy(np.asarray(W_q[r], np.float64)),
                                   torch.from_numpy(np.asarray(b_q[r], np.float64)))
    k = torch.nn.functional.linear(x, torch.from_numpy(np.asarray(W_k[r], np.float64)),
                                   torch.from_numpy(np.asarray(b_k[r], np.float64)))
    scale = 1 / head_dim ** 0.5
    attn_bias = torch.zeros(q.shape[0], k.shape[0], dtype=q.dtype)
    if attention_mask is not None:
        keep = torch.from_numpy(np.asarray(attention_mask).astype(bool))
        attn_bias = attn_bias.masked_fill(~keep[None, :], float("-inf"))
    attn_weight = torch.softmax(q @ k.transpose(-2, -1) * scale + attn_bias, dim=-1)
    return torch.nan_to_num(attn_weight, nan=0.0).numpy()
'''}, source="PyTorch docs, torch.nn.functional.scaled_dot_product_attention "
             "(reference implementation in the docstring)"),
    "head_attention/float32_no_key_bias": right({"head_attention": _HEAD_DEF + '''
    # The key bias adds q_i . b_k to every score of row i, a constant softmax ignores; the
    # rest in float32 as the model computes it, and -1e9 plus the contract's zero rows.
    q = (hidden @ W_q[rows].T + b_q[rows]).astype(np.float32)
    k = (hidden @ W_k[rows].T).astype(np.float32)
    scores = (q / np.float32(np.sqrt(head_dim))) @ k.T
    if mask is not None:
        if not mask.any():
            return np.zeros(scores.shape, np.float32)
        scores = scores + np.where(mask, 0.0, -1e9).astype(np.float32)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''}, source="the old notebook-06 equivalent answer (tests/course/test_mutants_06_*.py), with "
             "the all-padding row of the contract"),
    # ------------------------------------------------------------ all_heads_attention: wrong
    "all_heads_attention/wrong_head_split": wrong(
        _all(split="(n, head_dim, num_heads).transpose(2, 0, 1)"), *ALL_VALUES),
    "all_heads_attention/scaled_by_sqrt_d_model": wrong(_all(scale="np.sqrt(d_model)"),
                                                        *ALL_VALUES),
    "all_heads_attention/no_query_bias": wrong(_all(q="hidden @ W_q.T"), *ALL_VALUES),
    "all_heads_attention/transposed_weights": wrong(
        _all(q="hidden @ W_q + b_q", k="hidden @ W_k + b_k"), *ALL_VALUES),
    "all_heads_attention/mask_ignored": wrong(
        _all(softmax="masked_softmax(scores)"),
        "test_all_heads_attention_mask", "test_all_heads_attention_no_keys"),
    # passes on the real model (12 heads of 32); the other head counts show it
    "all_heads_attention/head_dim_hard_coded": wrong(_all(head_dim="32"),
                                                     "test_all_heads_attention_head_count"),
    "all_heads_attention/masked_fill_minus_1e9": wrong(
        _all(softmax="masked_softmax(np.where(mask, scores, -1e9) if mask is not None "
                     "else scores)"), "test_all_heads_attention_no_keys"),
    # issue 15, hostile: helpers.model.run_minilm is replaced so that the reference the old
    # tests took from it equals this answer's uniform weights; the test cells now load the
    # model themselves (and the guard watches helpers.model). The answer also rescales its
    # input in place, so that it loses every one of its cells with or without the guard.
    "all_heads_attention/replaces_helpers_model": wrong({"all_heads_attention": '''
import helpers.model

_genuine_run = helpers.model.run_minilm

def _uniform_run(texts):
    run = _genuine_run(texts)
    n = run.attentions.shape[-1]
    return run._replace(attentions=np.full(run.attentions.shape, 1.0 / n, np.float32))

helpers.model.run_minilm = _uniform_run

def all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
    hidden -= hidden.mean()
    n = hidden.shape[0]
    return np.full((num_heads, n, n), 1.0 / n)
'''}, *ALL_VALUES, "test_all_heads_attention_no_keys", "test_all_heads_attention_inputs"),
    "all_heads_attention/scales_weights_in_place": wrong({"all_heads_attention": _ALL_DEF + '''
    W_q /= np.sqrt(head_dim)
    b_q /= np.sqrt(head_dim)
    q = (hidden @ W_q.T + b_q).reshape(n, num_heads, head_dim).transpose(1, 0, 2)
    k = (hidden @ W_k.T + b_k).reshape(n, num_heads, head_dim).transpose(1, 0, 2)
    return masked_softmax(q @ k.transpose(0, 2, 1), mask)
'''}, "test_all_heads_attention_inputs"),
    # ------------------------------------------------------------ all_heads_attention: right
    "all_heads_attention/hf_transpose_for_scores": right({"all_heads_attention": '''
def all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
    # transformers' BertSelfAttention: transpose_for_scores / view(bsz, -1, heads, head_dim)
    # .transpose(1, 2), scores scaled by head_dim**-0.5, additive mask, softmax. Adapted to
    # the contract: -inf instead of finfo.min, zeros where every key is masked.
    n, d_model = hidden.shape
    head_dim = d_model // num_heads
    def transpose_for_scores(x):
        return x.reshape(n, num_heads, head_dim).transpose(1, 0, 2)
    query_layer = transpose_for_scores(hidden @ W_q.T + b_q)
    key_layer = transpose_for_scores(hidden @ W_k.T + b_k)
    scores = query_layer @ key_layer.transpose(0, 2, 1) * head_dim ** -0.5
    if attention_mask is not None:
        scores = np.where(np.asarray(attention_mask).astype(bool), scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - np.where(np.isneginf(top), 0.0, top))
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)
'''}, source="Hugging Face transformers, models/bert/modeling_bert.py (BertSelfAttention)"),
    "all_heads_attention/annotated_transformer_loop": right({"all_heads_attention": '''
def all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
    # The Annotated Transformer (Harvard NLP), MultiHeadedAttention.forward and attention():
    # view(nbatches, -1, h, d_k).transpose(1, 2), scores.masked_fill(mask == 0, -1e9),
    # softmax. Adapted to the contract: masked weights multiplied by the mask (exact zeros,
    # and all zeros for a sequence without real tokens).
    n, d_model = hidden.shape
    d_k = d_model // num_heads
    query, key = [(hidden @ W.T + b).reshape(n, num_heads, d_k).transpose(1, 0, 2)
                  for W, b in ((W_q, b_q), (W_k, b_k))]
    scores = query @ key.transpose(0, 2, 1) / np.sqrt(d_k)
    if attention_mask is None:
        keep = np.ones(n)
    else:
        keep = (np.asarray(attention_mask) != 0).astype(np.float64)
    scores = np.where(keep == 0, -1e9, scores)
    p_attn = np.exp(scores - scores.max(axis=-1, keepdims=True)) * keep
    total = p_attn.sum(axis=-1, keepdims=True)
    return np.divide(p_attn, total, out=np.zeros_like(p_attn), where=total > 0)
'''}, source="The Annotated Transformer (nlp.seas.harvard.edu/annotated-transformer), "
             "attention() and MultiHeadedAttention"),
    "all_heads_attention/torch_sdpa_math": right({"all_heads_attention": '''
import torch

def all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
    # nn.MultiheadAttention-style in-projection (F.linear) and the math path of
    # torch.nn.functional.scaled_dot_product_attention (its docstring's reference code):
    # attn_bias -inf where masked, softmax over the keys. Adapted: NaN rows -> zeros, numpy.
    x = torch.from_numpy(np.asarray(hidden, dtype=np.float64))
    n, d_model = x.shape
    head_dim = d_model // num_heads
    as_t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))
    q = torch.nn.functional.linear(x, as_t(W_q), as_t(b_q)).view(n, num_heads, head_dim).transpose(0, 1)
    k = torch.nn.functional.linear(x, as_t(W_k), as_t(b_k)).view(n, num_heads, head_dim).transpose(0, 1)
    attn_bias = torch.zeros(n, n, dtype=q.dtype)
    if attention_mask is not None:
        keep = torch.from_numpy(np.asarray(attention_mask).astype(bool))
        attn_bias = attn_bias.masked_fill(~keep, float("-inf"))
    w = torch.softmax(q @ k.transpose(-2, -1) / head_dim ** 0.5 + attn_bias, dim=-1)
    return torch.nan_to_num(w, nan=0.0).numpy()
'''}, source="PyTorch docs, torch.nn.functional.scaled_dot_product_attention (reference "
             "implementation in the docstring) with nn.MultiheadAttention's F.linear projections"),
    "all_heads_attention/loop_over_heads": right({"all_heads_attention": _ALL_DEF + '''
    # a loop over heads, stacked (the old notebook-06 equivalent answer)
    out = []
    for h in range(num_heads):
        r = slice(h * head_dim, (h + 1) * head_dim)
        s = (hidden @ W_q[r].T + b_q[r]) @ (hidden @ W_k[r].T + b_k[r]).T
        out.append(masked_softmax(s / np.sqrt(head_dim), mask))
    return np.stack(out)
'''}, source="the old notebook-06 equivalent answer (tests/course/test_mutants_06_*.py): "
             "head_attention per head, as d2l 11.5 before its transpose_qkv"),
}
