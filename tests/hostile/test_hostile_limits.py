"""Limits fail closed (issue 13, item 3): a sandbox that cannot apply one of its limits does
not run student code and says which limit, unless the instructor opts out with
GRADING_ALLOW_MISSING_LIMITS=1; the isolation string reports what was actually applied.

A failing setrlimit is real, not simulated: the grader runs in a child process whose HARD
limit is lowered below the one the sandbox asks for, and an unprivileged process (the
sandbox drops every capability) cannot raise a hard limit. RLIMIT_AS is applied by the kernel
launcher (grading/_sandbox_kernel.py), RLIMIT_NPROC also by the runner
(grading/_sandbox_runner.py): both paths are covered.

On the code before issue 13 the failure was swallowed: status "ok", full marks, and an
isolation string that claimed "resource limits on memory ..." (shown by running these cases
against it: status 'ok' where 'error' is asserted).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.conftest import REPO

pytestmark = pytest.mark.hostile

# Runs execute_notebook under a lowered hard limit and prints the outcome as JSON.
GRADER = r'''
import json, resource, sys
from pathlib import Path
name, hard, memory_mb, workdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
which = getattr(resource, name)
soft = resource.getrlimit(which)[0]
resource.setrlimit(which, (hard if soft == resource.RLIM_INFINITY else min(soft, hard), hard))
from grading.sandbox import Limits, execute_notebook
from tests.hostile.conftest import build_notebook, outputs_text, scores
nb = build_notebook("open('student_code_ran.txt', 'w').write('x')\nprint('student code ran')")
out = execute_notebook(nb, Path(workdir), Limits(cell_timeout=60, memory_mb=memory_mb,
                                                 max_processes=64, wall_timeout=300))
print(json.dumps({"status": out.status, "reason": out.reason, "isolation": out.isolation,
                  "scores": scores(out.notebook),
                  "outputs": [outputs_text(c) for c in out.notebook.cells
                              if c.cell_type == "code"]}))
'''


def grade_under(tmp_path: Path, name: str, hard: int, memory_mb: int, allow: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("GRADING_ALLOW_MISSING_LIMITS", None)
    if allow:
        env["GRADING_ALLOW_MISSING_LIMITS"] = "1"
    r = subprocess.run([sys.executable, "-c", GRADER, name, str(hard), str(memory_mb),
                        str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"the grader process failed: {r.stderr[-3000:]}"
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\nREPORT {name} allow={allow}: {out['status']} {out['scores']} {out['reason']!r}\n"
          f"  isolation: {out['isolation']}")
    return out


# (limit, hard limit given to the grader, memory_mb asked for): in each case the sandbox
# asks for more than the hard limit allows
CASES = [("RLIMIT_AS", 3 * 2**30, 4096), ("RLIMIT_NPROC", 40, 1024)]


@pytest.mark.parametrize("name, hard, memory_mb", CASES, ids=[c[0] for c in CASES])
def test_a_limit_that_cannot_be_applied_stops_the_run(tmp_path, name, hard, memory_mb):
    out = grade_under(tmp_path, name, hard, memory_mb, allow=False)
    assert out["status"] == "error", f"a sandbox without {name} graded anyway: {out}"
    assert f"sandbox could not apply limit" in out["reason"] and name in out["reason"], \
        f"the reason does not name the limit {name}: {out['reason']!r}"
    assert out["scores"] == {"test_double": 0, "test_halve": 0}, \
        f"test cells earned points in a sandbox that refused to run: {out['scores']}"
    assert not any("student code ran" in o for o in out["outputs"]), \
        f"student code ran although {name} was not applied: {out['outputs']}"
    assert not (tmp_path / "student_code_ran.txt").exists()


@pytest.mark.parametrize("name, hard, memory_mb", CASES, ids=[c[0] for c in CASES])
def test_the_instructor_can_opt_out_and_the_summary_says_what_is_missing(tmp_path, name, hard,
                                                                        memory_mb):
    out = grade_under(tmp_path, name, hard, memory_mb, allow=True)
    assert out["status"] == "ok", f"with GRADING_ALLOW_MISSING_LIMITS=1 grading should run: {out}"
    assert out["scores"] == {"test_double": 1, "test_halve": 1}, out["scores"]
    assert "student code ran" in "".join(out["outputs"])
    missing = out["isolation"].split("NOT APPLIED", 1)
    assert len(missing) == 2 and name in missing[1], \
        f"the isolation summary does not list {name} as not applied: {out['isolation']}"


def test_the_summary_lists_the_limits_actually_applied(tmp_path):
    out = grade_under(tmp_path, "RLIMIT_CORE", 0, 1024, allow=False)  # lowering CORE is harmless
    assert out["status"] == "ok", out
    applied = out["isolation"].split("limits applied:", 1)
    assert len(applied) == 2, f"no 'limits applied' in the isolation summary: {out['isolation']}"
    for entry in ("RLIMIT_AS 1024 MB", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC 64",
                  "PR_SET_PDEATHSIG", "runner non-dumpable"):
        assert entry in applied[1], f"{entry!r} missing from the applied limits: {applied[1]}"
    assert "NOT APPLIED" not in out["isolation"], out["isolation"]
