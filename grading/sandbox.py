"""Execute one submission notebook in a sandbox (issue 6, COURSE_SPEC section 6).

Interface used by the autograde pipeline::

    outcome = execute_notebook(nb, workdir, Limits(cell_timeout=30))
    outcome.notebook   # executed notebook (nbgrader Execute semantics)
    outcome.status     # "ok", "timeout", "memory", "dead-kernel", "output-limit", "tampered", "error"
    outcome.reason     # e.g. "timeout in cell test_softmax"; "" when ok
    outcome.isolation  # which isolation was in force (also: isolation_summary())

Isolation on Linux with bubblewrap (``bwrap``): the notebook client and the kernel run together
in one sandbox (grading/_sandbox_runner.py) with every namespace unshared (no network: only a
private loopback; own pid, ipc, uts, user namespaces), as an unprivileged uid of its own when the
grader runs as root (so RLIMIT_NPROC counts only this sandbox and nothing in it is root outside),
on a filesystem built from nothing: /usr, /etc, the Python installation and the virtual
environment read-only, the repo's ``helpers`` and ``grading`` packages read-only, a private
size-limited /tmp, and a writable copy of the submission folder inside it, without any
notebook or file holding hidden tests (:func:`_copy_submission`: the notebook being executed
lives only in the runner's memory). The repo's course/
(solutions, hidden tests), other submissions, the gradebook, the instructor's home and every
grading runtime folder are simply not there. Per-process limits (address space, CPU seconds,
file size, processes) are set before the kernel starts and checked: one that cannot be
applied stops the run with status "error" naming it, unless GRADING_ALLOW_MISSING_LIMITS=1
(``Outcome.isolation`` lists what was applied); total output is capped while it streams;
the whole run has a wall-clock limit after which the sandbox is killed.

Without bwrap (macOS, Windows, a Linux without user namespaces) the same runner runs as a plain
subprocess with the resource limits only, and :func:`isolation_summary` and a warning say so.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grading import hidden
from grading import cgroups

STATUSES = ("ok", "timeout", "memory", "process-limit", "dead-kernel", "output-limit",
            "tampered", "error")
# When several things went wrong, the status names the most serious.
_PRIORITY = ("tampered", "error", "memory", "process-limit", "dead-kernel", "timeout",
             "output-limit")


@dataclass
class Limits:
    cell_timeout: float = 30
    memory_mb: int = 2048
    cpu_seconds: int = 600
    max_processes: int = 256
    max_output_bytes: int = 10_000_000
    wall_timeout: float | None = None  # None: derived from cell_timeout and the cell count
    tmp_mb: int = 512  # size of the sandbox's private /tmp (holds the submission copy)
    max_file_bytes: int = 256 * 1024 * 1024

    def derived_wall_timeout(self, n_code_cells: int) -> float:
        if self.wall_timeout:
            return float(self.wall_timeout)
        # kernel start + guard snapshot, then per cell: timeout + interrupt grace + guard
        return 120.0 + n_code_cells * (float(self.cell_timeout) + 10.0)


@dataclass
class Outcome:
    notebook: nbformat.NotebookNode
    status: str
    reason: str
    isolation: str
    seconds: float = 0.0
    events: list = dataclasses.field(default_factory=list)
    usage: dict = dataclasses.field(default_factory=dict)  # cgroup caps and peak (cgroups.Usage)


class SandboxWarning(UserWarning):
    pass


# ---------------------------------------------------------------------------------------------
# bwrap detection


@functools.lru_cache(maxsize=1)
def _bwrap() -> str | None:
    if not sys.platform.startswith("linux") or os.environ.get("GRADING_NO_BWRAP"):
        return None
    path = shutil.which("bwrap")
    if not path:
        return None
    try:
        r = subprocess.run(_bwrap_base(path) + ["--ro-bind", "/", "/", "true"],
                           capture_output=True, timeout=30)
    except Exception:  # noqa: BLE001
        return None
    return path if r.returncode == 0 else None


def _bwrap_base(path: str) -> list[str]:
    if os.geteuid() == 0:
        # No user namespace: as root, bwrap mounts what it is told to (even under a 0700
        # home) and the runner then switches to a uid of its own, a real one outside too, so
        # RLIMIT_NPROC counts this sandbox only and nothing inside is root anywhere.
        return [path, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_SETPCAP"]
    return [path, "--unshare-all", "--die-with-parent", "--new-session"]


def isolation_summary() -> str:
    if _bwrap():
        who = "a private unprivileged uid" if os.geteuid() == 0 else f"uid {os.getuid()}"
        return (f"bubblewrap sandbox ({_bwrap()}): no network, private /tmp, read-only "
                f"environment, no course/ gradebook or other submissions, runs as {who}; "
                "resource limits on memory, CPU, processes, file and output size")
    why = ("GRADING_NO_BWRAP is set" if os.environ.get("GRADING_NO_BWRAP")
           else "bubblewrap not available")
    return (f"WARNING: NO SANDBOX ({why}): resource limits only; student code can read and "
            "write everything the grader can, hidden tests and the gradebook included "
            "(install bubblewrap; unset GRADING_NO_BWRAP)")


def _allow_missing_limits() -> bool:
    """GRADING_ALLOW_MISSING_LIMITS=1: grade even where a resource limit, the parent-death
    signal, non-dumpability or the capability drop cannot be applied (the isolation string
    then lists what is missing). Default: refuse to run student code."""
    return os.environ.get("GRADING_ALLOW_MISSING_LIMITS", "").strip().lower() in (
        "1", "true", "yes")


def _with_applied(isolation: str, applied: list | None, missing: list | None) -> str:
    """The isolation summary plus what the runner reports it actually applied."""
    if applied is None:
        return isolation + "; limits applied: unknown (the runner did not report them)"
    text = f"{isolation}; limits applied: {', '.join(applied) or 'none'}"
    if missing:
        text += f"; WARNING: NOT APPLIED (GRADING_ALLOW_MISSING_LIMITS): {', '.join(missing)}"
    return text


# ---------------------------------------------------------------------------------------------
# helpers


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _count_user_processes(uid: int) -> int:
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{d}/task"))
            except OSError:
                pass
    return n


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            try:
                os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)
            except OSError:
                pass


_HIDDEN_MARKERS = (b"BEGIN HIDDEN TESTS", b"END HIDDEN TESTS")


def _holds_hidden_marker(path: Path) -> bool:
    """Whether a file's bytes contain a hidden-test delimiter (read in 1 MB chunks)."""
    keep = max(len(m) for m in _HIDDEN_MARKERS)
    tail = b""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                block = tail + chunk
                if any(m in block for m in _HIDDEN_MARKERS):
                    return True
                tail = block[-keep:]
    except OSError:
        return True  # unreadable for us: do not hand it to student code either
    return False


def _copy_submission(src: Path, dst: Path) -> list[str]:
    """The kernel's working copy of the submission folder; returns what was left out.

    The folder nbgrader hands over is ``autograded/<student>/<assignment>/``: it holds the
    student's own files, the assignment's non-notebook files, and nbgrader's notebooks: the
    one being executed with its hidden tests restored from the gradebook, and the autograded
    notebooks (hidden tests and outputs) of the assignment's notebooks graded before it. So
    the copy holds every file EXCEPT: every ``*.ipynb`` at any depth (students' notebooks
    never land there: nbgrader copies only non-notebook files of a submission), every
    ``.ipynb_checkpoints`` folder, and every file whose bytes contain a hidden-test
    delimiter. The notebook being executed exists only in the runner's memory. Symlinks
    are copied as links (a link to the gradebook points at nothing inside the sandbox)."""
    left_out: list[str] = []
    if not src.is_dir():
        dst.mkdir(parents=True)
        return left_out

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = set()
        for name in names:
            path = Path(folder, name)
            if (name.lower().endswith(".ipynb") or name == ".ipynb_checkpoints"
                    or (path.is_file() and not path.is_symlink() and _holds_hidden_marker(path))):
                skip.add(name)
                left_out.append(str(path.relative_to(src)))
        return skip

    shutil.copytree(src, dst, symlinks=True, ignore=ignore)
    return left_out


def _fail_untested(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    """A test cell that did not run must not pass: give every test cell without an error an
    error output."""
    for cell in nb.cells:
        md = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and md.get("grade") and not md.get("solution"):
            if not any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                cell.outputs = list(cell.get("outputs", [])) + [nbformat.v4.new_output(
                    "error", ename="GradingError", evalue=text,
                    traceback=[f"GradingError: {text}"])]
    return nb


def _summarise(events: list[dict]) -> tuple[str, str]:
    """(status, reason): the most serious kind; one clause per distinct problem, e.g.
    "timeout in cell #4: cell exceeded 30 s; tampered in cells test_a, test_b: ..."."""
    if not events:
        return "ok", ""
    kinds = [e["kind"] for e in events]
    status = next((k for k in _PRIORITY if k in kinds), kinds[0])
    names = {"timeout": "timeout", "memory": "memory limit", "dead-kernel": "kernel died",
             "output-limit": "output limit", "tampered": "tampered", "error": "error",
             "process-limit": "process limit"}
    groups: dict[tuple[str, str], list[str]] = {}
    for e in sorted(events, key=lambda e: _PRIORITY.index(e["kind"]) if e["kind"] in _PRIORITY else 99):
        cells = groups.setdefault((e["kind"], e.get("detail") or ""), [])
        if e.get("cell") and e["cell"] not in cells:
            cells.append(e["cell"])
    parts = []
    for (kind, detail), cells in groups.items():
        where = ""
        if cells:
            where = f" in cell{'s' if len(cells) > 1 else ''} {', '.join(cells)}"
        parts.append(f"{names.get(kind, kind)}{where}" + (f": {detail}" if detail else ""))
    return status, "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# main entry point


def execute_notebook(nb: nbformat.NotebookNode, workdir: Path,
                     limits: Limits = Limits()) -> Outcome:
    """Execute ``nb`` with cwd = a private writable copy of ``workdir``. Never raises for
    anything the notebook's code does; problems come back as ``status``/``reason``."""
    t0 = time.monotonic()
    isolation = isolation_summary()
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # private copy
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    n_code = sum(1 for c in nb.cells if c.cell_type == "code")
    wall = limits.derived_wall_timeout(n_code)
    bwrap = _bwrap()
    if not bwrap:
        warnings.warn(isolation, SandboxWarning, stacklevel=2)
    uid = random.randrange(2_000_001, 60_000_000) if (bwrap and os.geteuid() == 0) else None
    lim = dataclasses.asdict(limits)
    if uid is not None:
        lim["nproc_rlimit"] = limits.max_processes
    elif sys.platform.startswith("linux"):
        # NPROC counts every process of this user: allow what already runs plus the budget
        lim["nproc_rlimit"] = _count_user_processes(os.getuid()) + limits.max_processes
    lim["pdeathsig"] = True
    # fail closed: a limit that cannot be applied stops the run, unless the instructor opted
    # out (GRADING_ALLOW_MISSING_LIMITS=1, see grading/README.md)
    lim["allow_missing_limits"] = _allow_missing_limits()
    payload = json.dumps({"notebook": nb, "limits": lim}).encode()

    job = Path(tempfile.mkdtemp(prefix="grading-sbx-"))
    opened: list[int] = []
    group = None  # this sandbox's cgroup (grading/cgroups.py), removed in `finally`
    try:
        work = job / "work"
        try:
            _copy_submission(Path(workdir), work)  # without anything holding hidden tests
        except Exception as exc:  # noqa: BLE001
            return Outcome(_fail_untested(nb, "submission folder unreadable"), "error",
                           f"could not copy the submission folder: {exc}", isolation,
                           time.monotonic() - t0)
        log = open(job / "runner.log", "wb")
        r_fd, w_fd = os.pipe()
        runner = [sys.executable, "-m", "grading._sandbox_runner", "--result-fd", str(w_fd)]
        env = _sandbox_env()
        if bwrap:
            if uid is not None:
                _chown_tree(work, uid)
            cmd, fds = _bwrap_command(bwrap, work, limits)
            opened.extend(fds)
            cmd += ["--", *runner, "--input-dir", "/submission-in", "--work-dir", "/tmp/submission"]
            if uid is not None:
                cmd += ["--uid", str(uid)]
            cwd = "/"
            pass_fds = (w_fd, *fds)
        else:
            cmd = runner
            cwd = str(work)
            pass_fds = (w_fd,)
            env = dict(os.environ, **env)
        # one cgroup per sandbox: total memory, processes, CPU share (issue 14)
        group, note = cgroups.sandbox_group(limits.max_processes)
        isolation = f"{isolation}; {note}"
        if group is None and cgroups.required():
            log.close()
            os.close(r_fd)
            os.close(w_fd)
            return Outcome(_fail_untested(nb, "no cgroup for this sandbox"), "error",
                           f"refused to run without the cgroup parallel grading needs: {note}",
                           isolation, time.monotonic() - t0)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, cwd=cwd,
                                    env=env, pass_fds=pass_fds, start_new_session=True,
                                    preexec_fn=group.enter if group else None)
        except Exception as exc:  # noqa: BLE001
            os.close(r_fd)
            os.close(w_fd)
            return Outcome(_fail_untested(nb, "sandbox did not start"), "error",
                           f"sandbox did not start: {exc}", isolation, time.monotonic() - t0)
        finally:
            for fd in opened:
                os.close(fd)
            opened.clear()
        os.close(w_fd)
        if group is not None:
            group.watch(job / "runner.log")
        cap = limits.max_output_bytes * 3 + len(payload) * 2 + 50_000_000
        chunks: list[bytes] = []
        state = {"size": 0, "overflow": False}

        def reader():
            with os.fdopen(r_fd, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    if state["size"] + len(b) > cap:
                        state["overflow"] = True
                        continue
                    state["size"] += len(b)
                    chunks.append(b)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except OSError:
            pass
        timed_out = False
        try:
            proc.wait(timeout=wall)
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill_group(proc)
        th.join(timeout=30)
        log.close()
        elapsed = time.monotonic() - t0
        usage = group.finish() if group is not None else None
        capped = group.events(usage) if group is not None else []
        if timed_out:
            return Outcome(_fail_untested(nb, "grading stopped at the wall-clock limit"), "timeout",
                           f"timeout: the whole notebook exceeded the wall-clock limit of {wall:.0f} s",
                           isolation, elapsed, capped, cgroups.usage_dict(usage))
        try:
            result = json.loads(b"".join(chunks))
            out = nbformat.from_dict(result["notebook"])
            events = list(result["events"])
            isolation = _with_applied(isolation, result.get("applied"), result.get("missing"))
        except Exception:  # noqa: BLE001
            tail = (job / "runner.log").read_bytes()[-2000:].decode("utf-8", "replace")
            status, reason = _summarise(capped) if capped else ("error", "")
            return Outcome(_fail_untested(nb, "the grader's runner failed"), status,
                           reason or f"sandbox runner failed (exit {proc.returncode}): "
                                     f"{tail.strip()[-500:]}",
                           isolation, elapsed, capped, cgroups.usage_dict(usage))
        if state["overflow"]:
            events.append({"kind": "output-limit", "cell": None, "detail": "result too large"})
        events = cgroups.merge_events(events, capped)
        # last line of defence: no output line quoting a hidden test leaves the grader
        hidden.redact_outputs(out, hidden.hidden_lines(nb))
        status, reason = _summarise(events)
        return Outcome(out, status, reason, isolation, elapsed, events, cgroups.usage_dict(usage))
    finally:
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass
        if group is not None:
            group.remove()
        if not os.environ.get("GRADING_KEEP_SANDBOX_DIR"):
            shutil.rmtree(job, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@functools.lru_cache(maxsize=1)
def _mpl_cache() -> Path | None:
    """matplotlib's font cache, built once per grader (a fresh HOME would rebuild it in every
    kernel: seconds per submission). Mounted read-only; the runner copies it into HOME."""
    d = Path(tempfile.gettempdir()) / f"grading-mplcache-{os.getuid()}"
    try:
        if d.is_dir() and (d.stat().st_uid != os.getuid() or d.is_symlink()):
            return None
        if not any(d.glob("fontlist-*.json")):
            tmp = Path(tempfile.mkdtemp(prefix="grading-mplcache-"))
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                           env=dict(os.environ, MPLCONFIGDIR=str(tmp)), timeout=300,
                           capture_output=True)
            if not any(tmp.glob("fontlist-*.json")):
                shutil.rmtree(tmp, ignore_errors=True)
                return None
            os.chmod(tmp, 0o755)
            try:
                tmp.rename(d)
            except OSError:  # another worker won the race
                shutil.rmtree(tmp, ignore_errors=True)
        return d if any(d.glob("fontlist-*.json")) else None
    except Exception:  # noqa: BLE001
        return None


def _sandbox_env() -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": "/tmp/home/.matplotlib", "IPYTHONDIR": "/tmp/home/.ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/grading-jupyter/runtime",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        # one thread per library: every thread counts against the process limit, and
        # parallel grading already uses the cores
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    }


def _ro_paths() -> list[Path]:
    """Host paths the sandbox sees read-only (mounted at the same place)."""
    paths = [Path("/usr"), Path("/etc"), Path(sys.base_prefix).resolve(),
             Path(sys.prefix).resolve(), Path(sys.exec_prefix).resolve()]
    for extra in ("/opt/conda",):
        if Path(sys.prefix).resolve().is_relative_to(extra):
            paths.append(Path(extra))
    for pkg in ("grading", "helpers"):
        d = _package_dir(pkg)
        if d is not None:
            paths.append(d)
    # nothing under the repo's course/ ever: the packages are bound one by one
    uniq: list[Path] = []
    for p in sorted(set(paths), key=lambda p: len(p.parts)):
        if p.exists() and not any(p.is_relative_to(q) for q in uniq):
            uniq.append(p)
    return uniq


def _package_binds(package: Path) -> list[str]:
    """bwrap arguments showing a package folder's code and nothing else.

    grading/ is also the default course root: its gradebook.db (which stores the hidden
    tests), release/, submitted/, autograded/, feedback/, a grading run's work folder and
    files that appear there later (a gradebook journal during a merge, a new autograded
    notebook) must stay out of sight. So the folder is an empty tmpfs, each code entry
    (``*.py``, ``__pycache__``, sub-packages) is bound into it read-only, and the tmpfs is
    remounted read-only: an allow-list, fixed when the sandbox starts."""
    args = ["--perms", "0755", "--tmpfs", str(package)]
    for entry in sorted(package.iterdir()):
        code = entry.suffix in (".py", ".pyi", ".typed") or entry.name == "__pycache__"
        if entry.is_symlink() or not (code or (entry.is_dir() and (entry / "__init__.py").exists())):
            continue
        args += ["--ro-bind", str(entry), str(entry)]
    return args + ["--remount-ro", str(package)]


def _bwrap_command(bwrap: str, work: Path, limits: Limits) -> tuple[list[str], list[int]]:
    cmd = _bwrap_base(bwrap) + ["--clearenv"]
    for k, v in _sandbox_env().items():
        cmd += ["--setenv", k, v]
    fds: list[int] = []
    # The private /tmp comes first, so that a checkout or venv that itself lives under /tmp
    # (a CI clone, say) is bound on top of it instead of being hidden by it.
    cmd += ["--perms", "1777", "--size", str(int(limits.tmp_mb) * 1024 * 1024),
            "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/tmp")}
    packages = {d for d in (_package_dir("grading"), _package_dir("helpers")) if d is not None}
    for p in _ro_paths():
        # bwrap would create missing parents 0700 (unreadable for the sandbox uid)
        for parent in reversed(p.parents[:-1]):
            if parent not in made:
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", str(parent)]
        if p.is_dir() and p in packages:
            cmd += _package_binds(p)
        else:
            cmd += ["--ro-bind", str(p), str(p)]
    for name in ("bin", "lib", "lib64", "sbin", "lib32"):
        host = Path("/") / name
        if host.is_symlink():
            cmd += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), str(host)]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--ro-bind", str(work), "/submission-in", "--chdir", "/"]
    mpl = _mpl_cache()
    if mpl is not None:
        cmd += ["--ro-bind", str(mpl), "/opt/grading-mplcache"]
    return cmd, fds
