"""Notebook 05 (multi-head attention): wrong answers and correct answers in other styles.

Graded: the class ``MultiHeadAttention(d_model, num_heads)``. Test cells: projections,
shapes, row sums and inputs unchanged (``test_MultiHeadAttention``), self and cross attention
equal to ``nn.MultiheadAttention`` (``_torch``), 2-D and 4-D masks and a fully masked row
(``_mask``), ValueError for masks that are not 2-D or 4-D (``_mask_rank``), gradients that
reach every projection and stay finite through a fully masked row (``_grad``).

Correct answers are ports of public implementations, adapted only where the contract needs
it: the four projections are ``q_proj, k_proj, v_proj, out_proj`` (so the test can copy them
into ``nn.MultiheadAttention``), masks are boolean True = may attend, 2-D or 4-D (anything
else a ValueError), a fully masked row gets zero weights and finite gradients, and the
per-head weights are returned.
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "05-multi-head"
NOTEBOOK = "multi_head.ipynb"

MAIN = "test_MultiHeadAttention"
TORCH = "test_MultiHeadAttention_torch"
MASK = "test_MultiHeadAttention_mask"
RANK = "test_MultiHeadAttention_mask_rank"
GRAD = "test_MultiHeadAttention_grad"

_INIT = '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError("d_model must be divisible by num_heads")
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
'''

# the contract's rank rule, shared by the correct styles below
_RANK = '''
def check_mask_rank(mask):
    if mask.dim() not in (2, 4):
        raise ValueError("mask must be 2-D (n_q, n_k) or 4-D, broadcastable to "
                         "(batch, num_heads, n_q, n_k); got a %d-D mask of shape %s"
                         % (mask.dim(), tuple(mask.shape)))
    return mask
'''

# The notebook's own layout, with the places a mistake goes as fields (the one-line mutants
# of the old tests/course/test_mutants_05_multi_head.py, migrated).
_MHA = _INIT + '''
    def forward(self, query, key, value, mask=None):
        batch, n_q, _ = query.shape
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool)
            {rank}

        def split(x):
            return {split}

        q = split(self.q_proj(query))
        k = split({k_proj}(key))
        v = split(self.v_proj(value))
        scores = q @ k.transpose(-2, -1) / math.sqrt({scale})
        if mask is not None:
            {fill}
        weights = torch.softmax(scores, dim={dim})
        if mask is not None:
            {zero}
        heads = weights @ v
        merged = {merge}
        return {ret}
'''
_OK = dict(
    rank='if mask.dim() not in (2, 4):\n'
         '                raise ValueError("mask must be 2-D (n_q, n_k) or 4-D; got %d-D" % mask.dim())',
    split="x.reshape(x.shape[0], x.shape[1], self.num_heads, self.d_head).transpose(1, 2)",
    k_proj="self.k_proj", scale="self.d_head",
    fill='scores = scores.masked_fill(~mask, float("-inf"))',
    dim="-1", zero="weights = torch.where(mask, weights, 0.0)",
    merge="heads.transpose(1, 2).reshape(batch, n_q, self.d_model)",
    ret="self.out_proj(merged), weights")


def _mha(**mistake: str) -> dict[str, str]:
    return {"MultiHeadAttention": _MHA.format(**{**_OK, **mistake})}


# The Annotated Transformer's MultiHeadedAttention + attention(), dropout left out; its
# self.linears[0..3] are named q_proj, k_proj, v_proj, out_proj here.
_ANNOTATED = '''
def attention(query, key, value, mask=None):
    d_k = query.size(-1)
    scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    p_attn = scores.softmax(dim=-1)
    if mask is not None:
        p_attn = p_attn.masked_fill(mask == 0, 0.0)   # contract: masked weights exactly 0
    return torch.matmul(p_attn, value), p_attn
''' + _RANK + _INIT.replace("self.d_model, self.num_heads, self.d_head",
                            "self.d_model, self.h, self.d_k").replace(
    "        self.q_proj = nn.Linear", "        self.num_heads = num_heads\n"
                                      "        self.q_proj = nn.Linear") + '''
    def forward(self, query, key, value, mask=None):
        if mask is not None:
            # the original unsqueezes a (batch, n_q, n_k) mask here; the contract's masks are
            # 2-D or 4-D and broadcast against (batch, heads, n_q, n_k) as they are
            mask = check_mask_rank(torch.as_tensor(mask, dtype=torch.bool))
        nbatches = query.size(0)
        query, key, value = [
            lin(x).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
            for lin, x in zip((self.q_proj, self.k_proj, self.v_proj), (query, key, value))
        ]
        x, self.attn = attention(query, key, value, mask=mask)
        x = x.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        return self.out_proj(x), self.attn
'''
_ANNOTATED_FAITHFUL_ROW = _ANNOTATED.replace(
    "    if mask is not None:\n        p_attn = p_attn.masked_fill(mask == 0, 0.0)"
    "   # contract: masked weights exactly 0\n", "")

# d2l 11.5 MultiHeadAttention: heads folded into the batch axis (transpose_qkv /
# transpose_output), DotProductAttention with masked_softmax (value=-1e6).
_D2L = _RANK + _INIT + '''
    def transpose_qkv(self, X):
        X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1)
        X = X.permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(self, X):
        X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2])
        X = X.permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)

    def forward(self, queries, keys, values, mask=None):
        batch, n_q, n_k = queries.shape[0], queries.shape[1], keys.shape[1]
        queries = self.transpose_qkv(self.q_proj(queries))
        keys = self.transpose_qkv(self.k_proj(keys))
        values = self.transpose_qkv(self.v_proj(values))
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(queries.shape[-1])
        if mask is None:
            weights = nn.functional.softmax(scores, dim=-1)
        else:
            mask = check_mask_rank(torch.as_tensor(mask, dtype=torch.bool))
            # valid_lens -> a boolean mask, repeated for every head like d2l's valid_lens
            mask = mask.expand(batch, self.num_heads, n_q, n_k).reshape(-1, n_q, n_k)
            scores = scores.masked_fill(~mask, -1e6)
            weights = nn.functional.softmax(scores, dim=-1) * mask   # contract: zeros
        output = torch.bmm(weights, values)
        output_concat = self.transpose_output(output)
        return self.out_proj(output_concat), weights.reshape(batch, self.num_heads, n_q, n_k)
'''

# nanoGPT CausalSelfAttention.forward, manual path: view + transpose per head, then
# y.transpose(1, 2).contiguous().view(B, T, C) and c_proj. Separate q/k/v projections
# instead of the fused c_attn (cross-attention needs them), a general mask for the causal
# buffer, nan_to_num for rows with nothing to attend to.
_NANOGPT = _RANK + _INIT + '''
    def forward(self, query, key, value, mask=None):
        B, T, C = query.size()
        S = key.size(1)
        q = self.q_proj(query).view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)
        k = self.k_proj(key).view(B, S, self.num_heads, C // self.num_heads).transpose(1, 2)
        v = self.v_proj(value).view(B, S, self.num_heads, C // self.num_heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if mask is not None:
            mask = check_mask_rank(torch.as_tensor(mask, dtype=torch.bool))
            att = att.masked_fill(mask == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        att = torch.nan_to_num(att, nan=0.0)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.out_proj(y), att
'''

# Hugging Face BertSelfAttention (eager): transpose_for_scores = view + permute, an additive
# extended attention mask of finfo.min, context_layer.permute(0, 2, 1, 3); BertSelfOutput's
# dense layer is out_proj (no dropout, no LayerNorm: those belong to the block).
_HF_BERT = _RANK + _INIT + '''
    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_heads, self.d_head)
        x = x.view(new_x_shape)
        return x.permute(0, 2, 1, 3)

    def forward(self, query, key, value, mask=None):
        query_layer = self.transpose_for_scores(self.q_proj(query))
        key_layer = self.transpose_for_scores(self.k_proj(key))
        value_layer = self.transpose_for_scores(self.v_proj(value))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.d_head)
        if mask is not None:
            mask = check_mask_rank(torch.as_tensor(mask, dtype=torch.bool))
            extended = torch.zeros(mask.shape, dtype=attention_scores.dtype).masked_fill(
                ~mask, torch.finfo(attention_scores.dtype).min)
            attention_scores = attention_scores + extended
        attention_probs = nn.functional.softmax(attention_scores, dim=-1)
        if mask is not None:   # contract: masked weights exactly 0, an empty row all zeros
            attention_probs = torch.where(mask, attention_probs, 0.0)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.d_model,)
        context_layer = context_layer.view(new_context_layer_shape)
        return self.out_proj(context_layer), attention_probs
'''

# einsum: heads never transposed, the axes are named instead
_EINSUM = _RANK + _INIT + '''
    def forward(self, query, key, value, mask=None):
        b, n_q, _ = query.shape
        n_k = key.shape[1]
        q = self.q_proj(query).reshape(b, n_q, self.num_heads, self.d_head)
        k = self.k_proj(key).reshape(b, n_k, self.num_heads, self.d_head)
        v = self.v_proj(value).reshape(b, n_k, self.num_heads, self.d_head)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.d_head)
        if mask is not None:
            mask = check_mask_rank(torch.as_tensor(mask, dtype=torch.bool))
            scores = torch.where(mask, scores, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = torch.where(mask, weights, 0.0)
        heads = torch.einsum("bhqk,bkhd->bqhd", weights, v)
        return self.out_proj(heads.reshape(b, n_q, self.d_model)), weights
'''

# PyTorch's fused kernel for the output; the weights computed beside it for the return value
_TORCH_SDPA = _RANK + _INIT + '''
    def forward(self, query, key, value, mask=None):
        b, n_q, _ = query.shape
        q, k, v = (proj(x).unflatten(-1, (self.num_heads, self.d_head)).transpose(1, 2)
                   for proj, x in ((self.q_proj, query), (self.k_proj, key), (self.v_proj, value)))
        if mask is not None:
            mask = check_mask_rank(torch.as_tensor(mask, dtype=torch.bool))
            full = mask.expand(b, self.num_heads, n_q, k.shape[-2])
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else full)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(~full, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights.masked_fill(~full, 0.0)
        return self.out_proj(heads.transpose(1, 2).flatten(2)), weights
'''

ANSWERS: dict[str, Answer] = {
    # ------------------------------------------------------------------ wrong
    # (batch, seq, d_model) -> (batch, heads, seq, d_head) in one reshape: right shape only
    "MultiHeadAttention/split_without_transpose": wrong(
        _mha(split="x.reshape(x.shape[0], self.num_heads, x.shape[1], self.d_head)"),
        TORCH, MASK),
    "MultiHeadAttention/missing_out_proj": wrong(_mha(ret="merged, weights"), TORCH, MASK, GRAD),
    "MultiHeadAttention/scale_by_sqrt_d_model": wrong(_mha(scale="self.d_model"), TORCH, MASK),
    "MultiHeadAttention/softmax_over_queries": wrong(_mha(dim="-2"), MAIN, TORCH, MASK),
    # nn.MultiheadAttention's convention (True = blocked)
    "MultiHeadAttention/mask_inverted": wrong(_mha(
        fill='scores = scores.masked_fill(mask, float("-inf"))',
        zero="weights = torch.where(mask, 0.0, weights)"), MASK),
    "MultiHeadAttention/merge_without_transpose": wrong(
        _mha(merge="heads.reshape(batch, n_q, self.d_model)"), TORCH, MASK),
    "MultiHeadAttention/one_projection_for_q_and_k": wrong(
        _mha(k_proj="self.q_proj"), TORCH, MASK, GRAD),
    # nn.MultiheadAttention's default average_attn_weights=True
    "MultiHeadAttention/averaged_heads": wrong(
        _mha(ret="self.out_proj(merged), weights.mean(dim=1)"), MAIN, TORCH, MASK),
    # a 3-D mask broadcasts silently as (heads, n_q, n_k)
    "MultiHeadAttention/accepts_any_mask_rank": wrong(_mha(rank="pass"), RANK),
    "MultiHeadAttention/nan_on_fully_masked_row": wrong(_mha(zero="pass"), MASK, GRAD),
    # forward repaired with torch.where, but the -inf was ADDED: NaN gradients
    "MultiHeadAttention/added_minus_inf_bias_nan_gradient": wrong(_mha(
        fill='scores = scores + torch.zeros(mask.shape, dtype=scores.dtype).masked_fill('
             '~mask, float("-inf"))'), GRAD),
    # the Annotated Transformer's -1e9 kept: an empty row gets uniform weights
    "MultiHeadAttention/annotated_transformer_faithful_uniform_row": wrong(
        {"MultiHeadAttention": _ANNOTATED_FAITHFUL_ROW}, MASK),

    # ------------------------------------------------------------------ right
    "MultiHeadAttention/annotated_transformer": right(
        {"MultiHeadAttention": _ANNOTATED},
        source="The Annotated Transformer (nlp.seas.harvard.edu/annotated-transformer), "
               "MultiHeadedAttention and attention(); adapted: self.linears named "
               "q_proj/k_proj/v_proj/out_proj, no mask.unsqueeze(1) (2-D/4-D masks), "
               "masked weights zeroed after the -1e9 softmax"),
    "MultiHeadAttention/d2l_heads_in_batch": right(
        {"MultiHeadAttention": _D2L},
        source="Dive into Deep Learning, 11.5 (Multi-Head Attention): transpose_qkv / "
               "transpose_output and bmm over batch*heads; adapted: boolean mask instead of "
               "valid_lens, projections with bias and the contract's names, weights reshaped "
               "to (batch, heads, n_q, n_k)"),
    "MultiHeadAttention/nanogpt_manual_path": right(
        {"MultiHeadAttention": _NANOGPT},
        source="nanoGPT model.py, CausalSelfAttention.forward (manual path); adapted: "
               "separate q/k/v projections for cross-attention, general mask, nan_to_num"),
    "MultiHeadAttention/hf_bert_self_attention": right(
        {"MultiHeadAttention": _HF_BERT},
        source="Hugging Face transformers, BertSelfAttention (eager: transpose_for_scores, "
               "additive finfo.min extended mask) + BertSelfOutput.dense; adapted: boolean "
               "mask, masked weights zeroed, no dropout/LayerNorm"),
    "MultiHeadAttention/einsum_named_axes": right(
        {"MultiHeadAttention": _EINSUM},
        source="einsum multi-head attention ('bqhd,bkhd->bhqk') as in T. Rocktaeschel, "
               "'Einsum is all you need' (https://rockt.github.io/2018/04/30/einsum)"),
    "MultiHeadAttention/torch_sdpa_for_the_output": right(
        {"MultiHeadAttention": _TORCH_SDPA},
        source="PyTorch F.scaled_dot_product_attention (boolean attn_mask, True = may "
               "attend) for the heads, as nn.MultiheadAttention's fast path does; weights "
               "computed beside it"),
}
