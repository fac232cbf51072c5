"""Plausible wrong answers to notebook 04 lose points where they should.

Each mutant replaces one solution cell of course/04-weighted-output/weighted_output.ipynb;
all of them, the untouched solution and the blank release are autograded with nbgrader in
one run (tests/course/mutation.py). ``LOSES`` names the test cells each mutant must score 0
in; the test cells of the other graded piece must keep full marks.
"""
from __future__ import annotations

import pytest

from tests.course.mutation import BLANK, autograde_variants, max_points

ASSIGNMENT, NOTEBOOK = "04-weighted-output", "weighted_output.ipynb"

# One correct function in torch, with the places a mistake goes as fields.
SDPA_TEMPLATE = '''
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
RIGHT = dict(scores="Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])",
             fill='scores = scores.masked_fill(~mask, float("-inf")).masked_fill('
                  '~mask.any(dim=-1, keepdim=True), 0.0)',
             dim="-1", zero="weights = weights.masked_fill(~mask, 0.0)", output="weights @ V")


def sdpa(**wrong: str) -> str:
    return SDPA_TEMPLATE.format(**{**RIGHT, **wrong})


SDPA = {
    "sdpa_without_scaling": sdpa(scores="Q @ K.transpose(-2, -1)"),
    "sdpa_scaled_by_d_v": sdpa(scores="Q @ K.transpose(-2, -1) / math.sqrt(V.shape[-1])"),
    "sdpa_scaled_by_n_k": sdpa(scores="Q @ K.transpose(-2, -1) / math.sqrt(K.shape[-2])"),
    "sdpa_scaled_by_d_k_not_sqrt": sdpa(scores="Q @ K.transpose(-2, -1) / Q.shape[-1]"),
    "sdpa_softmax_over_queries": sdpa(dim="-2"),
    "sdpa_weights_transposed": sdpa(output="weights.transpose(-2, -1) @ V"),
    "sdpa_mask_ignored": sdpa(fill="pass", zero="pass"),
    "sdpa_fill_minus_1e9": sdpa(fill="scores = scores.masked_fill(~mask, -1e9)", zero="pass"),
    "sdpa_nan_on_fully_masked_row": sdpa(fill='scores = scores.masked_fill(~mask, float("-inf"))',
                                         zero="pass"),
    "sdpa_dot_T_breaks_batches": sdpa(scores="Q @ K.T / math.sqrt(Q.shape[-1])"),
    "sdpa_numpy_only": '''
def scaled_dot_product_attention(Q, K, V, mask=None):
    Q, K, V = (np.asarray(a) for a in (Q, K, V))
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is None:
        mask = np.ones(scores.shape, dtype=bool)
    weights = masked_softmax(scores, mask)
    return weights @ V, weights
''',
}

LAYER_TEMPLATE = '''
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
LAYER_RIGHT = dict(scores="q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))",
                   fill='scores = scores.masked_fill(~mask, float("-inf")).masked_fill('
                        '~mask.any(dim=-1, keepdim=True), 0.0)',
                   dim="-1", zero="weights = weights.masked_fill(~mask, 0.0)",
                   ret="weights @ v, weights")


def layer(**wrong: str) -> str:
    return LAYER_TEMPLATE.format(**{**LAYER_RIGHT, **wrong})


LAYER = {
    "layer_returns_only_output": layer(ret="weights @ v"),
    "layer_without_scaling": layer(scores="q @ k.transpose(-2, -1)"),
    "layer_mask_inverted": layer(
        fill='scores = scores.masked_fill(mask, float("-inf")).masked_fill('
             'mask.all(dim=-1, keepdim=True), 0.0)',
        zero="weights = weights.masked_fill(mask, 0.0)"),
    "layer_softmax_over_queries": layer(dim="-2"),
    "layer_fill_minus_1e9": layer(fill="scores = scores.masked_fill(~mask, -1e9)", zero="pass"),
    "layer_through_numpy_no_gradient": '''
class AttentionLayer(nn.Module):
    def forward(self, q, k, v, mask=None):
        out, w = scaled_dot_product_attention(q.detach().numpy(), k.detach().numpy(),
                                              v.detach().numpy(),
                                              None if mask is None else mask.numpy())
        return torch.from_numpy(out), torch.from_numpy(w)
''',
}

MUTANTS = {**{name: {"scaled_dot_product_attention": src} for name, src in SDPA.items()},
           **{name: {"AttentionLayer": src} for name, src in LAYER.items()}}

SDPA_ALL = {"test_scaled_dot_product_attention", "test_scaled_dot_product_attention_mask",
            "test_scaled_dot_product_attention_torch"}
MASK_CELLS = {"test_scaled_dot_product_attention_mask", "test_scaled_dot_product_attention_torch"}
LOSES = {
    "sdpa_without_scaling": SDPA_ALL,
    "sdpa_scaled_by_d_v": SDPA_ALL,
    "sdpa_scaled_by_n_k": {"test_scaled_dot_product_attention", "test_scaled_dot_product_attention_torch"},
    "sdpa_scaled_by_d_k_not_sqrt": SDPA_ALL,
    "sdpa_softmax_over_queries": SDPA_ALL,
    "sdpa_weights_transposed": SDPA_ALL,
    "sdpa_mask_ignored": MASK_CELLS,
    "sdpa_fill_minus_1e9": MASK_CELLS,
    "sdpa_nan_on_fully_masked_row": MASK_CELLS,
    "sdpa_dot_T_breaks_batches": SDPA_ALL,
    "sdpa_numpy_only": {"test_scaled_dot_product_attention_torch"},
    **{name: {"test_AttentionLayer"} for name in LAYER},
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    variants = {"solution": {}, "blank": BLANK, **MUTANTS}
    result = autograde_variants(ASSIGNMENT, NOTEBOOK, variants, tmp_path_factory.mktemp("grade"))
    for name, cells in result.items():  # shown with -s, or when a test fails
        print(f"{name:45s} {cells}")
    return result


def test_every_graded_piece_has_at_least_four_mutants():
    assert len(SDPA) >= 4 and len(LAYER) >= 4
    assert set(LOSES) == set(MUTANTS)


def test_solution_gets_full_marks(scores):
    expected = max_points(ASSIGNMENT, NOTEBOOK)
    assert {cell: scores["solution"][cell] for cell in expected} == expected
    assert scores["solution"]["_total"] == sum(expected.values())


def test_blank_notebook_gets_zero(scores):
    assert scores["blank"]["_total"] == 0.0


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_points_where_it_should(scores, mutant):
    full = max_points(ASSIGNMENT, NOTEBOOK)
    got = scores[mutant]
    for cell in LOSES[mutant]:
        assert got[cell] == 0.0, f"{mutant} should score 0 in {cell}; scores: {got}"
    own = "test_AttentionLayer" if mutant.startswith("layer") else "test_scaled_dot_product_attention"
    for cell in full:
        if not cell.startswith(own):
            assert got[cell] == full[cell], f"{mutant} should keep full marks in {cell}; scores: {got}"
