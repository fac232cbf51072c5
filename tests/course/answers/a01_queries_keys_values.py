"""Notebook 01 (queries, keys and values): wrong answers and correct answers in other styles.

Graded functions and their test cells, one property each: ``project_qkv`` and
``dot_scores``: ``test_<fn>`` (2-D values and shapes), ``test_<fn>_batch`` (leading batch
axes, numpy float64), ``test_<fn>_types`` (numpy in numpy out, torch in torch out, float32
kept), ``test_<fn>_inputs`` (inputs unchanged), ``test_<fn>_grad`` (torch gradients).
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "01-queries-keys-values"
NOTEBOOK = "queries_keys_values.ipynb"

QKV, QKV_BATCH, QKV_TYPES, QKV_GRAD = ("test_project_qkv", "test_project_qkv_batch",
                                       "test_project_qkv_types", "test_project_qkv_grad")
SCORES, SCORES_BATCH, SCORES_TYPES, SCORES_INPUTS, SCORES_GRAD = (
    "test_dot_scores", "test_dot_scores_batch", "test_dot_scores_types", "test_dot_scores_inputs",
    "test_dot_scores_grad")

_QKV = "def project_qkv(X, W_q, W_k, W_v):\n"
_NP_QKV = "import numpy as np\n\n" + _QKV
_TORCH_QKV = "import numpy as np\nimport torch\n\n" + _QKV
_SCORES = "import numpy as np\n\ndef dot_scores(Q, K):\n"
_TORCH_SCORES = "import numpy as np\nimport torch\n\ndef dot_scores(Q, K):\n"

ANSWERS: dict[str, Answer] = {
    # ---------------------------------------------------------------- project_qkv: wrong
    "project_qkv/w_q_for_keys": wrong({"project_qkv": _QKV
        + "    return X @ W_q, X @ W_q, X @ W_v\n"}, QKV, QKV_BATCH, QKV_GRAD),
    "project_qkv/query_is_the_input": wrong({"project_qkv": _QKV
        + "    return X, X @ W_k, X @ W_v\n"}, QKV, QKV_BATCH, QKV_GRAD),
    "project_qkv/transposed_product": wrong({"project_qkv": _QKV
        + "    return W_q.T @ X.T, W_k.T @ X.T, W_v.T @ X.T\n"}, QKV, QKV_BATCH),
    # (W^T X^T)^T is right in 2-D, but .T reverses every axis of a batch
    "project_qkv/dot_T_trick_2d_only": wrong({"project_qkv": _QKV
        + "    return (W_q.T @ X.T).T, (W_k.T @ X.T).T, (W_v.T @ X.T).T\n"}, QKV_BATCH),
    # np.dot turns torch tensors into numpy arrays
    "project_qkv/np_dot_on_tensors": wrong({"project_qkv": _NP_QKV
        + "    return np.dot(X, W_q), np.dot(X, W_k), np.dot(X, W_v)\n"}, QKV_TYPES, QKV_GRAD),
    "project_qkv/casts_to_float64": wrong({"project_qkv": _NP_QKV
        + "    X = np.asarray(X, dtype=np.float64)\n"
        + "    return X @ np.asarray(W_q), X @ np.asarray(W_k), X @ np.asarray(W_v)\n"}, QKV_TYPES, QKV_GRAD),
    # values right, but the tensors are cut off the autograd graph
    "project_qkv/detaches_torch": wrong({"project_qkv": _TORCH_QKV
        + "    if isinstance(X, torch.Tensor):\n"
        + "        return tuple((X @ W).detach() for W in (W_q, W_k, W_v))\n"
        + "    return X @ W_q, X @ W_k, X @ W_v\n"}, QKV_GRAD),
    # a single batch axis hard-coded in the einsum subscripts
    "project_qkv/einsum_one_batch_axis": wrong({"project_qkv": _TORCH_QKV
        + "    ein = torch.einsum if isinstance(X, torch.Tensor) else np.einsum\n"
        + "    spec = 'bnd,de->bne' if X.ndim == 3 else 'nd,de->ne'\n"
        + "    return ein(spec, X, W_q), ein(spec, X, W_k), ein(spec, X, W_v)\n"}, QKV_BATCH),

    # ---------------------------------------------------------------- project_qkv: right
    "project_qkv/fused_qkv_split": right({"project_qkv": _TORCH_QKV
        + "    # one fused projection, then split the columns (c_attn in GPT-2)\n"
        + "    d_k, d_v = W_q.shape[-1], W_v.shape[-1]\n"
        + "    cat = torch.cat if isinstance(X, torch.Tensor) else np.concatenate\n"
        + "    qkv = X @ cat([W_q, W_k, W_v], -1)\n"
        + "    return qkv[..., :d_k], qkv[..., d_k:2 * d_k], qkv[..., 2 * d_k:2 * d_k + d_v]\n"},
        source="nanoGPT model.py CausalSelfAttention.forward "
               "(self.c_attn(x).split(self.n_embd, dim=2)); picoGPT gpt2.py mha (np.split of "
               "the fused c_attn projection)"),
    "project_qkv/einsum": right({"project_qkv": _TORCH_QKV
        + "    ein = torch.einsum if isinstance(X, torch.Tensor) else np.einsum\n"
        + "    return tuple(ein('...nd,de->...ne', X, W) for W in (W_q, W_k, W_v))\n"},
        source="einsum projections as in T. Rocktaeschel, 'Einsum is all you need' "
               "(https://rockt.github.io/2018/04/30/einsum) and torch.einsum docs"),
    "project_qkv/torch_linear": right({"project_qkv": _TORCH_QKV
        + "    import torch.nn.functional as F\n"
        + "    if isinstance(X, torch.Tensor):\n"
        + "        # nn.Linear stores (out, in) weights: y = x A^T\n"
        + "        return tuple(F.linear(X, W.T) for W in (W_q, W_k, W_v))\n"
        + "    return tuple(np.matmul(X, W) for W in (W_q, W_k, W_v))\n"},
        source="torch.nn.Linear / torch.nn.functional.linear (y = x A^T + b), as used by "
               "the Annotated Transformer's MultiHeadedAttention (self.linears)"),
    "project_qkv/torch_matmul_then_numpy": right({"project_qkv": _TORCH_QKV
        + "    if isinstance(X, torch.Tensor):\n"
        + "        return tuple(torch.matmul(X, W) for W in (W_q, W_k, W_v))\n"
        + "    Xt = torch.from_numpy(np.ascontiguousarray(X))\n"
        + "    return tuple(torch.matmul(Xt, torch.from_numpy(np.ascontiguousarray(W))).numpy()\n"
        + "                 for W in (W_q, W_k, W_v))\n"},
        source="torch.matmul docs (https://pytorch.org/docs/stable/generated/torch.matmul.html), "
               "numpy round trip via torch.from_numpy / Tensor.numpy"),
    "project_qkv/tensordot": right({"project_qkv": _TORCH_QKV
        + "    td = torch.tensordot if isinstance(X, torch.Tensor) else np.tensordot\n"
        + "    return tuple(td(X, W, 1) for W in (W_q, W_k, W_v))\n"},
        source="numpy.tensordot / torch.tensordot docs: contract the last axis of X with "
               "the first axis of W"),

    # ---------------------------------------------------------------- dot_scores: wrong
    "dot_scores/k_times_q": wrong({"dot_scores": _SCORES
        + "    return K @ Q.swapaxes(-1, -2)\n"}, SCORES, SCORES_BATCH),
    # picoGPT's per-head `q @ k.T`: right in 2-D, .T reverses every axis of a batch
    "dot_scores/picogpt_k_T_2d_only": wrong({"dot_scores": _SCORES
        + "    return Q @ K.T\n"}, SCORES_BATCH),
    # torch's transpose(-2, -1) is a full axis permutation in numpy: no transpose at all
    "dot_scores/torch_transpose_on_numpy": wrong({"dot_scores": _SCORES
        + "    return Q @ K.transpose(-2, -1)\n"}, SCORES, SCORES_BATCH, SCORES_TYPES, SCORES_INPUTS),
    # numpy functions on tensors: the result is rebuilt without autograd history
    "dot_scores/np_matmul_on_tensors": wrong({"dot_scores": _SCORES
        + "    return np.matmul(Q, np.swapaxes(K, -1, -2))\n"}, SCORES_GRAD),
    "dot_scores/elementwise_product": wrong({"dot_scores": _SCORES
        + "    return (Q * K).sum(axis=-1)\n"}, SCORES, SCORES_BATCH, SCORES_TYPES, SCORES_INPUTS, SCORES_GRAD),
    # jumps ahead to notebook 02
    "dot_scores/already_scaled": wrong({"dot_scores": _SCORES
        + "    return Q @ K.swapaxes(-1, -2) / np.sqrt(Q.shape[-1])\n"}, SCORES, SCORES_BATCH, SCORES_TYPES, SCORES_GRAD),
    "dot_scores/np_moveaxis_on_tensors": wrong({"dot_scores": _SCORES
        + "    return Q @ np.moveaxis(K, -1, -2)\n"}, SCORES_TYPES, SCORES_GRAD),
    "dot_scores/casts_to_float64": wrong({"dot_scores": _SCORES
        + "    Q, K = np.asarray(Q, dtype=float), np.asarray(K, dtype=float)\n"
        + "    return Q @ K.swapaxes(-1, -2)\n"}, SCORES_TYPES, SCORES_GRAD),

    # ---------------------------------------------------------------- dot_scores: right
    "dot_scores/annotated_transformer_matmul": right({"dot_scores": _TORCH_SCORES
        + "    if isinstance(Q, torch.Tensor):\n"
        + "        return torch.matmul(Q, K.transpose(-2, -1))\n"
        + "    return np.matmul(Q, np.swapaxes(K, -2, -1))\n"},
        source="The Annotated Transformer, attention(): "
               "torch.matmul(query, key.transpose(-2, -1)) (numpy branch: np.swapaxes)"),
    "dot_scores/einsum": right({"dot_scores": _TORCH_SCORES
        + "    ein = torch.einsum if isinstance(Q, torch.Tensor) else np.einsum\n"
        + "    return ein('...qd,...kd->...qk', Q, K)\n"},
        source="einsum attention scores as in T. Rocktaeschel, 'Einsum is all you need' "
               "(https://rockt.github.io/2018/04/30/einsum, 'bqd,bkd->bqk')"),
    "dot_scores/matrix_transpose_mT": right({"dot_scores": _SCORES
        + "    # .mT: the array-API matrix transpose (last two axes), numpy >= 2 and torch\n"
        + "    return Q @ K.mT\n"},
        source="Python array API standard, matrix_transpose / array.mT "
               "(https://data-apis.org/array-api/latest/API_specification/generated/"
               "array_api.array.mT.html)"),
    "dot_scores/torch_matmul_then_numpy": right({"dot_scores": _TORCH_SCORES
        + "    if isinstance(Q, torch.Tensor):\n"
        + "        return Q @ K.transpose(-2, -1)\n"
        + "    Qt, Kt = torch.from_numpy(np.ascontiguousarray(Q)), torch.from_numpy(np.ascontiguousarray(K))\n"
        + "    return (Qt @ Kt.transpose(-2, -1)).numpy()\n"},
        source="HF transformers eager_attention_forward: "
               "torch.matmul(query, key_states.transpose(2, 3)); numpy via torch.from_numpy"),
    "dot_scores/np_swapaxes_function": right({"dot_scores": _SCORES
        + "    # np.swapaxes calls the array's own swapaxes, so tensors stay tensors\n"
        + "    return Q @ np.swapaxes(K, -1, -2)\n"},
        source="d2l.ai 11.3 DotProductAttention: torch.bmm(queries, keys.transpose(1, 2)), "
               "generalised to any leading axes with swapaxes"),
}
