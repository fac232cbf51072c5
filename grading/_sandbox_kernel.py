"""Kernel launcher used by the sandbox kernelspec: applies per-process resource limits, then
replaces itself with the IPython kernel. argv: LIMITS_JSON -f CONNECTION_FILE."""
from __future__ import annotations

import json
import os
import resource
import sys


def apply_limits(limits: dict) -> None:
    def setlim(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    mem = int(limits["memory_mb"]) * 1024 * 1024
    setlim(resource.RLIMIT_AS, mem)
    cpu = int(limits["cpu_seconds"])
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (ValueError, OSError):
        pass
    setlim(resource.RLIMIT_FSIZE, int(limits.get("max_file_bytes", 256 * 1024 * 1024)))
    setlim(resource.RLIMIT_CORE, 0)
    nproc = limits.get("nproc_rlimit")
    if nproc:
        setlim(resource.RLIMIT_NPROC, int(nproc))
    if sys.platform.startswith("linux") and limits.get("pdeathsig", True):
        try:  # die with the runner even where no sandbox does it for us
            import ctypes
            ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        except Exception:  # noqa: BLE001
            pass


def main() -> None:
    limits = json.loads(sys.argv[1])
    apply_limits(limits)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[2:]])


if __name__ == "__main__":
    main()
