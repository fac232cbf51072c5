"""Friendly "check yourself" functions: one ``check_<name>(fn)`` per graded function.

Each returns a :class:`~helpers.checks._framework.Report` that displays as a pass/fail list
with a hint per failure. The checks live in one module per topic (``qkv``, ``scaling``,
``softmax``, ``masked``, ``output``, ``multihead``, ``practice``, ``efficient``); this package finds
them by name so that ``from helpers.checks import check_softmax`` works for every topic.
Only the topic module a check lives in is imported, and torch only when a check needs it.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ._framework import Checker, CheckResult, Report

__all__ = ["Checker", "CheckResult", "Report"]


def _topic_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str) -> Any:
    if name.startswith("check_"):
        for topic in _topic_modules():
            module = importlib.import_module(f"{__name__}.{topic}")
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; "
                         f"available checks: {', '.join(available_checks()) or 'none'}")


def available_checks() -> list[str]:
    """Names of every ``check_<name>`` function, across all topic modules."""
    names = []
    for topic in _topic_modules():
        module = importlib.import_module(f"{__name__}.{topic}")
        names += [n for n in dir(module) if n.startswith("check_")]
    return sorted(names)
