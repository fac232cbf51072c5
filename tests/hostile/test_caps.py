"""Caps per submission (issue 14), end to end through `python -m grading release` +
`autograde --jobs 2` + `report --format json`: one cgroup per sandbox bounds the total memory,
the processes and the CPU of a submission, so the submissions graded beside it keep their
grades.

In ONE run with ``c.SandboxCgroups.memory_mb = 1024``:

* ``memhog`` forks 8 children that each fill 400 MB (3.2 GB asked for; each child alone is
  under the per-process limit of 2048 MB, so only the total cap can stop them; 8 x 400 MB
  under 1 GB rather than 8 x 1 GB under 2 GB keeps the test's worst case, should the cap
  fail, at 3.2 GB on a shared 24 GB machine: each child also has a hard RLIMIT_AS of its
  size + 50 MB);
* ``forkbomb`` forks without end, ``cpuhog`` spins 9 processes (both until the 60 s cell
  timeout stops them; each would stop by itself after 90 s);
* ``good1`` and ``good2`` are correct and must keep full marks, ok, within their timeouts.

The memory peak of each sandbox comes from the cgroup's own counter (grading_state.json).
A second course checks the fail-closed policy where no cgroup can be created (simulated with
``GRADING_CGROUP_ROOT`` pointing at an empty folder).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading import cgroups
from tests.hostile.conftest import ASSIGNMENT, NOTEBOOK, build_notebook

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NAME = NOTEBOOK[:-len(".ipynb")]
CAP_MB = 1024
REAL = cgroups.detect()

MEMHOG = '''
import os, resource, time
def fill(mb):
    # a hard per-process bound too: the test stays bounded even if the cgroup cap failed
    vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1])
    resource.setrlimit(resource.RLIMIT_AS, ((vm << 10) + ((mb + 50) << 20),) * 2)
    block = np.ones(mb * 2**17)  # mb MB of float64, every page written
    time.sleep(3)
kids = []
for i in range(8):
    pid = os.fork()
    if pid == 0:
        try:
            fill(400)
        finally:
            os._exit(0)
    kids.append(pid)
print("children:", [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids])
'''
FORKBOMB = '''
import os, time
end = time.time() + 90  # past the cell timeout: stopped by it, bounded if it were not
while time.time() < end:  # every process forks again until the deadline
    try:
        os.fork()
    except OSError:
        pass
'''
CPUHOG = '''
import os, time
end = time.time() + 90  # past the cell timeout
for i in range(8):
    if os.fork() == 0:
        while time.time() < end:
            pass
        os._exit(0)
while time.time() < end:
    pass
'''


def cli(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, env=env)


def make_course(root: Path, timeout: int, extra_config: str = "") -> nbformat.NotebookNode:
    path = root / "source" / ASSIGNMENT / NOTEBOOK
    path.parent.mkdir(parents=True)
    nbformat.write(build_notebook(), path)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'source'\n"
        f"c.Execute.timeout = {timeout}\n{extra_config}")
    r = cli("release", ASSIGNMENT, "--course-root", str(root))
    assert r.returncode == 0, r.stdout + r.stderr
    return nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)


def submit(root: Path, release: nbformat.NotebookNode, student: str, hostile: str = "pass") -> None:
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "double":
            cell.source = "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n"
        elif gid == "halve":
            cell.source = "def halve(x):\n    return np.asarray(x, dtype=float) / 2\n"
    nb.cells[3].source = hostile  # the synthetic notebook's free student cell
    folder = root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / NOTEBOOK)


def scores(root: Path) -> dict[str, dict[str, float]]:
    rep = cli("report", "--format", "json", "--course-root", str(root))
    assert rep.returncode == 0, rep.stdout + rep.stderr
    out: dict[str, dict[str, float]] = {}
    for row in json.loads(rep.stdout):
        if row.get("cell"):
            out.setdefault(row["student"], {})[row["cell"]] = row["score"]
    return out


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    if isinstance(REAL, str):
        pytest.skip(f"no cgroup can be created on this machine: {REAL}")
    root = tmp_path_factory.mktemp("caps-course")
    # a cell timeout of 60 s: on a loaded 2-core machine, faulting in the first GB alone
    # took the memory hog more than 20 s
    release = make_course(root, 60, f"c.SandboxCgroups.memory_mb = {CAP_MB}\n")
    # sorted by name, so that with --jobs 2 each hostile one runs beside a correct one
    for student, code in [("a-memhog", MEMHOG), ("b-good1", "pass"), ("c-forkbomb", FORKBOMB),
                          ("d-good2", "pass"), ("e-cpuhog", CPUHOG)]:
        submit(root, release, student, code)
    auto = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2", "--no-progress")
    state = json.loads((root / "grading_state.json").read_text())["submissions"]
    return {"root": root, "auto": auto, "state": state, "scores": scores(root)}


def entry(capped, student: str) -> dict:
    return capped["state"][f"{ASSIGNMENT}/{student}"]


def test_grader_exits_0_and_states_the_caps(capped):
    auto = capped["auto"]
    print("\n" + auto.stdout)
    for student in sorted(capped["state"]):
        e = capped["state"][student]
        print(f"STATE {student:16} {e['status']:14} {e['seconds']:6.1f} s "
              f"{e['notebooks'][NAME].get('usage')} {e['reason']}")
    assert auto.returncode == 0, auto.stdout + auto.stderr
    assert f"cgroup v{REAL.version} caps per submission: {CAP_MB} MB memory in total" \
        in auto.stdout, f"the summary must state the caps in force:\n{auto.stdout}"


@pytest.mark.parametrize("student", ["b-good1", "d-good2"])
def test_correct_submissions_beside_hostile_ones_keep_full_marks(capped, student):
    assert capped["scores"][student] == {"test_double": 1.0, "test_halve": 1.0}, \
        f"{student} lost points beside a hostile submission: {entry(capped, student)}"
    e = entry(capped, student)
    assert e["status"] == "ok", f"{student}: {e['status']}: {e['reason']}"
    usage = e["notebooks"][NAME]["usage"]
    assert usage["oom_kills"] == 0 and usage["memory_cap_mb"] == CAP_MB, usage


def test_memory_hog_is_stopped_at_the_total_cap_with_the_reason(capped):
    e = entry(capped, "a-memhog")
    assert e["status"] == "memory", f"expected status memory, got {e['status']}: {e['reason']}"
    assert f"used more than {CAP_MB} MB in total (all processes)" in e["reason"], e["reason"]
    usage = e["notebooks"][NAME]["usage"]
    assert usage["oom_kills"] >= 1, f"no process was killed at the cap: {usage}"
    # the cgroup's own peak counter: the whole sandbox (kernel, children, runner, /tmp)
    assert usage["peak_mb"] is not None and usage["peak_mb"] <= CAP_MB, \
        f"sandbox peak {usage['peak_mb']} MB above the {CAP_MB} MB cap"
    assert usage["peak_mb"] >= 400, f"peak {usage['peak_mb']} MB: the children never filled"
    # the kernel itself survived: its correct answers still count
    assert capped["scores"]["a-memhog"] == {"test_double": 1.0, "test_halve": 1.0}


def test_fork_bomb_and_cpu_hog_have_a_reason(capped):
    for student in ("c-forkbomb", "e-cpuhog"):
        e = entry(capped, student)
        assert e["status"] != "ok", f"{student} should have hit a limit: {e}"


NO_CGROUP_MSG = "refusing to grade with --jobs 2: no cgroup can be created here"


def test_without_cgroups_parallel_grading_is_refused_unless_opted_out(tmp_path):
    root = tmp_path / "course"
    release = make_course(root, 6)
    submit(root, release, "good")
    empty = tmp_path / "no-cgroups"
    empty.mkdir()
    env = dict(os.environ, GRADING_CGROUP_ROOT=str(empty))  # simulates a machine without them
    env.pop("GRADING_ALLOW_NO_CGROUPS", None)

    refused = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2",
                  "--no-progress", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert NO_CGROUP_MSG in refused.stderr and "--allow-no-cgroups" in refused.stderr, refused.stderr
    assert not (root / "autograded").exists(), "nothing may be graded when the run is refused"

    allowed = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "2",
                  "--no-progress", "--allow-no-cgroups", env=env)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "WARNING: grading 2 submissions at once WITHOUT cgroup caps" in allowed.stdout, allowed.stdout
    assert "per-process limits only" in allowed.stdout, allowed.stdout
    assert scores(root)["good"] == {"test_double": 1.0, "test_halve": 1.0}

    serial = cli("autograde", ASSIGNMENT, "--course-root", str(root), "--jobs", "1",
                 "--no-progress", env=env)
    assert serial.returncode == 0, serial.stdout + serial.stderr
    assert "no cgroup caps" in serial.stdout and "(--jobs 1)" in serial.stdout, serial.stdout
