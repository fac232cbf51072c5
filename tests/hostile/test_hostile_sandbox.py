"""One hostile submission per case of COURSE_SPEC section 6, executed through
grading.sandbox.execute_notebook (the step `python -m grading autograde` runs per notebook).

Every case asserts: the outcome status and reason, the grade of both test cells (nbgrader's
rule), that the cells after the hostile one still ran, and that the gradebook, the fake course
root's course/ (sources, hidden tests) and the other submissions are byte-for-byte unchanged;
the read/write cases also show that the repo's own course/ is not even visible.
Each case prints its report line (run with -s, or see the captured output on failure).

Bounded by construction: the memory bomb stops at 4 GB, the process flood at 400 processes, the
output flood at 1 GB, every loop under a 3 s cell timeout, and the whole run under a wall limit,
so even a broken sandbox cannot take the test machine down.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from grading.sandbox import Limits, execute_notebook, isolation_summary, _bwrap
from tests.hostile.conftest import (HOSTILE_INDEX, REPO, build_notebook, outputs_text,
                                    scores)

pytestmark = pytest.mark.hostile

# cell_timeout leaves room for imports on a loaded 2-core machine; the loop cases use
# LOOP_LIMITS so that they stay quick.
LIMITS = Limits(cell_timeout=30, memory_mb=1024, cpu_seconds=120, max_processes=64,
                max_output_bytes=1_000_000, wall_timeout=300)
LOOP_LIMITS = Limits(cell_timeout=4, memory_mb=1024, cpu_seconds=120, max_processes=64,
                     max_output_bytes=1_000_000, wall_timeout=300)

WRONG_DOUBLE = '''
def double(x):
    """Twice x, as a float array."""
    return np.asarray(x, dtype=float)  # wrong on purpose
'''


def paths_probe(paths: list[str], mode: str) -> str:
    """Student code trying to read (mode 'r') or write ('w') each path; prints LEAK/WROTE on
    success and 'blocked' otherwise."""
    return f'''
import os, sqlite3
for p in {paths!r}:
    try:
        if {mode!r} == "r":
            if os.path.isdir(p):
                names = os.listdir(p)
                print("LEAK", p, names[:3])
            else:
                with open(p, "rb") as f:
                    print("LEAK", p, f.read(20))
        else:
            if p.endswith(".db"):
                con = sqlite3.connect(p)
                con.execute("delete from grade")
                con.execute("insert into grade values ('alice', 'test_double', 100.0)")
                con.commit()
                print("WROTE", p)
            elif os.path.isdir(p):
                open(os.path.join(p, "pwned.txt"), "w").write("x")
                print("WROTE", p)
            else:
                with open(p, "a") as f:
                    f.write("pwned")
                print("WROTE", p)
    except Exception as e:
        print("blocked", p, type(e).__name__)
'''


def run_case(course_root, hostile: str, *, double: str | None = None,
             imports: str = "import numpy as np", limits: Limits = LIMITS):
    kw = {"double": double} if double else {}
    nb = build_notebook(hostile, imports=imports, **kw)
    course_root.submit(nb)
    before = course_root.hashes()
    t0 = time.monotonic()
    outcome = execute_notebook(nb, course_root.workdir, limits)
    elapsed = time.monotonic() - t0
    after = course_root.hashes()
    got = scores(outcome.notebook)
    print(f"\nREPORT {outcome.status:13} grade={sum(got.values()):.0f}/2 {got} "
          f"time={elapsed:.1f}s reason={outcome.reason!r}")
    assert before == after, "gradebook, course root or repo course/ changed"
    assert "last cell ran" in outputs_text(outcome.notebook.cells[-1]), \
        "the cells after the hostile one did not run"
    return outcome, got, elapsed


def hostile_text(outcome) -> str:
    return outputs_text(outcome.notebook.cells[HOSTILE_INDEX])


def test_isolation_is_in_force():
    # the test machines install bubblewrap (tools/install_system_deps.sh); a silent fallback
    # to no isolation must fail this suite rather than pass it
    assert _bwrap(), isolation_summary()
    assert "bubblewrap" in isolation_summary()


def test_benign_submission_gets_full_marks(course_root):
    outcome, got, _ = run_case(course_root, "y = double([3])")
    assert outcome.status == "ok" and outcome.reason == ""
    assert got == {"test_double": 1, "test_halve": 1}


def test_wrong_answer_loses_exactly_its_cell(course_root):
    outcome, got, _ = run_case(course_root, "pass", double=WRONG_DOUBLE)
    assert outcome.status == "ok"
    assert got == {"test_double": 0, "test_halve": 1}


def test_infinite_loop(course_root):
    outcome, got, elapsed = run_case(course_root, "while True:\n    pass", limits=LOOP_LIMITS)
    assert outcome.status == "timeout"
    assert "timeout in cell #4" in outcome.reason
    assert got == {"test_double": 1, "test_halve": 1}  # interrupted; state kept
    assert elapsed < 60


def test_infinite_loop_that_ignores_interrupts(course_root):
    src = ("while True:\n    try:\n        while True:\n            pass\n"
           "    except KeyboardInterrupt:\n        pass")
    outcome, got, elapsed = run_case(course_root, src, limits=LOOP_LIMITS)
    assert outcome.status == "timeout"
    assert "#4" in outcome.reason and "restarted" in outcome.reason
    # the fresh kernel replays the cells before the hostile one, so later tests still grade
    assert got == {"test_double": 1, "test_halve": 1}
    assert elapsed < 60


def test_runaway_memory(course_root):
    # stops by itself at 4 GB even without a sandbox
    src = "blocks = []\nfor i in range(8):\n    blocks.append(b'x' * (512 * 1024 * 1024))"
    outcome, got, _ = run_case(course_root, src)
    assert outcome.status == "memory"
    assert "memory limit" in outcome.reason and "#4" in outcome.reason
    assert "MemoryError" in hostile_text(outcome)
    assert got == {"test_double": 1, "test_halve": 1}


def test_fork_bomb(course_root):
    # stops by itself at 400 processes; children exit after 2 s
    src = '''
import os, time
pids = []
try:
    for i in range(400):
        pid = os.fork()
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        pids.append(pid)
finally:
    print("forked", len(pids))
    for p in pids:
        os.waitpid(p, 0)
'''
    outcome, got, _ = run_case(course_root, src)
    assert outcome.status == "process-limit"
    assert "process limit" in outcome.reason
    forked = int(hostile_text(outcome).split("forked")[1].split()[0])
    assert forked < LIMITS.max_processes
    assert got == {"test_double": 1, "test_halve": 1}


def test_os_exit(course_root):
    outcome, got, _ = run_case(course_root, "import os\nos._exit(3)")
    assert outcome.status == "dead-kernel"
    assert "kernel exited with code 3" in outcome.reason and "#4" in outcome.reason
    assert got == {"test_double": 1, "test_halve": 1}  # replayed in a fresh kernel


def test_gigabyte_of_output(course_root):
    src = "import sys\nfor i in range(1_000_000):\n    sys.stdout.write('x' * 999 + '\\n')"
    outcome, got, elapsed = run_case(course_root, src)
    assert outcome.status == "output-limit"
    assert "output limit" in outcome.reason and "#4" in outcome.reason
    total = sum(len(outputs_text(c)) for c in outcome.notebook.cells)
    assert total < 2 * LIMITS.max_output_bytes
    assert got == {"test_double": 1, "test_halve": 1}
    assert elapsed < 60


def test_raw_fd_output_flood_is_capped_too(course_root):
    # os.write to fd 1 bypasses sys.stdout; ipykernel forwards the fd, the cap still applies
    src = "import os\nfor i in range(2000):\n    os.write(1, b'y' * 500_000)\nprint('done')"
    outcome, got, _ = run_case(course_root, src)
    assert outcome.status == "output-limit", outcome.reason
    total = sum(len(outputs_text(c)) for c in outcome.notebook.cells)
    assert total < 2 * LIMITS.max_output_bytes
    assert got == {"test_double": 1, "test_halve": 1}


def test_reading_sources_and_other_submissions(course_root):
    targets = [str(course_root.source), str(course_root.other), str(course_root.gradebook),
               str(course_root.root), str(REPO / "course"), str(REPO / "course" / "README.md"),
               "/root/.bash_history", "/etc/shadow", str(course_root.root / "submitted")]
    listing = (f"\nprint('repo has', sorted(os.listdir({str(REPO)!r})))"
               "\nprint('home has', sorted(os.listdir('/root')))")
    outcome, got, _ = run_case(course_root, paths_probe(targets, "r") + listing)
    text = hostile_text(outcome)
    assert "LEAK" not in text, text
    assert text.count("blocked") == len(targets), text
    # the repo shows only the environment and the two packages; the home only the Python
    assert "repo has ['.venv', 'grading', 'helpers']" in text, text
    assert "home has ['.pyenv']" in text or "home has" not in text, text
    assert outcome.status == "ok"
    assert got == {"test_double": 1, "test_halve": 1}


def test_symlink_to_the_gradebook_in_the_submission(course_root):
    (course_root.workdir / "grades.db").symlink_to(course_root.gradebook)
    outcome, got, _ = run_case(course_root, paths_probe(["grades.db"], "r")
                               + paths_probe(["grades.db"], "w"))
    text = hostile_text(outcome)
    assert "LEAK" not in text and "WROTE" not in text, text
    assert got == {"test_double": 1, "test_halve": 1}


def test_writing_the_gradebook_and_sources(course_root):
    targets = [str(course_root.gradebook), str(course_root.source), str(course_root.other),
               str(course_root.root), str(REPO / "course"), str(REPO / "grading"),
               str(REPO / "helpers")]
    outcome, got, _ = run_case(course_root, paths_probe(targets, "w"))
    text = hostile_text(outcome)
    assert "WROTE" not in text, text
    assert text.count("blocked") == len(targets), text
    assert got == {"test_double": 1, "test_halve": 1}


def test_writes_stay_in_the_private_copy(course_root):
    src = ("open('scratch.txt', 'w').write('x')\nimport os\n"
           "print('cwd', os.getcwd(), sorted(os.listdir('.')))\n"
           "open('/tmp/t.txt', 'w').write('tmp ok'); print(open('/tmp/t.txt').read())")
    outcome, got, _ = run_case(course_root, src)
    text = hostile_text(outcome)
    assert "scratch.txt" in text and "tmp ok" in text, text
    assert not (course_root.workdir / "scratch.txt").exists()
    assert got == {"test_double": 1, "test_halve": 1}


def test_network_access(course_root):
    # a server on the grader's own loopback, plus the outside world and DNS
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    src = f'''
import socket, urllib.request
for target in [("127.0.0.1", {port}), ("1.1.1.1", 80), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(target, timeout=2).close()
        print("NET OK", target)
    except Exception as e:
        print("blocked", target, type(e).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    print("NET OK dns")
except Exception as e:
    print("blocked dns", type(e).__name__)
'''
    try:
        outcome, got, _ = run_case(course_root, src)
    finally:
        server.close()
    text = hostile_text(outcome)
    assert "NET OK" not in text and text.count("blocked") == 4, text
    assert not accepted
    assert got == {"test_double": 1, "test_halve": 1}


@pytest.mark.parametrize("patch, culprits", [
    ("np.allclose = lambda *a, **k: True\n"
     "np.testing.assert_allclose = lambda *a, **k: None", ["np.allclose", "np.testing"]),
    ("import sys, builtins\nsys.modules['numpy'].isclose = lambda *a, **k: True\n"
     "sys.modules['numpy.testing'].assert_allclose = lambda *a, **k: None\n"
     "builtins.abs = lambda x: 0\n_imp = builtins.__import__\n"
     "builtins.__import__ = lambda name, *a, **k: _imp(name, *a, **k)",
     ["np.isclose", "np.testing.assert_allclose", "abs", "__import__"]),
    ("def _yes(*a, **k):\n    return True\nnp.allclose.__code__ = _yes.__code__\n"
     "np.testing.assert_allclose.__code__ = (lambda *a, **k: None).__code__",
     ["np.allclose", "np.testing.assert_allclose"]),
    ("class _Fake:\n    allclose = staticmethod(lambda *a, **k: True)\n"
     "    asarray = staticmethod(lambda *a, **k: __import__('numpy').asarray(*a, **k))\n"
     "    arange = staticmethod(lambda *a, **k: __import__('numpy').arange(*a, **k))\n"
     "    class testing:\n        assert_allclose = staticmethod(lambda *a, **k: None)\n"
     "np = _Fake()", ["'np'"]),
    ("ip = get_ipython()\nip.input_transformers_cleanup.append(\n"
     "    lambda lines: ['pass\\n'] if 'double([1, 2])' in ''.join(lines) else lines)\n"
     "import sys\nsys.settrace(lambda *a: None)",
     ["input_transformers_cleanup", "gettrace"]),
    ("get_ipython().input_transformers_cleanup.append(\n"
     "    lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)",
     ["integrity check"]),
], ids=["module-attributes", "sys.modules+builtins", "__code__", "rebind-np",
        "transformer+settrace", "transformer-blanks-the-check"])
def test_monkeypatching_comparisons(course_root, patch, culprits):
    outcome, got, _ = run_case(course_root, patch, double=WRONG_DOUBLE)
    assert outcome.status == "tampered"
    for culprit in culprits:
        assert culprit in outcome.reason, outcome.reason
    assert "test_double" in outcome.reason
    assert got["test_double"] == 0
    err = [o for o in outcome.notebook.cells[HOSTILE_INDEX + 1].outputs
           if o.get("output_type") == "error"]
    assert err and err[0]["ename"] == "GradingIntegrityError"
    assert "grading integrity:" in err[0]["evalue"] and "replaced by student code" in err[0]["evalue"]


def test_monkeypatching_torch_and_helpers(course_root):
    patch = ("import torch\ntorch.allclose = lambda *a, **k: True\n"
             "torch.testing.assert_close = lambda *a, **k: None\n"
             "torch.Tensor.__eq__ = lambda self, other: torch.tensor(True)\n"
             "import helpers.checks._framework as fw\n"
             "fw.Checker.run = lambda self, *a, **k: None")
    imports = "import numpy as np\nimport torch\nfrom helpers.checks import Checker"
    outcome, got, _ = run_case(course_root, patch, double=WRONG_DOUBLE, imports=imports)
    assert outcome.status == "tampered"
    for culprit in ("torch.allclose", "torch.testing.assert_close", "torch.Tensor"):
        assert culprit in outcome.reason, outcome.reason
    assert got["test_double"] == 0


def test_patch_restored_before_the_test_is_not_flagged(course_root):
    # patching and restoring between cells does not touch any test: no false alarm
    src = "_orig = np.allclose\nnp.allclose = lambda *a, **k: True\nnp.allclose = _orig"
    outcome, got, _ = run_case(course_root, src)
    assert outcome.status == "ok", outcome.reason
    assert got == {"test_double": 1, "test_halve": 1}


def test_everyday_student_code_is_not_flagged(course_root):
    src = ("import numpy as np\nimport math, builtins, sys\nimport matplotlib\n"
           "matplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
           "plt.plot([1, 2]); plt.close('all')\nfrom numpy.testing import assert_allclose\n"
           "assert_allclose(double([1]), [2])\nprint(np.allclose(1, 1), math.isclose(1, 1))")
    outcome, got, _ = run_case(course_root, src)
    assert outcome.status == "ok", outcome.reason
    assert got == {"test_double": 1, "test_halve": 1}


def test_replacing_a_reference_function_of_helpers_model(course_root):
    # hidden tests of 06 take their reference from helpers.model.qk_weights / run_minilm: a
    # student who swaps the module's function AND rebinds the notebook name to the swap
    # passes the locked-import binding check; the module's own functions are fingerprinted
    patch = ("import helpers.model as hm\n_orig = hm.qk_weights\n"
             "hm.qk_weights = lambda layer: _orig(layer)\nqk_weights = hm.qk_weights")
    imports = "import numpy as np\nfrom helpers.model import qk_weights"
    outcome, got, _ = run_case(course_root, patch, imports=imports)
    assert outcome.status == "tampered", outcome.reason
    assert "helpers.model.qk_weights" in outcome.reason, outcome.reason
    assert got == {"test_double": 0, "test_halve": 0}
