"""Notebook 07 answers: online_softmax and tiled_attention, wrong and right.

Wrong answers are the mistakes people make when they first write these loops (migrated from
the old tests/course/test_mutants_07_efficient_attention.py, plus the ones issue 15 found
scoring full marks: a block maximum instead of the running one, a running maximum started
at 0, and full score matrices built in torch). Four of them give the RIGHT numbers the wrong
way (a global maximum upfront, the full score matrix or mask in memory): only the streaming
test (recording array) and the memory test (peak resident memory of a forked child) can
catch them, and they must.

Right answers are ports of public algorithms, adapted only to the contract (numpy in and
out, leading batch dims, causal with absolute key positions).
"""
from __future__ import annotations

from tests.course.answers import Answer, right, wrong

ASSIGNMENT = "07-efficient-attention"
NOTEBOOK = "efficient_attention.ipynb"

SOFTMAX_CELLS = ("test_online_softmax", "test_online_softmax_extreme")
TILED_VALUES = ("test_tiled_attention", "test_tiled_attention_large", "test_tiled_attention_causal")

_SOFTMAX = '''
def online_softmax(x, block_size):
    n = x.shape[-1]
    m = np.full(x.shape[:-1] + (1,), -np.inf)
    l = np.zeros(x.shape[:-1] + (1,))
    for start in range(0, n, block_size):
        block = x[..., start:start + block_size]
        m_new = np.maximum(m, block.max(axis=-1, keepdims=True))
        l = l * np.exp(m - m_new) + np.exp(block - m_new).sum(axis=-1, keepdims=True)
        m = m_new
    return np.exp(x - m) / l
'''

_TILED = '''
def tiled_attention(Q, K, V, block_size, causal=False):
    n_q, d = Q.shape[-2:]
    n_k = K.shape[-2]
    lead = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    m = np.full(lead + (n_q, 1), -np.inf)
    l = np.zeros(lead + (n_q, 1))
    out = np.zeros(lead + (n_q, V.shape[-1]))
    query_pos = np.arange(n_q)[:, None]
    for start in range(0, n_k, block_size):
        stop = min(start + block_size, n_k)
        S = Q @ np.swapaxes(K[..., start:stop, :], -1, -2) / np.sqrt(d)
        if causal:
            S = np.where(np.arange(start, stop) <= query_pos, S, -np.inf)
        m_new = np.maximum(m, S.max(axis=-1, keepdims=True))
        P = np.exp(S - m_new)
        alpha = np.exp(m - m_new)
        l = alpha * l + P.sum(axis=-1, keepdims=True)
        out = alpha * out + P @ V[..., start:stop, :]
        m = m_new
    return out / l
'''


def _softmax(old: str, new: str) -> dict[str, str]:
    assert _SOFTMAX.count(old) == 1, f"anchor not found exactly once: {old!r}"
    return {"online_softmax": _SOFTMAX.replace(old, new)}


def _tiled(old: str, new: str) -> dict[str, str]:
    assert _TILED.count(old) == 1, f"anchor not found exactly once: {old!r}"
    return {"tiled_attention": _TILED.replace(old, new)}


ANSWERS: dict[str, Answer] = {
    # ---------------------------------------------------------------- online_softmax: wrong
    "online_softmax/forgets_to_rescale_sum": wrong(
        _softmax("l = l * np.exp(m - m_new) + ", "l = l + "), *SOFTMAX_CELLS),
    "online_softmax/rescale_sign_flipped": wrong(
        _softmax("l * np.exp(m - m_new)", "l * np.exp(m_new - m)"), *SOFTMAX_CELLS),
    "online_softmax/drops_last_partial_block": wrong(
        _softmax("range(0, n, block_size)", "range(0, n - n % block_size or n, block_size)"),
        *SOFTMAX_CELLS),
    "online_softmax/normalises_each_block": wrong({"online_softmax": '''
def online_softmax(x, block_size):
    out = np.empty(x.shape)
    for start in range(0, x.shape[-1], block_size):
        block = x[..., start:start + block_size]
        e = np.exp(block - block.max(axis=-1, keepdims=True))
        out[..., start:start + block_size] = e / e.sum(axis=-1, keepdims=True)
    return out
'''}, *SOFTMAX_CELLS),
    # exact maths, but exp(1000) overflows: only the extreme rows show it
    "online_softmax/without_max": wrong({"online_softmax": '''
def online_softmax(x, block_size):
    total = np.zeros(x.shape[:-1] + (1,))
    for start in range(0, x.shape[-1], block_size):
        total = total + np.exp(x[..., start:start + block_size]).sum(axis=-1, keepdims=True)
    return np.exp(x) / total
'''}, "test_online_softmax_extreme"),
    # the block's own max as reference: exact maths too, but a first block 950 above the
    # rest makes exp(m_old - m_block) overflow (NaN where issue 15 found full marks)
    "online_softmax/block_max_not_running_max": wrong(
        _softmax("m_new = np.maximum(m, block.max(axis=-1, keepdims=True))",
                 "m_new = block.max(axis=-1, keepdims=True)"), "test_online_softmax_extreme"),
    # every score near -800: exp(score - 0) underflows to 0 and the sum is 0
    "online_softmax/running_max_starts_at_zero": wrong(
        _softmax("m = np.full(x.shape[:-1] + (1,), -np.inf)", "m = np.zeros(x.shape[:-1] + (1,))"),
        "test_online_softmax_extreme"),
    # right numbers, not a stream: the row maximum is taken before the blocks are read
    "online_softmax/global_max_upfront": wrong(
        _softmax("m = np.full(x.shape[:-1] + (1,), -np.inf)", "m = x.max(axis=-1, keepdims=True)"),
        "test_online_softmax_streaming"),
    # the issue-15 hole: np.asarray dropped the old recorder and the test passed vacuously
    "online_softmax/asarray_then_global_max": wrong({"online_softmax": '''
def online_softmax(x, block_size):
    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''}, "test_online_softmax_streaming"),
    # a correct stream in torch: the contract (docstring) asks for numpy because the test
    # observes numpy computations only; nothing is observed, so the streaming point is lost
    "online_softmax/stream_in_torch_not_observed": wrong({"online_softmax": '''
import torch

def online_softmax(x, block_size):
    t = torch.from_numpy(np.ascontiguousarray(x).view(np.ndarray))
    m = torch.full(t.shape[:-1] + (1,), -torch.inf, dtype=t.dtype)
    l = torch.zeros_like(m)
    for start in range(0, t.shape[-1], block_size):
        block = t[..., start:start + block_size]
        m_new = torch.maximum(m, block.amax(dim=-1, keepdim=True))
        l = l * torch.exp(m - m_new) + torch.exp(block - m_new).sum(dim=-1, keepdim=True)
        m = m_new
    return (torch.exp(t - m) / l).numpy()
'''}, "test_online_softmax_streaming"),
    # right numbers, but the normalisation writes into x
    "online_softmax/normalises_in_place": wrong(
        _softmax("return np.exp(x - m) / l",
                 "x -= m\n    np.exp(x, out=x)\n    x /= l\n    return x.copy()"),
        "test_online_softmax_input"),
    # ---------------------------------------------------------------- online_softmax: right
    "online_softmax/milakov_gimelshein_algorithm_3": right({"online_softmax": '''
def online_softmax(x, block_size):
    # Algorithm 3 ("online normalizer calculation") of Milakov & Gimelshein (2018), applied
    # to a block of elements at a time: m_j = max(m_{j-1}, x_j),
    # d_j = d_{j-1} * exp(m_{j-1} - m_j) + exp(x_j - m_j); then y_i = exp(x_i - m_V) / d_V.
    x = np.asarray(x)
    m_prev = np.full(x.shape[:-1] + (1,), -np.inf)
    d_prev = np.zeros(x.shape[:-1] + (1,))
    for j in range(0, x.shape[-1], block_size):
        x_j = x[..., j:j + block_size]
        m_j = np.maximum(m_prev, np.max(x_j, axis=-1, keepdims=True))
        d_j = d_prev * np.exp(m_prev - m_j) + np.sum(np.exp(x_j - m_j), axis=-1, keepdims=True)
        m_prev, d_prev = m_j, d_j
    return np.exp(x - m_prev) / d_prev
'''}, source="Milakov & Gimelshein (2018), Online normalizer calculation for softmax, "
             "arXiv:1805.02867, Algorithm 3, one block of elements per step"),
    "online_softmax/running_logsumexp": right({"online_softmax": '''
def online_softmax(x, block_size):
    # Keep one number per row, the running log-sum-exp, merged block by block with
    # np.logaddexp (the LSE bookkeeping of FlashAttention-2); each block's own log-sum-exp
    # is computed the scipy.special.logsumexp way (shift by the block max).
    x = np.array(x, dtype=np.float64)
    lse = np.full(x.shape[:-1] + (1,), -np.inf)
    for start in range(0, x.shape[-1], block_size):
        block = x[..., start:start + block_size]
        b_max = block.max(axis=-1, keepdims=True)
        block_lse = b_max + np.log(np.exp(block - b_max).sum(axis=-1, keepdims=True))
        lse = np.logaddexp(lse, block_lse)
    return np.exp(x - lse)
'''}, source="FlashAttention-2 (Dao 2023, arXiv:2307.08691) Algorithm 1's logsumexp "
             "L_i = m_i + log(l_i), with the per-block logsumexp of "
             "scipy.special.logsumexp (scipy/special/_logsumexp.py)"),
    "online_softmax/two_pass_blockwise_output": right({"online_softmax": '''
def online_softmax(x, block_size):
    # The online softmax of the "From Online Softmax to FlashAttention" notes (Z. Ye,
    # UW CSE 599M, 2023): pass 1 keeps m_i and d'_i = d'_{i-1} e^{m_{i-1} - m_i} + e^{x_i - m_i};
    # pass 2 writes a_i = e^{x_i - m_N} / d'_N, here block by block into a new array.
    x = x.astype(np.float64)
    n = x.shape[-1]
    m = np.full(x.shape[:-1] + (1,), -np.inf)
    d = np.zeros_like(m)
    for i in range(0, n, block_size):
        blk = x[..., i:i + block_size]
        m_i = np.maximum(m, blk.max(-1, keepdims=True))
        d = d * np.exp(m - m_i) + np.exp(blk - m_i).sum(-1, keepdims=True)
        m = m_i
    a = np.empty_like(x)
    for i in range(0, n, block_size):
        a[..., i:i + block_size] = np.exp(x[..., i:i + block_size] - m) / d
    return a
'''}, source="Zihao Ye, From Online Softmax to FlashAttention (UW CSE 599M notes, 2023), "
             "section 'Online Softmax'"),
    # ---------------------------------------------------------------- tiled_attention: wrong
    "tiled_attention/forgets_to_rescale_output": wrong(
        _tiled("out = alpha * out + ", "out = out + "), *TILED_VALUES),
    "tiled_attention/forgets_to_rescale_sum": wrong(
        _tiled("l = alpha * l + ", "l = l + "), *TILED_VALUES),
    "tiled_attention/drops_last_partial_block": wrong(
        _tiled("range(0, n_k, block_size)", "range(0, n_k - n_k % block_size or n_k, block_size)"),
        # the large-score cell's last key carries ~0 weight there: it does not notice
        "test_tiled_attention", "test_tiled_attention_causal"),
    "tiled_attention/forgets_sqrt_d": wrong(
        _tiled("np.swapaxes(K[..., start:stop, :], -1, -2) / np.sqrt(d)",
               "np.swapaxes(K[..., start:stop, :], -1, -2)"),
        # with scores in the thousands softmax is one-hot with or without the scale
        "test_tiled_attention", "test_tiled_attention_causal"),
    "tiled_attention/normalises_each_block": wrong({"tiled_attention": '''
def tiled_attention(Q, K, V, block_size, causal=False):
    n_q, d = Q.shape[-2:]
    n_k = K.shape[-2]
    out, blocks = 0.0, 0
    for start in range(0, n_k, block_size):
        S = Q @ np.swapaxes(K[..., start:start + block_size, :], -1, -2) / np.sqrt(d)
        if causal:
            S = np.where(np.arange(start, start + S.shape[-1]) <= np.arange(n_q)[:, None], S, -np.inf)
        P = np.exp(S - S.max(axis=-1, keepdims=True))
        P = np.nan_to_num(P / P.sum(axis=-1, keepdims=True))
        out, blocks = out + P @ V[..., start:start + block_size, :], blocks + 1
    return out / blocks
'''}, *TILED_VALUES),
    # the tile's own max as reference: keys 600 above the rest in the first tile overflow,
    # and so does a causal tile with no visible key (its max is -inf)
    "tiled_attention/block_max_not_running_max": wrong(
        _tiled("m_new = np.maximum(m, S.max(axis=-1, keepdims=True))",
               "m_new = S.max(axis=-1, keepdims=True)"),
        "test_tiled_attention_large", "test_tiled_attention_causal"),
    "tiled_attention/causal_off_by_one": wrong(
        _tiled("np.arange(start, stop) <= query_pos", "np.arange(start, stop) < query_pos"),
        "test_tiled_attention_causal"),
    "tiled_attention/causal_index_local_to_tile": wrong(
        _tiled("np.arange(start, stop) <= query_pos", "np.arange(stop - start) <= query_pos"),
        "test_tiled_attention_causal"),
    # right numbers, O(n^2) memory: only the memory test can tell
    "tiled_attention/global_max_from_full_scores": wrong(
        _tiled("m = np.full(lead + (n_q, 1), -np.inf)",
               "m = (Q @ np.swapaxes(K, -1, -2) / np.sqrt(d)).max(axis=-1, keepdims=True)"),
        "test_tiled_attention_memory"),
    "tiled_attention/full_causal_mask_upfront": wrong({"tiled_attention": _TILED.replace(
        "query_pos = np.arange(n_q)[:, None]",
        "allowed = np.tril(np.ones((n_q, n_k), dtype=bool))   # (n, n): O(n^2) memory").replace(
        "np.arange(start, stop) <= query_pos", "allowed[:, start:stop]")},
        "test_tiled_attention_memory"),
    "tiled_attention/naive_numpy": wrong({"tiled_attention": '''
def tiled_attention(Q, K, V, block_size, causal=False):
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if causal:
        S = np.where(np.tril(np.ones(S.shape[-2:], dtype=bool)), S, -np.inf)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    return P / P.sum(axis=-1, keepdims=True) @ V
'''}, "test_tiled_attention_memory"),
    # issue 15: torch's allocations were invisible to tracemalloc; 2-D inputs take SDPA's
    # math path, which builds the (n, n) scores
    "tiled_attention/plain_torch_sdpa": wrong({"tiled_attention": '''
import torch
import torch.nn.functional as F

def tiled_attention(Q, K, V, block_size, causal=False):
    q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()
'''}, "test_tiled_attention_memory"),
    "tiled_attention/full_softmax_in_torch": wrong({"tiled_attention": '''
import torch

def tiled_attention(Q, K, V, block_size, causal=False):
    q, k, v = (torch.as_tensor(a) for a in (Q, K, V))
    s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if causal:
        n = s.shape[-1]
        s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
    return (torch.softmax(s, dim=-1) @ v).numpy()
'''}, "test_tiled_attention_memory"),
    "tiled_attention/scales_q_in_place": wrong(
        _tiled("    n_q, d = Q.shape[-2:]\n",
               "    n_q, d = Q.shape[-2:]\n    Q /= np.sqrt(d)\n    d = 1\n"),
        "test_tiled_attention_inputs"),
    # ---------------------------------------------------------------- tiled_attention: right
    "tiled_attention/flashattention2_query_and_key_tiles": right({"tiled_attention": '''
def tiled_attention(Q, K, V, block_size, causal=False):
    # FlashAttention-2 forward (Dao 2023, Algorithm 1): outer loop over query blocks Q_i,
    # inner loop over key/value blocks K_j, V_j; m_i, l_i and an unnormalised O_i, rescaled
    # by diag(exp(m_old - m_new)); O_i = diag(l_i)^-1 O_i at the end of the inner loop.
    n_q, d = Q.shape[-2:]
    n_k = K.shape[-2]
    lead = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    out = np.empty(lead + (n_q, V.shape[-1]))
    scale = 1.0 / np.sqrt(d)
    for qs in range(0, n_q, block_size):
        Q_i = Q[..., qs:qs + block_size, :]
        rows = np.arange(qs, min(qs + block_size, n_q))[:, None]
        m_i = np.full(lead + (rows.shape[0], 1), -np.inf)
        l_i = np.zeros_like(m_i)
        O_i = np.zeros(lead + (rows.shape[0], V.shape[-1]))
        for ks in range(0, n_k, block_size):
            if causal and ks > rows[-1, 0]:
                break                      # every key of this block is in the future
            S_ij = (Q_i @ np.swapaxes(K[..., ks:ks + block_size, :], -1, -2)) * scale
            if causal:
                S_ij = np.where(np.arange(ks, ks + S_ij.shape[-1]) <= rows, S_ij, -np.inf)
            m_new = np.maximum(m_i, S_ij.max(axis=-1, keepdims=True))
            P_ij = np.exp(S_ij - m_new)
            corr = np.exp(m_i - m_new)
            l_i = corr * l_i + P_ij.sum(axis=-1, keepdims=True)
            O_i = corr * O_i + P_ij @ V[..., ks:ks + block_size, :]
            m_i = m_new
        out[..., qs:qs + block_size, :] = O_i / l_i
    return out
'''}, source="Tri Dao (2023), FlashAttention-2, arXiv:2307.08691, Algorithm 1 (forward pass)"),
    "tiled_attention/flashattention1_normalised_output": right({"tiled_attention": '''
def tiled_attention(Q, K, V, block_size, causal=False):
    # FlashAttention (Dao et al. 2022, Algorithm 1, lines 9-13), as in the ~100-line CUDA
    # port tspeterkim/flash-attention-minimal: the output is kept NORMALISED after every
    # block: O <- diag(l_new)^-1 (diag(l) e^{m - m_new} O + e^{m~ - m_new} P~ V_j).
    n_q, d = Q.shape[-2:]
    n_k = K.shape[-2]
    lead = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    O = np.zeros(lead + (n_q, V.shape[-1]))
    l = np.zeros(lead + (n_q, 1))
    m = np.full(lead + (n_q, 1), -np.inf)
    q_idx = np.arange(n_q)[:, None]
    for j in range(0, n_k, block_size):
        K_j, V_j = K[..., j:j + block_size, :], V[..., j:j + block_size, :]
        S = Q @ np.swapaxes(K_j, -1, -2) / np.sqrt(d)
        if causal:
            S = np.where(j + np.arange(S.shape[-1]) <= q_idx, S, -np.inf)
        m_tilde = S.max(axis=-1, keepdims=True)
        m_new = np.maximum(m, m_tilde)
        with np.errstate(invalid="ignore"):          # a tile with no visible key: -inf - -inf
            P_tilde = np.nan_to_num(np.exp(S - m_tilde))
            w_tile = np.nan_to_num(np.exp(m_tilde - m_new))
        l_tilde = P_tilde.sum(axis=-1, keepdims=True)
        w_old = np.exp(m - m_new)
        l_new = w_old * l + w_tile * l_tilde
        O = (l * w_old * O + w_tile * (P_tilde @ V_j)) / l_new
        l, m = l_new, m_new
    return O
'''}, source="Dao et al. (2022), FlashAttention, arXiv:2205.14135, Algorithm 1; "
             "github.com/tspeterkim/flash-attention-minimal (flash.cu)"),
    "tiled_attention/torch_tiles": right({"tiled_attention": '''
import torch

def tiled_attention(Q, K, V, block_size, causal=False):
    # The same recurrence with torch ops on each tile (numpy in and out): a PyTorch
    # transcription of FlashAttention-2's Algorithm 1 with key/value tiles only.
    q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
    n_q, d = q.shape[-2:]
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    m = torch.full((*lead, n_q, 1), float("-inf"), dtype=torch.float64)
    l = torch.zeros_like(m)
    acc = torch.zeros((*lead, n_q, v.shape[-1]), dtype=torch.float64)
    rows = torch.arange(n_q)[:, None]
    for j in range(0, k.shape[-2], block_size):
        s = q @ k[..., j:j + block_size, :].transpose(-2, -1) / d ** 0.5
        if causal:
            cols = torch.arange(j, j + s.shape[-1])
            s = s.masked_fill(cols > rows, float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
        p = torch.exp(s - m_new)
        alpha = torch.exp(m - m_new)
        l = alpha * l + p.sum(dim=-1, keepdim=True)
        acc = alpha * acc + p @ v[..., j:j + block_size, :]
        m = m_new
    return (acc / l).numpy()
'''}, source="FlashAttention-2 (Dao 2023, arXiv:2307.08691) Algorithm 1 written with "
             "PyTorch tensor ops per tile (key/value tiles only)"),
}
