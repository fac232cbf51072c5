"""``import helpers`` stays cheap: torch and matplotlib load only when a function needs them
(COURSE_SPEC section 4). Each case runs in a fresh interpreter, since this pytest process
has long imported both."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "matplotlib")


def heavy_modules_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy top-level modules it imported."""
    probe = (f"{code}\nimport json, sys\n"
             f"top = {{m.split('.')[0] for m in sys.modules}}\n"
             f"print(json.dumps(sorted(top & {set(HEAVY)!r})))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", [
    "import helpers",
    "import helpers; dir(helpers); helpers.__all__",
    "import helpers.data",
    "from helpers.data import TOKENS, sentence_embeddings; sentence_embeddings()",
    "import helpers.checks",
])
def test_importing_helpers_loads_neither_torch_nor_matplotlib(code):
    assert heavy_modules_after(code) == []


def test_plotting_needs_matplotlib_but_never_torch():
    code = ("import numpy as np\nfrom helpers import show_attention, show_heads, "
            "show_patch_attention\nshow_attention(np.eye(2)); show_heads(np.ones((2, 2, 2)))\n"
            "show_patch_attention(np.zeros((4, 4)), np.ones(4), 2, 0)")
    assert heavy_modules_after(f"import matplotlib; matplotlib.use('Agg')\n{code}") == [
        "matplotlib"]


def test_the_probe_does_detect_a_heavy_import():
    # Guards the test above against passing vacuously.
    assert heavy_modules_after("import helpers; helpers.show_attention") == ["matplotlib"]
    assert "torch" in heavy_modules_after("import torch")
