"""Answer catalogue for 02-scaling: ``scaled_scores(Q, K) = Q K^T / sqrt(d_k)``.

Test cells (points): ``test_scaled_scores`` (2, values), ``test_scaled_scores_batch`` (1),
``test_scaled_scores_types`` (1, numpy/torch type and float32), ``test_scaled_scores_inputs``
(1, inputs unchanged and gradients on torch input). The written answer is graded by hand.

Migrated from the former tests/course/test_mutants_02_scaling.py (every mutant kept; the
cells they lose are re-targeted to the split test cells), plus faithful ports of public
implementations: correct ones must keep full marks, those that break the contract must lose
points exactly where the contract says. The batch and gradient cells compare the answer with
itself (slice by slice; gradient against the change of its own scores), so a wrong scale
costs the values cell only: one slip, one property.
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "02-scaling"
NOTEBOOK = "scaling.ipynb"

_DEF = "import math\nimport numpy as np\nimport torch\n\ndef scaled_scores(Q, K):\n"
_RAW = "Q @ K.swapaxes(-1, -2)"

VALUES = "test_scaled_scores"
BATCH = "test_scaled_scores_batch"
TYPES = "test_scaled_scores_types"
INPUTS = "test_scaled_scores_inputs"


def _body(src: str) -> dict[str, str]:
    return {"scaled_scores": _DEF + src}


ANSWERS: dict[str, Answer] = {
    # --- wrong answers (migrated mutants) ---------------------------------------------------
    "scaled_scores/no_scaling": wrong(_body(f"    return {_RAW}\n"), VALUES),
    "scaled_scores/divide_by_d_k": wrong(_body(f"    return {_RAW} / K.shape[-1]\n"), VALUES),
    "scaled_scores/sqrt_d_k_times_sqrt_d_q": wrong(
        _body(f"    return {_RAW} / (math.sqrt(K.shape[-1]) * math.sqrt(Q.shape[-1]))\n"), VALUES),
    "scaled_scores/divide_by_sqrt_n_k": wrong(_body(f"    return {_RAW} / math.sqrt(K.shape[-2])\n"),
                                              VALUES),
    "scaled_scores/transposed_result": wrong(
        _body("    return K @ Q.swapaxes(-1, -2) / math.sqrt(K.shape[-1])\n"), VALUES),
    "scaled_scores/dot_T_on_batches": wrong(_body("    return Q @ K.T / math.sqrt(K.shape[-1])\n"), BATCH),
    "scaled_scores/scales_q_in_place": wrong(
        _body("    Q /= math.sqrt(K.shape[-1])\n" f"    return {_RAW}\n"), INPUTS),
    "scaled_scores/converts_to_float64_numpy": wrong(
        _body("    Q, K = np.asarray(Q, dtype=np.float64), np.asarray(K, dtype=np.float64)\n"
              f"    return {_RAW} / math.sqrt(K.shape[-1])\n"),
        TYPES, INPUTS),
    "scaled_scores/torch_sqrt_of_int": wrong(_body(f"    return {_RAW} / torch.sqrt(K.shape[-1])\n"),
                                             VALUES, BATCH, TYPES, INPUTS),
    # --- wrong answers (new) ------------------------------------------------------------------
    # The dtype trap of issue 15: np.sqrt(d_k) is a float64 numpy scalar, so float32 numpy
    # scores become float64 under NumPy 2. Only the float32 property is lost.
    "scaled_scores/np_sqrt_float64_scalar": wrong(
        _body(f"    return {_RAW} / np.sqrt(K.shape[-1])\n"), TYPES),
    # picoGPT (github.com/jaymody/picoGPT, gpt2.py `attention`): q @ k.T / np.sqrt(q.shape[-1]),
    # faithful: 2-D only (.T) and the float64 scalar.
    "scaled_scores/picogpt_port": wrong(
        _body("    return Q @ K.T / np.sqrt(Q.shape[-1])\n"), BATCH, TYPES),
    # the result detached from autograd: right values, but torch input is no longer differentiable
    "scaled_scores/detached_from_autograd": wrong(
        _body("    S = Q @ K.swapaxes(-1, -2) / math.sqrt(K.shape[-1])\n"
              "    return S.detach() if isinstance(S, torch.Tensor) else S\n"), INPUTS),
    # always computes in torch float32: numpy input comes back as a float32 tensor. The values
    # cell grades the formula at rtol 1e-5, so only the type/dtype property is lost.
    "scaled_scores/always_torch_float32": wrong(
        _body("    Q, K = torch.as_tensor(Q, dtype=torch.float32), torch.as_tensor(K, dtype=torch.float32)\n"
              "    return Q @ K.transpose(-2, -1) / math.sqrt(K.shape[-1])\n"),
        TYPES),
    # --- correct answers in other styles ------------------------------------------------------
    "scaled_scores/nanogpt_style": right(
        _body("    # nanoGPT: att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))\n"
              "    # adapted: k.shape[-1] and swapaxes work for numpy and torch alike\n"
              "    return (Q @ K.swapaxes(-2, -1)) * (1.0 / math.sqrt(K.shape[-1]))\n"),
        source="nanoGPT, model.py CausalSelfAttention.forward (github.com/karpathy/nanoGPT)"),
    "scaled_scores/annotated_transformer_style": right(
        _body("    # The Annotated Transformer: torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d_k)\n"
              "    d_k = Q.shape[-1]\n"
              "    if isinstance(Q, torch.Tensor):\n"
              "        return torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(d_k)\n"
              "    return np.matmul(Q, np.swapaxes(K, -2, -1)) / math.sqrt(d_k)\n"),
        source="The Annotated Transformer, `attention` (nlp.seas.harvard.edu/annotated-transformer)"),
    "scaled_scores/pytorch_reference_sdpa_scale": right(
        _body("    # torch.nn.functional.scaled_dot_product_attention docstring reference:\n"
              "    # scale_factor = 1 / math.sqrt(query.size(-1)); attn_weight = query @ key.transpose(-2, -1) * scale_factor\n"
              "    scale_factor = 1 / math.sqrt(Q.shape[-1])\n"
              "    return Q @ K.swapaxes(-2, -1) * scale_factor\n"),
        source="PyTorch docs, torch.nn.functional.scaled_dot_product_attention (reference implementation)"),
    "scaled_scores/einsum_dispatch": right(
        _body("    xp = torch if isinstance(Q, torch.Tensor) else np\n"
              "    return xp.einsum('...qd,...kd->...qk', Q, K) / K.shape[-1] ** 0.5\n"),
        source="d2l.ai 11.3 'Attention Scoring Functions' (DotProductAttention), bmm written as einsum "
               "over any leading axes"),
    "scaled_scores/np_sqrt_cast_to_dtype": right(
        _body("    # JAX's gelu casts numpy constants to the input dtype: np.sqrt(...).astype(x.dtype)\n"
              "    if isinstance(Q, torch.Tensor):\n"
              "        return Q @ K.transpose(-2, -1) / math.sqrt(K.shape[-1])\n"
              "    return Q @ np.swapaxes(K, -1, -2) / np.sqrt(K.shape[-1]).astype(Q.dtype)\n"),
        source="jax/_src/nn/functions.py `gelu` (np.sqrt(2 / np.pi).astype(x_arr.dtype))"),
    "scaled_scores/torch_roundtrip_for_numpy": right(
        _body("    # compute in torch; numpy in -> numpy out via .numpy()\n"
              "    is_numpy = isinstance(Q, np.ndarray)\n"
              "    q, k = torch.as_tensor(Q), torch.as_tensor(K)\n"
              "    out = torch.matmul(q, k.mT) / math.sqrt(k.shape[-1])\n"
              "    return out.numpy() if is_numpy else out\n"),
        source="PyTorch idiom torch.as_tensor / Tensor.numpy (pytorch.org/docs/stable/generated/torch.as_tensor.html)"),
}
