"""Helpers for the course "Attention, from scratch".

    from helpers import show_attention, show_heads
    from helpers.data import TOKENS, sentence_embeddings
    from helpers.checks import check_softmax

Importing ``helpers`` is cheap: matplotlib, numpy and torch are imported only when a
function that needs them is first used.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["show_attention", "show_heads", "show_patch_attention", "checks", "data"]

_LAZY = {
    "show_attention": "helpers.heatmap",
    "show_heads": "helpers.heatmap",
    "show_patch_attention": "helpers.patches",
    "checks": "helpers.checks",
    "data": "helpers.data",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
