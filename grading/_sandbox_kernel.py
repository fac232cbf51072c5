"""Kernel launcher used by the sandbox kernelspec: applies per-process resource limits, then
replaces itself with the IPython kernel. argv: LIMITS_JSON -f CONNECTION_FILE.

Fails closed (issue 13): a limit that cannot be applied (setrlimit refused, a hard limit
below the one asked for, prctl failing) means NO kernel: the launcher exits with
:data:`EXIT_LIMITS` before any student code can run, unless the limits carry
``allow_missing_limits`` (GRADING_ALLOW_MISSING_LIMITS=1 in the grader's environment).
``--check LIMITS_JSON`` applies the same limits to a throw-away process and prints
``{"applied": [...], "failed": [...]}``: the runner asks this before it starts a kernel, so
that it can say which limit failed.
"""
from __future__ import annotations

import json
import os
import resource
import sys

EXIT_LIMITS = 78  # EX_CONFIG: the sandbox could not apply its limits


def _setlim(name: str, which: int, soft: int, hard: int, shown: str,
            applied: list[str], failed: list[str]) -> None:
    try:
        resource.setrlimit(which, (soft, hard))
        got = resource.getrlimit(which)
        if got != (soft, hard):
            raise OSError(f"reads back as {got}, wanted {(soft, hard)}")
        applied.append(f"{name} {shown}")
    except (ValueError, OSError) as exc:
        failed.append(f"{name}: {exc} (wanted {shown}, current {resource.getrlimit(which)})")


def apply_limits(limits: dict) -> tuple[list[str], list[str]]:
    """Apply the per-process limits of ``limits`` (grading.sandbox.Limits as a dict) to this
    process; returns (applied, failed), each a list of readable entries."""
    applied: list[str] = []
    failed: list[str] = []
    mem = int(limits["memory_mb"]) * 1024 * 1024
    _setlim("RLIMIT_AS", resource.RLIMIT_AS, mem, mem, f"{limits['memory_mb']} MB",
            applied, failed)
    cpu = int(limits["cpu_seconds"])
    _setlim("RLIMIT_CPU", resource.RLIMIT_CPU, cpu, cpu + 5, f"{cpu} s", applied, failed)
    fsize = int(limits.get("max_file_bytes", 256 * 1024 * 1024))
    _setlim("RLIMIT_FSIZE", resource.RLIMIT_FSIZE, fsize, fsize, f"{fsize // 2**20} MB",
            applied, failed)
    _setlim("RLIMIT_CORE", resource.RLIMIT_CORE, 0, 0, "0", applied, failed)
    nproc = limits.get("nproc_rlimit")
    if nproc:
        _setlim("RLIMIT_NPROC", resource.RLIMIT_NPROC, int(nproc), int(nproc),
                str(limits.get("max_processes", nproc)), applied, failed)
    if sys.platform.startswith("linux") and limits.get("pdeathsig", True):
        # die with the runner even where no sandbox does it for us
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, 9, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG, SIGKILL
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            sig = ctypes.c_int(0)
            libc.prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
            if sig.value != 9:
                raise OSError(f"reads back as {sig.value}")
            applied.append("PR_SET_PDEATHSIG")
        except Exception as exc:  # noqa: BLE001
            failed.append(f"PR_SET_PDEATHSIG: {exc}")
    return applied, failed


def main() -> None:
    if sys.argv[1] == "--check":
        applied, failed = apply_limits(json.loads(sys.argv[2]))
        print(json.dumps({"applied": applied, "failed": failed}))
        return
    limits = json.loads(sys.argv[1])
    applied, failed = apply_limits(limits)
    if failed and not limits.get("allow_missing_limits"):
        print(f"sandbox could not apply limit {'; '.join(failed)}", file=sys.stderr)
        os._exit(EXIT_LIMITS)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[2:]])


if __name__ == "__main__":
    main()
