"""cgroup filesystem mechanics for grading/cgroups.py: detection of a usable cgroup v2 or v1
hierarchy, one group per sandbox with its limit files, the counters read back.

cgroup v2 (``memory.max``, ``memory.swap.max``, ``memory.peak``, ``memory.events``,
``pids.max``, ``pids.events``, ``cpu.max``) is used when its controllers are usable, else
cgroup v1 (``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes``,
``memory.max_usage_in_bytes``, ``memory.oom_control``, ``pids.max``, ``pids.events``,
``cpu.cfs_quota_us``). Groups live under ``<parent>/grading/``: on v1 the parent is this
process's own cgroup in each hierarchy; on v2 it must be able to enable memory, pids and cpu
for its children (the root cgroup as root, or a delegated cgroup without processes).
"""
from __future__ import annotations

import errno
import functools
import os
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
PERIOD_US = 100_000  # CFS period: quota = cpus * period


class CgroupError(RuntimeError):
    """A cgroup could not be created or configured."""


@dataclass(frozen=True)
class Caps:
    memory_mb: int
    max_processes: int
    cpus: float

    def describe(self) -> str:
        return (f"{self.memory_mb} MB memory in total, {self.max_processes} processes, "
                f"{self.cpus:g} CPU")


# ----------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class Backend:
    version: int                   # 1 or 2
    bases: tuple[tuple[str, str], ...]  # (controller or "", folder holding the sandbox groups)


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _own_paths(text: str) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; "" is the v2 (unified) entry."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for ctl in parts[1].split(",") if parts[1] else [""]:
                out[ctl] = parts[2]
    return out


def _v2_backend(mount: Path, own: dict[str, str], parent: str) -> Backend:
    ctls = _read(mount / "cgroup.controllers").split()
    missing = [c for c in CONTROLLERS if c not in ctls]
    if missing:
        raise CgroupError(f"cgroup v2 at {mount} lacks the controllers {missing} "
                          f"(available: {ctls or 'none'}; on a hybrid system the rest is "
                          "bound to v1)")
    where = Path(parent) if parent else mount / own.get("", "/").lstrip("/")
    enable = " ".join(f"+{c}" for c in CONTROLLERS)
    try:
        if set(CONTROLLERS) - set(_read(where / "cgroup.subtree_control").split()):
            _write(where / "cgroup.subtree_control", enable)
        base = where / "grading"
        base.mkdir(exist_ok=True)
        _write(base / "cgroup.subtree_control", enable)
    except OSError as exc:
        raise CgroupError(f"cgroup v2: cannot enable {list(CONTROLLERS)} below {where} ({exc}); "
                          "run as root or set c.SandboxCgroups.parent to a delegated cgroup "
                          "that holds no processes") from exc
    return Backend(2, (("", str(base)),))


def _v1_backend(root: Path, own: dict[str, str]) -> Backend:
    bases = []
    for ctl in CONTROLLERS:
        mounts = [d for d in sorted(root.iterdir()) if ctl in d.name.split(",")
                  and (d / "cgroup.procs").exists() and not (d / "cgroup.controllers").exists()]
        if not mounts:
            raise CgroupError(f"no cgroup v1 hierarchy with the {ctl} controller under {root}")
        mine = mounts[0] / own.get(ctl, "/").lstrip("/")
        base = (mine if mine.is_dir() else mounts[0]) / "grading"
        try:
            base.mkdir(exist_ok=True)
        except OSError as exc:
            raise CgroupError(f"cgroup v1: cannot create {base} ({exc}); run as root or "
                              "delegate the memory, pids and cpu hierarchies") from exc
        bases.append((ctl, str(base)))
    return Backend(1, tuple(bases))


@functools.lru_cache(maxsize=8)
def _detect(root: str, parent: str, self_cgroup: str) -> Backend | str:
    own = _own_paths(self_cgroup)
    reasons = []
    for mount in (Path(root), Path(root) / "unified"):
        if (mount / "cgroup.controllers").is_file():
            try:
                return _probe(_v2_backend(mount, own, parent))
            except (CgroupError, OSError) as exc:
                reasons.append(str(exc))
            break
    if Path(root).is_dir():
        try:
            return _probe(_v1_backend(Path(root), own))
        except (CgroupError, OSError) as exc:
            reasons.append(str(exc))
    else:
        reasons.append(f"{root} does not exist")
    return "; ".join(reasons)


def _probe(backend: Backend) -> Backend:
    """Create, configure and remove one group: detection proves the whole path works."""
    Group(backend, Caps(256, 64, 1.0), "probe").remove()
    return backend


def detect(root: str | None = None, parent: str | None = None,
           self_cgroup: str | None = None) -> Backend | str:
    """The usable :class:`Backend`, or a sentence saying why there is none. ``root``: the
    cgroup filesystem ($GRADING_CGROUP_ROOT or /sys/fs/cgroup); ``parent``: a delegated v2
    cgroup to use; ``self_cgroup``: the text of /proc/self/cgroup (tests pass their own)."""
    if not os.path.isdir("/proc") and self_cgroup is None:
        return "not Linux: no cgroups"
    if self_cgroup is None:
        try:
            self_cgroup = _read(Path("/proc/self/cgroup"))
        except OSError:
            self_cgroup = ""
    root = root or os.environ.get("GRADING_CGROUP_ROOT") or "/sys/fs/cgroup"
    return _detect(root, parent or "", self_cgroup)


# ----------------------------------------------------------------------------- one group
@dataclass
class Usage:
    version: int
    memory_cap_mb: int
    max_processes: int
    cpus: float
    peak_mb: float | None = None   # highest total memory of the sandbox (cgroup peak counter)
    oom_kills: int = 0             # processes the OOM killer ended inside the group
    pids_max_hits: int = 0         # forks refused by the process cap
    cells: dict = field(default_factory=dict)  # kind -> cell running when it first happened


class Group:
    """One sandbox's cgroup (one folder per controller on v1, one folder on v2)."""

    def __init__(self, backend: Backend, caps: Caps, tag: str = "sbx"):
        self.backend, self.caps = backend, caps
        name = f"{tag}-{os.getpid()}-{secrets.token_hex(4)}"
        self.dirs = {ctl: Path(base) / name for ctl, base in backend.bases}
        self._seen = {"memory": 0, "process-limit": 0}
        self._cells: dict[str, str | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            for _ in range(3):  # another sandbox may remove an empty base meanwhile: retry
                try:
                    for d in self.dirs.values():
                        self._ensure_base(d.parent)
                        d.mkdir(exist_ok=True)
                    break
                except FileNotFoundError:
                    continue
            self._limit()
        except OSError as exc:
            self.remove()
            raise CgroupError(f"cannot set up cgroup {name}: {exc}") from exc
        self.procs = [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _ensure_base(self, base: Path) -> None:
        _sweep(base)
        if not base.is_dir():
            base.mkdir(exist_ok=True)
            if self.backend.version == 2:
                _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS))

    def _dir(self, ctl: str) -> Path:
        return self.dirs.get(ctl) or self.dirs[""]

    def _limit(self) -> None:
        mem = self.caps.memory_mb * 1024 * 1024
        quota = int(self.caps.cpus * PERIOD_US)
        if self.backend.version == 2:
            _write(self._dir("memory") / "memory.max", str(mem))
            if (self._dir("memory") / "memory.swap.max").exists():
                _write(self._dir("memory") / "memory.swap.max", "0")
            _write(self._dir("pids") / "pids.max", str(self.caps.max_processes))
            _write(self._dir("cpu") / "cpu.max", f"{quota} {PERIOD_US}")
        else:
            _write(self._dir("memory") / "memory.limit_in_bytes", str(mem))
            if (self._dir("memory") / "memory.memsw.limit_in_bytes").exists():
                # memory + swap: no escaping the cap into swap
                _write(self._dir("memory") / "memory.memsw.limit_in_bytes", str(mem))
            _write(self._dir("pids") / "pids.max", str(self.caps.max_processes))
            _write(self._dir("cpu") / "cpu.cfs_period_us", str(PERIOD_US))
            _write(self._dir("cpu") / "cpu.cfs_quota_us", str(quota))

    def describe(self) -> str:
        return f"cgroup v{self.backend.version} caps per submission: {self.caps.describe()}"

    def enter(self) -> None:
        """Put the calling process in the group (``preexec_fn``: runs in the child between
        fork and exec, so every process the sandbox ever starts is inside). os-level calls
        only: a forked child of a threaded parent must not take Python locks."""
        pid = str(os.getpid()).encode()
        for path in self.procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    # --- counters
    def _counter(self, ctl: str, name: str, key: str) -> int:
        try:
            for line in _read(self._dir(ctl) / name).splitlines():
                k, _, v = line.partition(" ")
                if k == key:
                    return int(v)
        except (OSError, ValueError):
            pass
        return 0

    def _counts(self) -> dict[str, int]:
        oom = (self._counter("memory", "memory.events", "oom_kill") if self.backend.version == 2
               else self._counter("memory", "memory.oom_control", "oom_kill"))
        return {"memory": oom, "process-limit": self._counter("pids", "pids.events", "max")}

    def _peak_mb(self) -> float | None:
        name = "memory.peak" if self.backend.version == 2 else "memory.max_usage_in_bytes"
        try:
            return round(int(_read(self._dir("memory") / name).split()[0]) / 2**20, 1)
        except (OSError, ValueError, IndexError):
            return None

    def watch(self, log_path: Path | None, period: float = 0.25) -> None:
        """Poll the OOM and pid-cap counters while the sandbox runs, so that each cap hit is
        recorded with the cell the runner was executing (its log says ``cell <label>``)."""
        def loop():
            while not self._stop.wait(period):
                self._poll(log_path)
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def _poll(self, log_path: Path | None) -> None:
        for kind, n in self._counts().items():
            if n > self._seen[kind]:
                self._seen[kind] = n
                self._cells.setdefault(kind, _current_cell(log_path))

    def finish(self) -> Usage:
        """Stop watching and read the counters (after the sandbox's processes are gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._poll(None)
        counts = self._counts()
        return Usage(self.backend.version, self.caps.memory_mb, self.caps.max_processes,
                     self.caps.cpus, self._peak_mb(), counts["memory"], counts["process-limit"],
                     dict(self._cells))

    def events(self, usage: Usage) -> list[dict]:
        """Sandbox events (grading.sandbox's format) for the caps that were hit."""
        out = []
        if usage.oom_kills:
            out.append({"kind": "memory", "cell": usage.cells.get("memory"),
                        "detail": f"used more than {usage.memory_cap_mb} MB in total "
                                  "(all processes)"})
        if usage.pids_max_hits:
            out.append({"kind": "process-limit", "cell": usage.cells.get("process-limit"),
                        "detail": f"more than {usage.max_processes} processes"})
        return out

    def remove(self, timeout: float = 10.0) -> bool:
        """Kill whatever is left in the group and remove it; True when it is gone."""
        deadline = time.monotonic() + timeout
        for d in self.dirs.values():
            while d.is_dir():
                if (d / "cgroup.kill").exists():
                    try:
                        _write(d / "cgroup.kill", "1")
                    except OSError:
                        pass
                try:
                    pids = [int(p) for p in _read(d / "cgroup.procs").split()]
                except (OSError, ValueError):
                    pids = []
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    d.rmdir()
                except OSError as exc:
                    if exc.errno == errno.ENOTEMPTY:  # a plain folder (a test's fake tree)
                        return False
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.05)
            try:  # the shared base too once empty (the last sandbox out); busy otherwise
                d.parent.rmdir()
            except OSError:
                pass
        return True


def _sweep(base: Path) -> None:
    """Remove the empty groups of graders that died before their clean-up (a worker killed
    at its hard time limit): a group named sbx-<pid>-... whose process is gone."""
    try:
        names = [p.name for p in base.iterdir() if p.name.startswith("sbx-")]
    except OSError:
        return
    for name in names:
        try:
            os.kill(int(name.split("-")[1]), 0)
            continue  # its grader still runs
        except ProcessLookupError:
            pass
        except (ValueError, IndexError, OSError):
            continue
        try:
            (base / name).rmdir()  # fails while processes are left in it: then it stays
        except OSError:
            pass


_CELL = re.compile(r"\] cell (\S+)\s*$")


def _current_cell(log_path: Path | None) -> str | None:
    """The cell the runner last logged as started (``[runner 1.23s] cell test_x``)."""
    if log_path is None:
        return None
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - 8192))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        m = _CELL.search(line)
        if m:
            return m.group(1)
    return None
