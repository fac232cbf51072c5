"""Builder for course/05-multi-head/multi_head.ipynb (COURSE_SPEC §3, row 05).

Graded: the class ``MultiHeadAttention(d_model, num_heads)``; hidden tests prove it equal to
``torch.nn.MultiheadAttention(batch_first=True)`` after copying weights (self, cross,
causal, padding masks, batch > 1, per-head weights), check that a mask of another rank than
2 or 4 raises ValueError, and that gradients stay finite through a fully masked row
(COURSE_SPEC 3.1). Every hidden assertion names its visible check (``# property: ...``).
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, md, notebook, solution, tests, write

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "course" / "05-multi-head" / "multi_head.ipynb"

INTRO = md("""
# 05 · Multi-head attention

One attention head computes one weighting of the sequence. Transformers run several heads
side by side, each in its own slice of the model dimension, and mix their results. This is
the layer that `torch.nn.MultiheadAttention` implements; by the end of this notebook yours
gives exactly the same numbers.

**Learning goals**

- see heads as **subspaces**: each head projects into its own `d_head = d_model / num_heads`
  dimensions and computes its own attention pattern;
- split and merge heads with `reshape` + `transpose`, and recognise the classic bug of
  reshaping without the transpose;
- build `MultiHeadAttention` and prove it equal to `torch.nn.MultiheadAttention`;
- use it for self-attention, cross-attention (`n_q ≠ n_k`) and causal self-attention;
- avoid PyTorch's mask trap: `True` means opposite things in two PyTorch functions.
""")

IMPORTS = code("""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers import show_heads
from helpers.checks import check_multi_head_attention
from helpers.data import TOKENS, sentence_embeddings

torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
""")

WHY_HEADS = md("""
## 1. Why several heads? Heads are subspaces

With inputs `X: (n, d_model)` and learned `W_q, W_k, W_v, W_o: (d_model, d_model)`, split
the columns of the projections into `h` groups of `d_head = d_model / h`:

$$Q_i = X W_q^{(i)},\\ K_i = X W_k^{(i)},\\ V_i = X W_v^{(i)} : (n, d_{\\text{head}}), \\qquad
\\text{head}_i = \\operatorname{softmax}\\!\\Big(\\frac{Q_i K_i^\\top}{\\sqrt{d_{\\text{head}}}}\\Big) V_i$$

$$\\operatorname{MultiHead}(X) = [\\text{head}_1, \\dots, \\text{head}_h]\\, W_o : (n, d_{\\text{model}}).$$

Note the scale: $\\sqrt{d_{\\text{head}}}$, the size of the vectors that are actually dotted,
not $\\sqrt{d_{\\text{model}}}$. Projecting with all of `W_q` and then taking a slice of the
columns is the same as projecting with that slice of `W_q`: one big matrix product computes
every head's queries at once. Each head sees different coordinates, so it can compute a
different attention pattern, as the cell below shows for the sentence "I love programming".
""")

HEADS_DEMO = code("""
d_model, num_heads = 8, 2
d_head = d_model // num_heads
X = torch.tensor(sentence_embeddings(d_model=d_model), dtype=torch.float32)  # (3, 8)
W_q, W_k = torch.randn(d_model, d_model), torch.randn(d_model, d_model)

Q, K = X @ W_q, X @ W_k                        # all heads at once: (3, 8)
for i in range(num_heads):
    cols = slice(i * d_head, (i + 1) * d_head)
    same = torch.allclose(Q[:, cols], X @ W_q[:, cols])
    weights = torch.softmax(Q[:, cols] @ K[:, cols].T / math.sqrt(d_head), dim=-1)
    print(f"head {i}: slice of Q == X @ slice of W_q: {same}")
    print(weights.numpy().round(3))
""")

WHY_SPLIT = md("""
## 2. Split and merge: `reshape`, then `transpose`

In a batch, `Q` has shape `(batch, seq, d_model)` and the heads are consecutive groups of
`d_head` columns. To give each head its own `(seq, d_head)` matrix:

```
(batch, seq, d_model) --reshape--> (batch, seq, heads, d_head) --transpose(1, 2)--> (batch, heads, seq, d_head)
```

Merging is the exact inverse: `transpose(1, 2)` back to `(batch, seq, heads, d_head)`, then
`reshape` to `(batch, seq, d_model)`.
""")

SPLIT_MERGE = code("""
def split_heads(x, num_heads):
    \"\"\"(batch, seq, d_model) -> (batch, heads, seq, d_head).\"\"\"
    batch, seq, d_model = x.shape
    return x.reshape(batch, seq, num_heads, d_model // num_heads).transpose(1, 2)


def merge_heads(x):
    \"\"\"(batch, heads, seq, d_head) -> (batch, seq, heads * d_head).\"\"\"
    batch, heads, seq, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, seq, heads * d_head)


# token t, feature f is stored as 10 * t + f, so we can read where every number goes
x = (10 * torch.arange(3)[:, None] + torch.arange(4)).float()[None]   # (1, 3 tokens, 4)
print("split into 2 heads, head 0:\\n", split_heads(x, 2)[0, 0])
print("merge(split(x)) == x:", torch.equal(merge_heads(split_heads(x, 2)), x))
""")

WHY_BUG = md("""
### The classic bug: reshape without the transpose

`x.reshape(batch, heads, seq, d_head)` has the right *shape*, and that is why it survives so
long in tutorials and homework. But `reshape` keeps the memory order, so it just cuts the
flat stream of numbers into new rows. Look at which numbers land in "head 0":
""")

BUG_DEMO = code("""
wrong = x.reshape(1, 2, 3, 2)            # (batch, heads, seq, d_head): right shape, wrong content
print("head 0 without transpose:\\n", wrong[0, 0])
print("same values as the correct split?", torch.equal(wrong, split_heads(x, 2)))
""")

AFTER_BUG = md("""
**What just happened.** Correctly split, head 0 holds features 0 and 1 of each token: rows
`[0, 1]`, `[10, 11]`, `[20, 21]`. Without the transpose, "head 0, token 1" is `[2, 3]`: the
second half of token 0. The head mixes tokens, attention then compares the wrong vectors,
and no shape check complains. The only guard is a numerical one: compare with a trusted
implementation, which is what you do next.
""")

TASK = md("""
## 3. Your turn: `MultiHeadAttention`

Write an `nn.Module` with the same interface as `nn.MultiheadAttention(batch_first=True)`
(without dropout):

- `__init__(d_model, num_heads)`: `q_proj`, `k_proj`, `v_proj`, `out_proj`, each
  `nn.Linear(d_model, d_model)` with bias; store `num_heads` (and `d_head`);
  `d_model` must be divisible by `num_heads`;
- `forward(query, key, value, mask=None)`: `query: (batch, n_q, d_model)`,
  `key` and `value: (batch, n_k, d_model)`; `mask` boolean, **True = may attend**, either
  2-D `(n_q, n_k)` (the same for every sequence and head) or 4-D, broadcastable to
  `(batch, num_heads, n_q, n_k)` (e.g. a padding mask `(batch, 1, 1, n_k)`). Any other
  rank raises a `ValueError` that says so: a 3-D mask is ambiguous (`(batch, n_q, n_k)`
  in some libraries, `(heads, n_q, n_k)` by broadcasting), and a wrong guess would
  silently mask the wrong keys;
- returns `(output, weights)`: `output: (batch, n_q, d_model)` (after `out_proj`),
  `weights: (batch, num_heads, n_q, n_k)` (one pattern per head, not averaged);
- a query row with nothing to attend to gets all-zero weights (never NaN), and gradients
  stay finite through it (notebook 04's trap: do not *add* a `-inf` bias);
- the inputs are not modified.

You may use `split_heads` / `merge_heads` from above, or write the reshapes inline.
""")

MHA_SOLUTION = solution("""
class MultiHeadAttention(nn.Module):
    \"\"\"Multi-head attention, equal to nn.MultiheadAttention(d_model, num_heads, batch_first=True).

    Inputs (batch, seq, d_model). mask: bool, True = may attend, 2-D (n_q, n_k) or 4-D
    broadcastable to (batch, num_heads, n_q, n_k); any other rank raises ValueError.
    forward returns (output (batch, n_q, d_model), weights (batch, num_heads, n_q, n_k)).
    A query with nothing to attend to gets all-zero weights, and gradients stay finite
    through it. The inputs are not modified.
    \"\"\"

    def __init__(self, d_model, num_heads):
        super().__init__()
        ### BEGIN SOLUTION
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        ### END SOLUTION

    def forward(self, query, key, value, mask=None):
        \"\"\"query (batch, n_q, d_model); key, value (batch, n_k, d_model);
        mask: bool (n_q, n_k) or 4-D broadcastable to (batch, num_heads, n_q, n_k),
        True = may attend (ValueError for any other rank).

        Returns (output (batch, n_q, d_model), weights (batch, num_heads, n_q, n_k)).
        \"\"\"
        ### BEGIN SOLUTION
        batch, n_q, _ = query.shape
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=query.device)
            if mask.dim() not in (2, 4):
                raise ValueError("mask must be 2-D (n_q, n_k) or 4-D, broadcastable to "
                                 f"(batch, num_heads, n_q, n_k); got a {mask.dim()}-D mask "
                                 f"of shape {tuple(mask.shape)}")

        def split(x):  # (batch, seq, d_model) -> (batch, heads, seq, d_head)
            return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.d_head).transpose(1, 2)

        q = split(self.q_proj(query))
        k = split(self.k_proj(key))
        v = split(self.v_proj(value))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            # masked_fill, not an added -inf bias: its backward drops the filled entries,
            # so a fully masked row (NaN after the softmax) sends no NaN back
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = torch.where(mask, weights, torch.zeros((), dtype=weights.dtype))
        heads = weights @ v                                   # (batch, heads, n_q, d_head)
        merged = heads.transpose(1, 2).reshape(batch, n_q, self.d_model)
        return self.out_proj(merged), weights
        ### END SOLUTION
""", "MultiHeadAttention")

CHECK = code("check_multi_head_attention(MultiHeadAttention)")

# A copy of the weights into torch's layer, defined in each test cell so that no state a
# student can change is shared between the cells.
_TWIN = """
import torch
from torch import nn


def torch_twin(ours, d_model, num_heads):
    twin = nn.MultiheadAttention(d_model, num_heads, batch_first=True).eval()
    with torch.no_grad():
        twin.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        twin.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        twin.out_proj.weight.copy_(ours.out_proj.weight)
        twin.out_proj.bias.copy_(ours.out_proj.bias)
    return twin
"""

TEST_SHAPES = tests("""
import torch
from torch import nn

torch.manual_seed(1)
mha = MultiHeadAttention(8, 2)
x = torch.randn(2, 5, 8)
out, w = mha(x, x, x)
assert tuple(out.shape) == (2, 5, 8), f"output shape should be (2, 5, 8); got {tuple(out.shape)}"
assert tuple(w.shape) == (2, 2, 5, 5), f"weights shape should be (2, 2, 5, 5); got {tuple(w.shape)}"
### BEGIN HIDDEN TESTS
# property: has q_proj, k_proj, v_proj, out_proj = nn.Linear(d_model, d_model)
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    layer = getattr(mha, name, None)
    assert isinstance(layer, nn.Linear), f"{name} should be an nn.Linear"
    assert tuple(layer.weight.shape) == (8, 8) and layer.bias is not None, \\
        f"{name} should be nn.Linear(8, 8) with bias"
# property: returns (output, weights) of shapes (batch, n_q, d_model) and (batch, heads, n_q, n_k)
mha = MultiHeadAttention(12, 3)
q, kv = torch.randn(4, 2, 12), torch.randn(4, 7, 12)
out, w = mha(q, kv, kv)
assert tuple(out.shape) == (4, 2, 12), f"cross-attention output should be (4, 2, 12); got {tuple(out.shape)}"
assert tuple(w.shape) == (4, 3, 2, 7), f"cross-attention weights should be (4, 3, 2, 7); got {tuple(w.shape)}"
# property: each head's weights sum to 1 over the keys
torch.testing.assert_close(w.sum(-1), torch.ones(4, 3, 2), rtol=0, atol=1e-5, check_dtype=False, msg="weights should sum to 1 over the keys")
# property: the inputs are not modified
before = [t.clone() for t in (q, kv)]
mask = torch.ones(2, 7, dtype=torch.bool).tril(diagonal=3)
mask_before = mask.clone()
mha(q, kv, kv)
mha(q, kv, kv, mask=mask)
assert all(torch.equal(a, b) for a, b in zip((q, kv), before)), "the inputs query/key/value were modified"
assert torch.equal(mask, mask_before), "the mask was modified"
### END HIDDEN TESTS
""", "test_MultiHeadAttention", points=1)

TEST_TORCH = tests(_TWIN + """

torch.manual_seed(2)
ours = MultiHeadAttention(8, 2)
twin = torch_twin(ours, 8, 2)
x = torch.randn(3, 4, 8)
with torch.no_grad():
    out, w = ours(x, x, x)
    ref_out, ref_w = twin(x, x, x, need_weights=True, average_attn_weights=False)
torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5, check_dtype=False, msg="output differs from nn.MultiheadAttention (self-attention, batch 3)")
### BEGIN HIDDEN TESTS
# property: self-attention equals nn.MultiheadAttention with the same weights (batch 2, 2 heads)
torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-5, check_dtype=False, msg="per-head weights differ from nn.MultiheadAttention")
for d_model, heads, batch in [(16, 4, 2), (8, 8, 1), (6, 1, 2)]:
    ours = MultiHeadAttention(d_model, heads)
    twin = torch_twin(ours, d_model, heads)
    x = torch.randn(batch, 5, d_model)
    with torch.no_grad():
        out, w = ours(x, x, x)
        ref_out, ref_w = twin(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-5, check_dtype=False, msg=f"self-attention weights differ (d_model={d_model}, heads={heads})")
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5, check_dtype=False, msg=f"self-attention output differs (d_model={d_model}, heads={heads})")
# property: cross-attention (3 queries, 5 keys, 4 heads) equals nn.MultiheadAttention
for d_model, heads, n_q, n_k, batch in [(12, 3, 2, 7, 3), (8, 8, 5, 3, 1), (16, 4, 6, 6, 2)]:
    ours = MultiHeadAttention(d_model, heads)
    twin = torch_twin(ours, d_model, heads)
    q, k, v = torch.randn(batch, n_q, d_model), torch.randn(batch, n_k, d_model), torch.randn(batch, n_k, d_model)
    with torch.no_grad():
        out, w = ours(q, k, v)
        ref_out, ref_w = twin(q, k, v, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-5, check_dtype=False, msg=f"weights differ (d_model={d_model}, heads={heads}, n_q={n_q}, n_k={n_k})")
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5, check_dtype=False, msg=f"output differs (d_model={d_model}, heads={heads}, n_q={n_q}, n_k={n_k})")
### END HIDDEN TESTS
""", "test_MultiHeadAttention_torch", points=4)

TEST_MASK = tests(_TWIN + """

torch.manual_seed(3)
ours = MultiHeadAttention(8, 2)
twin = torch_twin(ours, 8, 2)
x = torch.randn(2, 4, 8)
causal = torch.ones(4, 4, dtype=torch.bool).tril()      # True = may attend
with torch.no_grad():
    out, w = ours(x, x, x, mask=causal)
    ref_out, ref_w = twin(x, x, x, attn_mask=~causal, need_weights=True, average_attn_weights=False)
torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5, check_dtype=False, msg="causal self-attention differs from nn.MultiheadAttention")
### BEGIN HIDDEN TESTS
# property: masks (True = may attend), 2-D causal and 4-D padding, give nn.MultiheadAttention's result
torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-5, check_dtype=False, msg="causal per-head weights differ from nn.MultiheadAttention")
assert torch.all(w[..., ~causal] == 0), "masked positions should get exactly zero weight"
# a padding mask per batch element, broadcast over heads and queries: (batch, 1, 1, n_k)
ours = MultiHeadAttention(12, 3)
twin = torch_twin(ours, 12, 3)
q, kv = torch.randn(2, 3, 12), torch.randn(2, 5, 12)
keep = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
with torch.no_grad():
    out, w = ours(q, kv, kv, mask=keep[:, None, None, :])
    ref_out, ref_w = twin(q, kv, kv, key_padding_mask=~keep, need_weights=True, average_attn_weights=False)
torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-5, check_dtype=False, msg="padding mask (batch, 1, 1, n_k): weights differ from nn.MultiheadAttention")
torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5, check_dtype=False, msg="padding mask (batch, 1, 1, n_k): output differs")
# a full 4-D mask, one pattern per sequence and head
full = torch.rand(2, 3, 3, 5) < 0.7
full[..., 0] = True                                     # every query keeps a key
with torch.no_grad():
    out, w = ours(q, kv, kv, mask=full)
    ref_out, ref_w = twin(q, kv, kv, attn_mask=~full.reshape(6, 3, 5), need_weights=True, average_attn_weights=False)
torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-5, check_dtype=False, msg="mask (batch, heads, n_q, n_k): weights differ from nn.MultiheadAttention")
torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5, check_dtype=False, msg="mask (batch, heads, n_q, n_k): output differs")
# property: a fully masked query row gets zero weights, not NaN
mask = torch.ones(3, 5, dtype=torch.bool)
mask[1] = False
with torch.no_grad():
    out, w = ours(q, kv, kv, mask=mask)
    ref_out, ref_w = twin(q, kv, kv, attn_mask=~mask, need_weights=True, average_attn_weights=False)
assert not torch.isnan(w).any() and not torch.isnan(out).any(), "a fully masked row gave NaN"
assert torch.all(w[:, :, 1] == 0), "a fully masked row should get all-zero weights"
torch.testing.assert_close(out[:, 1], ours.out_proj.bias.detach().expand(2, 12), rtol=1e-5, atol=1e-6, check_dtype=False,
                           msg="with zero weights the heads output 0, so the output is out_proj's bias")
keep_rows = [0, 2]
torch.testing.assert_close(out[:, keep_rows], ref_out[:, keep_rows], rtol=1e-4, atol=1e-5, check_dtype=False, msg="rows that can attend are wrong")
### END HIDDEN TESTS
""", "test_MultiHeadAttention_mask", points=2)

TEST_MASK_RANK = tests("""
import torch

torch.manual_seed(4)
mha = MultiHeadAttention(8, 2)
q, kv = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
three_d = torch.ones(2, 3, 5, dtype=torch.bool)          # (batch, n_q, n_k)? or (heads, n_q, n_k)?
try:
    mha(q, kv, kv, mask=three_d)
except ValueError:
    pass
else:
    raise AssertionError("a 3-D mask should raise ValueError: masks are 2-D (n_q, n_k) or 4-D")
### BEGIN HIDDEN TESTS
# property: a mask that is not 2-D or 4-D raises ValueError
for bad in (torch.ones(1, 3, 5, dtype=torch.bool),         # broadcasts silently if not checked
            torch.ones(5, dtype=torch.bool),               # (n_k,)
            torch.ones(1, 1, 1, 3, 5, dtype=torch.bool)):  # 5-D
    try:
        mha(q, kv, kv, mask=bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"a {bad.dim()}-D mask of shape {tuple(bad.shape)} should raise ValueError: masks are 2-D (n_q, n_k) or 4-D")
### END HIDDEN TESTS
""", "test_MultiHeadAttention_mask_rank", points=1)

TEST_GRAD = tests("""
import torch

torch.manual_seed(5)
mha = MultiHeadAttention(8, 2).double()
q = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
kv = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
mask = torch.tensor([[True, False, True, True],
                     [False, False, False, False],     # query 1 may attend to nothing
                     [True, True, False, False]])
out, _ = mha(q, kv, kv, mask=mask)
(out * torch.randn_like(out)).sum().backward()
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    g = getattr(mha, name).weight.grad
    assert g is not None and torch.isfinite(g).all(), f"with a fully masked query row the gradient of {name}.weight is missing or not finite"
### BEGIN HIDDEN TESTS
# property: gradients reach every projection and stay finite through a fully masked row
for name, t in (("query", q), ("key/value", kv)):
    assert t.grad is not None and torch.isfinite(t.grad).all(), f"with a fully masked query row the gradient of the {name} input is missing or not finite"
# without a mask, every projection gets a nonzero gradient
mha.zero_grad()
out, _ = mha(q, kv, kv)
(out * torch.randn_like(out)).sum().backward()
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    g = getattr(mha, name).weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, f"no useful gradient reaches {name}"
# a whole padded-out sequence in a batch: (batch, 1, 1, n_k) with batch element 1 all False
mha.zero_grad()
pad = torch.tensor([[True, True, False, True], [False] * 4])[:, None, None, :]
out, _ = mha(q, kv, kv, mask=pad)
out.square().sum().backward()
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    g = getattr(mha, name).weight.grad
    assert g is not None and torch.isfinite(g).all(), f"a fully padded sequence makes the gradient of {name}.weight missing or not finite"
### END HIDDEN TESTS
""", "test_MultiHeadAttention_grad", points=1)

AFTER_TESTS = md("""
**What just happened.** Your layer and PyTorch's give the same numbers once they share
weights. `nn.MultiheadAttention` stores `W_q, W_k, W_v` stacked in one `in_proj_weight` of
shape `(3 d_model, d_model)`: rows `0:d`, `d:2d`, `2d:3d`. That is the copy the tests make.
""")

WHY_PICTURE = md("""
## 4. A picture: one pattern per head

Self-attention of "I love programming" through an untrained, seeded layer with 4 heads.
PyTorch's default initialisation is small, which makes every head almost uniform, so we draw
`W_q` and `W_k` from a standard normal instead (the cell after the picture measures how
close that comes to a trained model). Every head gets the same three tokens but looks at
them through its own 2-dimensional subspace, so the patterns differ. Notebook 06 shows the
heads of a trained model.
""")

PICTURE = code("""
def sharpen(layer):
    \"\"\"Standard-normal W_q and W_k: larger scores, sharper (less uniform) patterns.\"\"\"
    with torch.no_grad():
        layer.q_proj.weight.normal_()
        layer.k_proj.weight.normal_()
    return layer


torch.manual_seed(0)
layer = sharpen(MultiHeadAttention(8, 4))
X = torch.tensor(sentence_embeddings(d_model=8), dtype=torch.float32)[None]   # (1, 3, 8)
with torch.no_grad():
    _, weights = layer(X, X, X)                                             # (1, 4, 3, 3)
show_heads(weights[0], TOKENS, TOKENS, suptitle="self-attention, 4 heads: each row sums to 1")
plt.show()
""")

WHY_CROSS = md("""
## 5. Self-attention, cross-attention, causal self-attention

- **Self-attention**: `query = key = value = X`; every token scores every token of the same
  sequence, `n_q = n_k`.
- **Cross-attention**: the queries come from one sequence and the keys and values from
  another (a decoder reading the encoder's output in translation). Then `n_q ≠ n_k` and the
  weights are rectangular, `(batch, heads, n_q, n_k)`.
- **Causal self-attention**: a language model predicting the next token may not look
  ahead. A boolean mask `(n, n)` with True on and below the diagonal lets query `i` see keys
  `0..i` only.
""")

CROSS = code("""
torch.manual_seed(0)
layer = sharpen(MultiHeadAttention(8, 2))
target = torch.randn(1, 2, 8)                      # 2 tokens of another sequence ask...
with torch.no_grad():
    _, cross_w = layer(target, X, X)               # ...the 3 tokens of the sentence
print("cross-attention weights:", tuple(cross_w.shape))
show_heads(cross_w[0], ["<s>", "J'"], TOKENS, suptitle="cross-attention: 2 queries, 3 keys")
plt.show()
""")

WHY_SPREAD = md("""
**Is that realistic?** Measure it. The *spread* of a query's scores (their standard
deviation over the keys) decides how peaked its softmax is. Below: the median spread over
heads and queries for PyTorch's default initialisation, for the standard-normal `W_q, W_k`
used above, and for each layer of the trained model of notebook 06 (all-MiniLM-L6-v2,
12 heads of size 32) on the same sentence, computed from its weights.
""")

SPREAD = code("""
from helpers.model import qk_weights, run_minilm


def score_spread(q, k, heads):
    \"\"\"Median over heads and queries of the std of a query's scores; q, k: (n, d_model).\"\"\"
    n, d = q.shape
    qh, kh = (t.reshape(n, heads, d // heads).transpose(0, 1) for t in (q, k))
    scores = qh @ kh.transpose(-2, -1) / math.sqrt(d // heads)
    return scores.std(dim=-1).median().item()


torch.manual_seed(0)
default = MultiHeadAttention(8, 4)
with torch.no_grad():
    for name, mha in (("default init", default), ("standard-normal W_q, W_k", layer)):
        print(f"{name:26s}: {score_spread(mha.q_proj(X[0]), mha.k_proj(X[0]), 4):.2f}")

run = run_minilm("I love programming")
spreads = []
for l in range(6):
    W_q, b_q, W_k, b_k = (torch.from_numpy(a) for a in qk_weights(l))
    h = torch.from_numpy(run.hidden_states[l, 0])             # layer l's input, (n, 384)
    spreads.append(score_spread(h @ W_q.T + b_q, h @ W_k.T + b_k, 12))
print("MiniLM layers 0-5          :", " ".join(f"{s:.2f}" for s in spreads))
""")

AFTER_SPREAD = md("""
**What just happened.** The default initialisation gives scores that hardly vary (a spread
of about 0.1, so every softmax is nearly uniform), while the trained model's heads spread
their scores by one to two and a half units. Standard-normal `W_q` and `W_k` give a spread
of the same order (somewhat sharper than the trained heads), which is why the pictures here
use them: they look more like a trained model than the default initialisation does.
""")

CAUSAL = code("""
causal = torch.ones(3, 3, dtype=torch.bool).tril()   # True = may attend
with torch.no_grad():
    _, causal_w = layer(X, X, X, mask=causal)
show_heads(causal_w[0], TOKENS, TOKENS, mask=causal.expand(2, 3, 3),
           suptitle="causal self-attention: no token sees a later one")
plt.show()
""")

WHY_TRAP = md("""
## 6. The PyTorch mask trap

PyTorch has two attention functions whose boolean masks mean **opposite** things:

| function | `True` in a boolean mask means |
| --- | --- |
| `F.scaled_dot_product_attention(..., attn_mask=m)` | may attend (like this course) |
| `nn.MultiheadAttention(...)(..., attn_mask=m)` | **blocked** (and `key_padding_mask`: True = padding) |

Passing the same causal mask to both gives two different answers, without any error. And
when a query row has nothing to attend to, the two also disagree: SDPA returns zeros,
`nn.MultiheadAttention` returns NaN. Checked below with torch 2.13.
""")

TRAP = code("""
torch.manual_seed(0)
twin = nn.MultiheadAttention(8, 2, batch_first=True).eval()
x = torch.randn(1, 3, 8)
with torch.no_grad():
    _, w_same_mask = twin(x, x, x, attn_mask=causal, average_attn_weights=False)
    _, w_inverted = twin(x, x, x, attn_mask=~causal, average_attn_weights=False)
print("nn.MultiheadAttention with the causal mask as is (True = blocked!), head 0:")
print(w_same_mask[0, 0])
print("with ~causal (the correct translation), head 0:")
print(w_inverted[0, 0])
""")

TRAP_NAN = code("""
nothing = torch.tensor([[True, False, False],
                        [True, True, False],
                        [False, False, False]])      # query 2 may attend to nothing
q = torch.randn(1, 1, 3, 4)                          # (batch, heads, n, d) for SDPA
print("SDPA, query 2:", F.scaled_dot_product_attention(q, q, q, attn_mask=nothing)[0, 0, 2])
with torch.no_grad():
    out, w = twin(x, x, x, attn_mask=~nothing)
print("nn.MultiheadAttention, weights of query 2:", w[0, 2])
print("nn.MultiheadAttention, output of query 2 has NaN:", bool(torch.isnan(out[0, 2]).any()))
""")

AFTER_TRAP = md("""
**What just happened.** Same mask, same layer, two different attention patterns: passed as
is, the causal mask *blocks* the diagonal and the past in `nn.MultiheadAttention`, so each
token looks only at the future, and the last token, blocked everywhere, gets NaN. Whenever you hand a mask to a library, check its
convention and test one small case by hand. This course (and your `MultiHeadAttention`)
uses True = may attend and gives a fully masked row zero weights, like SDPA.
""")

SUMMARY = md("""
## Summary

- Multi-head attention = `h` attentions in parallel, each on its own `d_head`-dimensional
  slice of the projections, concatenated and mixed by `W_o`; scale by `sqrt(d_head)`.
- Split with `reshape(batch, seq, h, d_head).transpose(1, 2)`, merge with the inverse. A
  reshape without the transpose has the right shape and the wrong content.
- Self-attention: `n_q = n_k`; cross-attention: queries from one sequence, keys and values
  from another; causal self-attention masks the future.
- Boolean masks: SDPA says True = may attend, `nn.MultiheadAttention` says True = blocked.

## Going further

- Vaswani et al. (2017), *Attention Is All You Need*, section 3.2.2:
  <https://arxiv.org/abs/1706.03762>
- PyTorch `nn.MultiheadAttention`:
  <https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html>
- PyTorch `F.scaled_dot_product_attention`:
  <https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html>
- The Annotated Transformer: <https://nlp.seas.harvard.edu/annotated-transformer/>
""")


def build() -> Path:
    cells = [INTRO, IMPORTS, WHY_HEADS, HEADS_DEMO, WHY_SPLIT, SPLIT_MERGE, WHY_BUG, BUG_DEMO,
             AFTER_BUG, TASK, MHA_SOLUTION, CHECK, TEST_SHAPES, TEST_TORCH, TEST_MASK,
             TEST_MASK_RANK, TEST_GRAD, AFTER_TESTS, WHY_PICTURE, PICTURE, WHY_SPREAD, SPREAD,
             AFTER_SPREAD, WHY_CROSS, CROSS, CAUSAL, WHY_TRAP, TRAP,
             TRAP_NAN, AFTER_TRAP, SUMMARY]
    return write(notebook(cells), TARGET)


if __name__ == "__main__":
    print(build())
