"""Plausible wrong answers to notebook 06 lose points; correct answers get full marks.

Autograding this notebook loads the pretrained model and trains the toy translator once per
submission, so each graded submission here carries one wrong (or alternative correct)
version of BOTH graded functions: the two functions have separate test cells, and
neither's tests call the other function, so the scores stay attributable. One nbgrader run
grades the solution, the blank release and every pair.
"""
from __future__ import annotations

import pytest

from tests.course.mutation import BLANK, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "06-attention-in-practice", "attention_in_practice.ipynb"
HEAD_CELLS = ["test_head_attention", "test_head_attention_mask"]
ALL_CELLS = ["test_all_heads_attention", "test_all_heads_attention_mask"]

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
          scale: str = "np.sqrt(head_dim)", softmax: str = "masked_softmax(scores, mask)") -> str:
    return (_HEAD_DEF + f"    q = {q}\n    k = {k}\n"
            f"    scores = q @ k.T / {scale}\n    return {softmax}\n")


def _split(x: str, order: str = "(n, num_heads, head_dim).transpose(1, 0, 2)") -> str:
    return f"({x}).reshape{order}"


def _all(q: str = "hidden @ W_q.T + b_q", k: str = "hidden @ W_k.T + b_k",
         split: str = "(n, num_heads, head_dim).transpose(1, 0, 2)",
         scale: str = "np.sqrt(head_dim)", softmax: str = "masked_softmax(scores, mask)",
         head_dim: str | None = None) -> str:
    src = _ALL_DEF if head_dim is None else _ALL_DEF.replace(
        "head_dim = d_model // num_heads", f"head_dim = {head_dim}")
    return (src + f"    q = {_split(q, split)}\n    k = {_split(k, split)}\n"
            f"    scores = q @ k.transpose(0, 2, 1) / {scale}\n    return {softmax}\n")


# Wrong answers to head_attention: name -> (source, test cells that must score 0)
HEAD_MUTANTS = {
    "head_no_query_bias": (_head(q="hidden @ W_q[rows].T"), HEAD_CELLS),
    "head_wrong_rows": (_head(q="hidden @ W_q[head:head + head_dim].T + b_q[head:head + head_dim]",
                              k="hidden @ W_k[head:head + head_dim].T + b_k[head:head + head_dim]"),
                        HEAD_CELLS),
    "head_scaled_by_sqrt_d_model": (_head(scale="np.sqrt(hidden.shape[-1])"), HEAD_CELLS),
    "head_query_weights_for_keys": (_head(k="hidden @ W_q[rows].T + b_k[rows]"), HEAD_CELLS),
    "head_columns_not_rows": (_head(q="hidden @ W_q[:, rows] + b_q[rows]",
                                    k="hidden @ W_k[:, rows] + b_k[rows]"), HEAD_CELLS),
    "head_mask_ignored": (_head(softmax="masked_softmax(scores)"),
                          ["test_head_attention_mask"]),
}
# A different but correct head_attention: no key bias (it adds a constant to each row of
# scores, which softmax ignores), float32 throughout and -1e9 instead of -inf for padding.
HEAD_EQUIVALENT = (_HEAD_DEF
                   + "    q = (hidden @ W_q[rows].T + b_q[rows]).astype(np.float32)\n"
                   + "    k = (hidden @ W_k[rows].T).astype(np.float32)\n"
                   + "    scores = (q / np.float32(np.sqrt(head_dim))) @ k.T\n"
                   + "    if mask is not None:\n"
                   + "        scores = scores + np.where(mask, 0.0, -1e9).astype(np.float32)\n"
                   + "    e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
                   + "    return e / e.sum(axis=-1, keepdims=True)\n")

ALL_MUTANTS = {
    "all_wrong_head_split": (_all(split="(n, head_dim, num_heads).transpose(2, 0, 1)"),
                             ALL_CELLS),
    "all_scaled_by_sqrt_d_model": (_all(scale="np.sqrt(d_model)"), ALL_CELLS),
    "all_no_query_bias": (_all(q="hidden @ W_q.T"), ALL_CELLS),
    "all_transposed_weights": (_all(q="hidden @ W_q + b_q", k="hidden @ W_k + b_k"),
                               ALL_CELLS),
    "all_mask_ignored": (_all(softmax="masked_softmax(scores)"),
                         ["test_all_heads_attention_mask"]),
    # passes on the real model (12 heads of 32); the hidden tests use other head sizes
    "all_head_dim_hard_coded": (_all(head_dim="32"), ["test_all_heads_attention"]),
}
# A different but correct all_heads_attention: a loop over heads, stacked.
ALL_EQUIVALENT = (_ALL_DEF
                  + "    out = []\n"
                  + "    for h in range(num_heads):\n"
                  + "        r = slice(h * head_dim, (h + 1) * head_dim)\n"
                  + "        s = (hidden @ W_q[r].T + b_q[r]) @ (hidden @ W_k[r].T + b_k[r]).T\n"
                  + "        out.append(masked_softmax(s / np.sqrt(head_dim), mask))\n"
                  + "    return np.stack(out)\n")


def _pairs() -> dict[str, tuple[dict[str, str], list[str]]]:
    """Zip the two catalogues into submissions; the equivalents fill the shorter list."""
    heads = list(HEAD_MUTANTS.items()) + [("head_equivalent", (HEAD_EQUIVALENT, []))]
    alls = list(ALL_MUTANTS.items()) + [("all_equivalent", (ALL_EQUIVALENT, []))]
    # put each equivalent next to a mutant of the OTHER function
    alls = alls[-1:] + alls[:-1]
    pairs = {}
    for (h_name, (h_src, h_loses)), (a_name, (a_src, a_loses)) in zip(heads, alls):
        pairs[f"{h_name}+{a_name}"] = ({"head_attention": h_src, "all_heads_attention": a_src},
                                       h_loses + a_loses)
    return pairs


PAIRS = _pairs()


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    variants = {"solution": {}, "blank": BLANK,
                **{name: sources for name, (sources, _) in PAIRS.items()}}
    return autograde_variants(ASSIGNMENT, NOTEBOOK, variants,
                              tmp_path_factory.mktemp("mutants06"), timeout=120)


def test_every_graded_function_has_at_least_four_mutants():
    assert len(HEAD_MUTANTS) >= 4 and len(ALL_MUTANTS) >= 4
    names = " ".join(PAIRS)
    for name in [*HEAD_MUTANTS, *ALL_MUTANTS, "head_equivalent", "all_equivalent"]:
        assert name in names, f"{name} is not graded"
    # an equivalent is never paired with another equivalent (its scores would prove nothing)
    assert not any("head_equivalent" in n and "all_equivalent" in n for n in PAIRS)


@pytest.mark.slow
def test_solution_gets_full_marks(scores):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    assert set(full) == set(HEAD_CELLS + ALL_CELLS)
    assert {k: v for k, v in scores["solution"].items() if k != "_total"} == full
    assert scores["solution"]["_total"] == sum(full.values())


@pytest.mark.slow
def test_blank_notebook_gets_zero(scores):
    assert scores["blank"]["_total"] == 0.0
    assert all(v == 0.0 for v in scores["blank"].values())


@pytest.mark.slow
@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_wrong_answers_lose_points_and_right_ones_keep_them(scores, pair):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    got = scores[pair]
    loses = PAIRS[pair][1]
    for cell, points in full.items():
        expected = 0.0 if cell in loses else points
        assert got[cell] == expected, f"{pair}: {cell} scored {got[cell]}, expected {expected}"
