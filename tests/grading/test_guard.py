"""grading.guard: the pure parts, and the fingerprint code run in a real IPython shell."""
from __future__ import annotations

import numpy as np
import pytest

from grading import guard


def test_locked_import_bindings():
    b = guard.locked_import_bindings([
        "import numpy as np\nimport torch.nn.functional as F\nimport torch.nn\n"
        "from numpy.testing import assert_allclose as aa, assert_equal\nfrom . import x\n",
        "this is not python (",
    ])
    assert b == {"np": ("numpy", None), "F": ("torch.nn.functional", None),
                 "torch": ("torch", None), "aa": ("numpy.testing", "assert_allclose"),
                 "assert_equal": ("numpy.testing", "assert_equal")}


def test_modules_for_only_imports_what_locked_cells_use():
    assert "torch" not in guard.modules_for(["import numpy as np"])
    assert {"numpy", "numpy.testing", "math", "builtins"} <= set(guard.modules_for(["import numpy"]))
    assert "torch.nn.functional" in guard.modules_for(["def f():\n    import torch\n"])
    assert "helpers.checks" in guard.modules_for(["from helpers.checks import check_softmax"])


def test_compare_and_message():
    before = {"numpy:allclose": "1:2", "builtins:abs": "3", "bindings": []}
    assert guard.compare(before, dict(before)) == []
    changed = guard.compare(before, {"numpy:allclose": "9:2", "builtins:abs": "3",
                                     "bindings": ["np"]})
    assert changed == ["np.allclose", "the notebook name 'np' (bound by a locked import)"]
    assert guard.message(["np.allclose"]) == \
        "grading integrity: np.allclose was replaced by student code"
    assert guard.compare(before, None) == ["the grader's integrity check (kernel did not answer it)"]
    assert guard.display_name("numpy.testing:assert_allclose") == "np.testing.assert_allclose"
    assert guard.display_name("builtins:abs") == "abs"


def test_parse_result_requires_the_nonce():
    good = {guard.RESULT_EXPRESSION: {"status": "ok", "data": {"text/plain": repr("abc{\"k\": 1}")}}}
    assert guard.parse_result(good, "abc") == {"k": 1}
    assert guard.parse_result(good, "xyz") is None  # stale answer from an earlier run
    assert guard.parse_result({guard.RESULT_EXPRESSION: {"status": "error"}}, "abc") is None
    assert guard.parse_result({}, "abc") is None


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    return InteractiveShell.instance()


def run_fp(shell, bindings=None):
    nonce = "n0nce"
    code = guard.fingerprint_code(bindings or {}, guard.modules_for(["import numpy as np"]), nonce)
    result = shell.run_cell(code, store_history=False, silent=True)
    assert result.error_in_exec is None
    reply = shell.user_expressions({guard.RESULT_EXPRESSION: guard.RESULT_EXPRESSION})
    return guard.parse_result(reply, nonce)


def test_fingerprint_is_stable_and_sees_patches(shell):
    before = run_fp(shell)
    assert before and "numpy:allclose" in before and "ipython:run_cell" in before
    assert guard.compare(before, run_fp(shell)) == []
    target = np.testing.assert_allclose  # a plain Python function: mutable in place
    real_allclose, real_defaults = np.allclose, target.__defaults__
    try:
        np.allclose = lambda *a, **k: True
        target.__defaults__ = (1.0, 1.0) + real_defaults[2:]  # rtol=atol=1: anything passes
        changed = guard.compare(before, run_fp(shell))
    finally:
        np.allclose = real_allclose
        target.__defaults__ = real_defaults
    assert changed == ["np.allclose", "np.testing.assert_allclose"]
    assert guard.compare(before, run_fp(shell)) == []


def test_fingerprint_checks_names_bound_by_locked_imports(shell):
    shell.user_ns["np"] = np
    assert run_fp(shell, {"np": ("numpy", None)})["bindings"] == []
    shell.user_ns["np"] = object()
    try:
        assert run_fp(shell, {"np": ("numpy", None)})["bindings"] == ["np"]
    finally:
        shell.user_ns["np"] = np
