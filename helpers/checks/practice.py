"""Checks for notebook 06 (attention in practice): one head, and all heads, of a real BERT.

The reference is never a re-implementation: each check builds a tiny randomly initialised
``transformers`` BertModel (eager attention, random non-zero biases, a seeded RNG that does
not touch the notebook's) and compares the student's weights with the attention that the
model itself returns with ``output_attentions=True``. The one exception is a sequence that is
all padding: there the course's contract (COURSE_SPEC section 3: a query row with nothing to
attend to gets all-zero weights, never NaN) differs from BERT, whose additive mask gives
``1/n`` everywhere, so that property compares with zeros.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._framework import Checker, Report

__all__ = ["check_head_attention", "check_all_heads_attention"]

ATOL = 1e-5

HINT_LINEAR = ("a Linear layer computes hidden @ weight.T + bias, and its weight has shape "
               "(out_features, in_features): are the weights used the right way round, and "
               "are both biases added? Queries come from the query weights, keys from the "
               "key weights; the scores are divided by sqrt(head_dim), not sqrt(d_model).")
HINT_ROWS = ("head h owns output features h*head_dim up to (h+1)*head_dim: the same rows "
             "of the query weight, the key weight and both biases.")
HINT_MASK = ("keys whose mask entry is False (or 0) are padding: no query may attend to "
             "them, so their weight must be exactly 0.0 after the softmax, in every row. "
             "masked_softmax (defined above) takes care of that.")
HINT_NO_KEYS = ("with every key padding, no query has anything to attend to: the course's "
                "convention is all-zero weights, never NaN. BERT's own additive mask (or "
                "masked_fill with -1e9) gives 1/n everywhere there instead, and a -inf mask "
                "without care gives NaN (-inf minus -inf); masked_softmax (defined above) "
                "gives the zeros.")
HINT_ROWS_SUM = "softmax over the keys, i.e. the last axis, so each row sums to 1."
HINT_UNMODIFIED = "work on new arrays (x = x + b, not x += b) so the caller's data stays intact."


@dataclass(frozen=True)
class _Case:
    hidden: np.ndarray          # (n, d_model) float32: the input of layer 0
    W_q: np.ndarray
    b_q: np.ndarray
    W_k: np.ndarray
    b_k: np.ndarray
    attentions: np.ndarray      # (heads, n, n): the model's own layer-0 attention
    mask: np.ndarray            # (n,) int 0/1, 1 = real token


def _tiny_bert(num_heads: int, head_dim: int, n: int, n_pad: int, seed: int) -> _Case:
    """A random 1-layer BERT run on ``n`` tokens, the last ``n_pad`` of them padding."""
    import torch
    from transformers import BertConfig, BertModel

    d_model = num_heads * head_dim
    config = BertConfig(vocab_size=50, hidden_size=d_model, num_hidden_layers=1,
                        num_attention_heads=num_heads, intermediate_size=16,
                        max_position_embeddings=32, attn_implementation="eager")
    with torch.random.fork_rng():  # leave the notebook's torch RNG alone
        torch.manual_seed(seed)
        model = BertModel(config, add_pooling_layer=False).eval()
        with torch.no_grad():
            for p in model.parameters():  # BERT initialises biases to 0; we want them live
                p.normal_(0.0, 0.3)
        ids = torch.randint(1, 50, (1, n))
    mask = torch.ones(1, n, dtype=torch.long)
    if n_pad:
        mask[0, -n_pad:] = 0
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True,
                    output_hidden_states=True)
    attn = model.encoder.layer[0].attention.self
    def numpy(t: Any) -> np.ndarray:
        return t.detach().numpy().copy()
    return _Case(numpy(out.hidden_states[0][0]), numpy(attn.query.weight),
                 numpy(attn.query.bias), numpy(attn.key.weight), numpy(attn.key.bias),
                 numpy(out.attentions[0][0]), mask[0].numpy())


def _args(case: _Case) -> tuple[np.ndarray, ...]:
    return (case.hidden.copy(), case.W_q.copy(), case.b_q.copy(), case.W_k.copy(),
            case.b_k.copy())


def _as_array(out: Any, name: str) -> np.ndarray:
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    assert out is not None, f"{name} returned None; did you forget to return the weights?"
    return np.asarray(out, dtype=np.float64)


def _close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    err = float(np.max(np.abs(got - want)))
    assert err <= ATOL, f"{what}: largest difference from the model's own weights is {err:.3g}"


NO_KEYS = "a sequence that is all padding gives all-zero weights, never NaN"


def _all_zero(out: Any, shape: tuple[int, ...]) -> None:
    got = _as_array(out, "the function")
    assert got.shape == shape, f"all padding: shape {got.shape}, expected {shape}"
    assert not np.isnan(got).any(), "with every key padding the weights are NaN"
    assert np.all(got == 0.0), (f"with every key padding every weight should be exactly 0; "
                                f"got values up to {np.abs(got).max():.3g}")


def _unmodified(fn: Callable, call: Callable[[tuple], Any], case: _Case) -> None:
    args = _args(case)
    mask = case.mask.copy()
    call(args + (mask,))
    names = ("hidden", "W_q", "b_q", "W_k", "b_k")
    for name, before, after in zip(names, _args(case), args):
        assert np.array_equal(before, after), f"{name} was changed by the call"
    assert np.array_equal(mask, case.mask), "attention_mask was changed by the call"


def check_head_attention(fn: Callable) -> Report:
    """Check ``head_attention(hidden, W_q, b_q, W_k, b_k, head, head_dim=32,
    attention_mask=None) -> (n, n)`` against a tiny random BERT's own attention."""
    checker = Checker("head_attention")
    case = _tiny_bert(num_heads=4, head_dim=8, n=6, n_pad=0, seed=0)
    padded = _tiny_bert(num_heads=4, head_dim=8, n=7, n_pad=3, seed=1)

    with checker.check("returns an (n, n) array of weights for n tokens",
                       hint="one row per query token, one column per key token."):
        out = _as_array(fn(*_args(case), 0, head_dim=8), "head_attention")
        assert out.shape == (6, 6), f"for 6 tokens the shape is {out.shape}, expected (6, 6)"
    with checker.check("each row sums to 1", hint=HINT_ROWS_SUM):
        out = _as_array(fn(*_args(case), 0, head_dim=8), "head_attention")
        assert np.allclose(out.sum(-1), 1.0), f"row sums are {np.round(out.sum(-1), 4)}"
    with checker.check("head 0 equals BERT's own attention weights", hint=HINT_LINEAR):
        _close(_as_array(fn(*_args(case), 0, head_dim=8), "head_attention"),
               case.attentions[0], "head 0")
    with checker.check("heads other than 0 equal BERT's (the right slice of the weights)",
                       hint=HINT_ROWS):
        for h in (1, 2, 3):
            _close(_as_array(fn(*_args(case), h, head_dim=8), "head_attention"),
                   case.attentions[h], f"head {h}")
    with checker.check("padding keys get exactly zero weight, and the rest matches BERT",
                       hint=HINT_MASK):
        out = _as_array(fn(*_args(padded), 2, head_dim=8, attention_mask=padded.mask),
                        "head_attention")
        pad = padded.mask == 0
        assert np.all(out[:, pad] == 0.0), (
            f"largest weight on a padding key is {out[:, pad].max():.3g}, expected exactly 0")
        _close(out, padded.attentions[2], "head 2 with padding")
    with checker.check(NO_KEYS, hint=HINT_NO_KEYS):
        for none in (np.zeros(7, dtype=int), np.zeros(7, dtype=bool)):
            _all_zero(fn(*_args(padded), 2, head_dim=8, attention_mask=none), (7, 7))
    with checker.check("does not modify its inputs", hint=HINT_UNMODIFIED):
        _unmodified(fn, lambda a: fn(*a[:5], 1, head_dim=8, attention_mask=a[5]), padded)
    return checker.report()


def check_all_heads_attention(fn: Callable) -> Report:
    """Check ``all_heads_attention(hidden, W_q, b_q, W_k, b_k, num_heads=12,
    attention_mask=None) -> (num_heads, n, n)`` against a tiny random BERT."""
    checker = Checker("all_heads_attention")
    case = _tiny_bert(num_heads=4, head_dim=8, n=6, n_pad=0, seed=2)
    other = _tiny_bert(num_heads=2, head_dim=16, n=5, n_pad=0, seed=3)
    padded = _tiny_bert(num_heads=4, head_dim=8, n=7, n_pad=2, seed=4)

    with checker.check("returns (num_heads, n, n) weights",
                       hint="one (n, n) matrix per head, heads first."):
        out = _as_array(fn(*_args(case), num_heads=4), "all_heads_attention")
        assert out.shape == (4, 6, 6), (
            f"for 4 heads and 6 tokens the shape is {out.shape}, expected (4, 6, 6)")
    with checker.check("each row of each head sums to 1", hint=HINT_ROWS_SUM):
        out = _as_array(fn(*_args(case), num_heads=4), "all_heads_attention")
        assert np.allclose(out.sum(-1), 1.0), f"row sums are {np.round(out.sum(-1), 4)}"
    with checker.check("every head equals BERT's own attention weights",
                       hint=HINT_LINEAR + " " + HINT_ROWS + " Split the projected "
                       "(n, d_model) features into (n, num_heads, head_dim), then put "
                       "the heads first."):
        _close(_as_array(fn(*_args(case), num_heads=4), "all_heads_attention"),
               case.attentions, "all heads")
    with checker.check("works for other numbers of heads (e.g. 2 heads of size 16)",
                       hint="derive head_dim from d_model and num_heads instead of "
                            "assuming 12 heads of size 32."):
        _close(_as_array(fn(*_args(other), num_heads=2), "all_heads_attention"),
               other.attentions, "2 heads")
    with checker.check("padding keys get exactly zero weight, and the rest matches BERT",
                       hint=HINT_MASK):
        out = _as_array(fn(*_args(padded), num_heads=4, attention_mask=padded.mask),
                        "all_heads_attention")
        pad = padded.mask == 0
        assert np.all(out[..., pad] == 0.0), (
            f"largest weight on a padding key is {out[..., pad].max():.3g}, "
            "expected exactly 0")
        _close(out, padded.attentions, "all heads with padding")
    with checker.check(NO_KEYS, hint=HINT_NO_KEYS):
        for none in (np.zeros(7, dtype=int), np.zeros(7, dtype=bool)):
            _all_zero(fn(*_args(padded), num_heads=4, attention_mask=none), (4, 7, 7))
    with checker.check("does not modify its inputs", hint=HINT_UNMODIFIED):
        _unmodified(fn, lambda a: fn(*a[:5], num_heads=4, attention_mask=a[5]), padded)
    return checker.report()
