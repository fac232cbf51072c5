"""One cgroup per sandboxed submission: caps on total memory, processes and CPU (issue 14).

The per-process limits of :mod:`grading.sandbox` (address space, RLIMIT_NPROC, CPU seconds)
do not bound a submission as a whole: 8 children of 1 GB each are 8 GB. A cgroup does: every
process of the sandbox, and the tmpfs pages they write (the kernel charges them to the
writer's memory cgroup), count against one cap; the OOM killer then acts inside that group
only, never on another student's kernel or on the grader. How grading.sandbox uses it::

    group, note = sandbox_group(limits.max_processes)   # (None, why) where none can be made
    Popen(..., preexec_fn=group.enter)     # the child joins before exec: all descendants too
    group.watch(runner_log); ...; usage = group.finish()   # peak MB, OOM kills, pid-cap hits
    events = merge_events(runner_events, group.events(usage)); group.remove()

This module holds the configuration (``c.SandboxCgroups``), the caps and the fail-closed
policy of a run; :mod:`grading.cgroupfs` the filesystem mechanics (v1 and v2).

Caps (:func:`caps_for`): memory = min(``memory_mb``, 80% of RAM / jobs), processes = the
per-process limit + 64 (the RLIMIT_NPROC of the sandbox's own uid normally stops a fork bomb
first; the cgroup cap holds where that rlimit cannot, e.g. a grader that is not root), CPU =
CPUs / jobs (a CFS quota: a hog gets its slice, never more). ``jobs`` is the number of
sandboxes the machine runs at once: ``$GRADING_JOBS`` (set by ``python -m grading autograde
--jobs N`` for its workers; a Dask worker sets its own) or else the CPU count.
``$GRADING_CGROUPS=required`` (set for parallel runs) makes a sandbox refuse to run without
its cgroup; ``$GRADING_ALLOW_NO_CGROUPS=1`` is the opt-out of a whole environment, like
``--allow-no-cgroups``; ``$GRADING_CGROUP_ROOT`` replaces ``/sys/fs/cgroup`` (tests point it
at an empty folder to simulate a machine without cgroups).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Configurable

from grading import cgroupfs
from grading.cgroupfs import Backend, Caps, CgroupError, Group, Usage  # noqa: F401

class SandboxCgroups(Configurable):
    """Caps per sandboxed submission, set in nbgrader_config.py as ``c.SandboxCgroups.*``."""

    enabled = Bool(True, help="give every sandbox its own cgroup where the machine "
                   "allows").tag(config=True)
    memory_mb = Integer(4096, help="cap on the total memory of one submission (all its "
                        "processes and its /tmp); the cap used is min(this, 80 percent of RAM / "
                        "jobs)").tag(config=True)
    max_processes = Integer(0, help="cap on the processes and threads of one submission; "
                            "0: the per-process limit + 64").tag(config=True)
    cpus = Float(0.0, help="CPUs one submission may use (a quota); 0: CPUs / jobs").tag(config=True)
    parent = Unicode("", help="cgroup folder to create sandbox groups under (a delegated "
                     "cgroup v2 without processes); empty: this process's own "
                     "cgroup").tag(config=True)
    allow_parallel_without = Bool(False, help="grade with --jobs > 1 even where no cgroup "
                                  "can be created (per-process limits only)").tag(config=True)


@dataclass
class Settings:
    enabled: bool = True
    memory_mb: int = 4096
    max_processes: int = 0
    cpus: float = 0.0
    parent: str = ""
    allow_parallel_without: bool = False


_SETTINGS = [Settings()]


def settings_from_config(config) -> Settings:
    """The :class:`Settings` of a traitlets config (its ``SandboxCgroups`` section)."""
    from traitlets import TraitError

    try:
        c = SandboxCgroups(config=config)
    except TraitError as exc:
        raise ValueError(f"c.SandboxCgroups in nbgrader_config.py: {exc}") from exc
    if c.memory_mb < 64 or c.max_processes < 0 or c.cpus < 0:
        raise ValueError("c.SandboxCgroups in nbgrader_config.py: expected memory_mb >= 64, "
                         f"max_processes >= 0 and cpus >= 0; got memory_mb={c.memory_mb}, "
                         f"max_processes={c.max_processes}, cpus={c.cpus}")
    return Settings(c.enabled, c.memory_mb, c.max_processes, c.cpus, c.parent,
                    c.allow_parallel_without)


def configure(config) -> Settings:
    """Use ``config``'s ``c.SandboxCgroups`` for the sandboxes this process starts."""
    _SETTINGS[0] = settings_from_config(config)
    return _SETTINGS[0]


def current() -> Settings:
    """The settings in force in this process (defaults until :func:`configure`)."""
    return _SETTINGS[0]


def jobs() -> int:
    """Sandboxes this machine runs at once ($GRADING_JOBS, else the CPU count)."""
    try:
        return max(1, int(os.environ["GRADING_JOBS"]))
    except (KeyError, ValueError):
        return _cpu_count()


def required() -> bool:
    """True where a sandbox must not run without its cgroup (parallel grading, no opt-out)."""
    return os.environ.get("GRADING_CGROUPS", "") == "required"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _ram_mb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096




def caps_for(per_process_max: int, settings: Settings | None = None, n_jobs: int | None = None,
             ram_mb: int | None = None, cpus: int | None = None) -> Caps:
    """Caps of one sandbox: the configured values, bounded so that ``n_jobs`` sandboxes
    together never hold more than 80% of the RAM or more than the machine's CPUs."""
    s = settings or _SETTINGS[0]
    n = max(1, n_jobs or jobs())
    memory = max(64, min(int(s.memory_mb), int(0.8 * (ram_mb or _ram_mb()) / n)))
    procs = int(s.max_processes) or int(per_process_max) + 64
    cpu = float(s.cpus) or max(0.1, round((cpus or _cpu_count()) / n, 2))
    return Caps(memory, procs, cpu)



class RefusedError(ValueError):
    """Parallel grading was asked for where no cgroup can cap each submission."""


def run_policy(n_jobs: int, settings: Settings, allow_without: bool = False
               ) -> tuple[dict[str, str], str]:
    """Decide, before a grading run, how its sandboxes are isolated: the environment of its
    worker processes and one line for the run summary. Fail closed: with ``n_jobs`` > 1 and
    no cgroup, raise :class:`RefusedError` unless the instructor opted out."""
    from grading.sandbox import Limits

    backend = detect(parent=settings.parent) if settings.enabled else \
        "c.SandboxCgroups.enabled = False"
    allowed = (allow_without or settings.allow_parallel_without
               or os.environ.get("GRADING_ALLOW_NO_CGROUPS", "").strip().lower()
               in ("1", "true", "yes"))
    env = {"GRADING_JOBS": str(n_jobs), "GRADING_CGROUPS": "optional"}
    if not isinstance(backend, str):
        caps = caps_for(Limits().max_processes, settings, n_jobs)
        if n_jobs > 1 and not allowed:
            env["GRADING_CGROUPS"] = "required"  # a sandbox without its group refuses to run
        return env, (f"cgroup v{backend.version} caps per submission: {caps.describe()} "
                     f"(--jobs {n_jobs} on {_cpu_count()} CPUs, {_ram_mb()} MB RAM)")
    if n_jobs <= 1:
        return env, f"no cgroup caps ({backend}): per-process limits only (--jobs 1)"
    if allowed:
        return env, (f"WARNING: grading {n_jobs} submissions at once WITHOUT cgroup caps "
                     f"(opted out; {backend}): per-process limits only, one submission can "
                     "take the memory or CPU of the others")
    raise RefusedError(
        f"refusing to grade with --jobs {n_jobs}: no cgroup can be created here ({backend}). "
        "Without one, a submission that forks and fills memory or CPU takes them from the "
        "submissions graded beside it (their kernels die or time out: their grades change). "
        "Run as root on a machine with the memory, pids and cpu cgroup controllers (or set "
        "c.SandboxCgroups.parent to a delegated cgroup v2), grade with --jobs 1, or opt out "
        "with --allow-no-cgroups (c.SandboxCgroups.allow_parallel_without = True, or "
        "GRADING_ALLOW_NO_CGROUPS=1).")


def detect(root: str | None = None, parent: str | None = None,
           self_cgroup: str | None = None) -> Backend | str:
    """:func:`grading.cgroupfs.detect` with ``c.SandboxCgroups.parent`` by default."""
    return cgroupfs.detect(root, current().parent if parent is None else parent, self_cgroup)


def merge_events(runner_events: list[dict], cgroup_events: list[dict]) -> list[dict]:
    """The runner's events plus the cgroup's; a cgroup cap hit replaces the runner's vaguer
    guess for the same cell ("kernel killed (SIGKILL: memory or CPU limit)")."""
    vaguer = {"memory": ("memory", "dead-kernel"),
              "process-limit": ("process-limit", "dead-kernel")}
    out = list(runner_events)
    for ev in cgroup_events:
        if ev.get("cell"):
            out = [e for e in out if not (e.get("cell") == ev["cell"]
                                          and e.get("kind") in vaguer[ev["kind"]])]
        out.append(ev)
    return out


def sandbox_group(per_process_max: int) -> tuple[Group | None, str]:
    """A new group for one sandbox and the isolation note for the run summary, or
    (None, why) where this machine or configuration gives none."""
    s = current()
    if not s.enabled:
        return None, "no cgroup caps (c.SandboxCgroups.enabled = False): per-process limits only"
    backend = detect()
    if isinstance(backend, str):
        return None, f"no cgroup caps ({backend}): per-process limits only"
    try:
        group = Group(backend, caps_for(per_process_max, s))
    except CgroupError as exc:
        return None, f"no cgroup caps ({exc}): per-process limits only"
    return group, group.describe()


def usage_dict(usage: Usage | None) -> dict:
    return asdict(usage) if usage is not None else {}
