"""Instruments for notebook 07: they observe *how* a function computes, not only what.

Two properties of the efficient-attention exercises cannot be seen in the result alone:

- ``online_softmax`` must read ``x`` in one streaming pass over blocks of columns. The
  function gets a recording array (:class:`ColumnRecorder`): every numpy ufunc computation
  that involves it (``np.exp``, ``-``, ``.max()``, ``.sum()``...) logs how many columns it
  covers. While the function runs, numpy's conversion functions (``np.asarray``,
  ``np.array``, ``np.asanyarray``, ``np.ascontiguousarray``, ``np.copy``...) hand back a
  recorder too, and ``astype``, ``copy``, ``reshape`` and slices keep it, so the usual ways
  of writing numpy are observed. Work done outside numpy (torch, Python loops over single
  elements) is not: then nothing is logged, and :func:`streamed_in_blocks` says so instead
  of passing (an observer that sees nothing proves nothing).
- ``tiled_attention`` must never hold the full ``(n_q, n_k)`` score matrix.
  :func:`peak_rss_growth` runs the call in a forked child process and reads the rise of the
  child's peak resident memory (Linux ``VmHWM``), which counts every allocator alike:
  numpy, torch, anything. ``tracemalloc`` would see numpy only.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import math
import os
import select
import signal
import sys
import time
from typing import Callable, Iterator

import numpy as np

__all__ = ["ColumnRecorder", "observe_columns", "streamed_in_blocks", "stream_problem",
           "MemoryMeasurementUnavailable", "peak_rss_growth"]

# numpy functions that turn their first argument into an array; while a function is
# observed they return a recorder when given one (see :func:`observe_columns`).
_CONVERSIONS = ("asarray", "asanyarray", "array", "ascontiguousarray", "asfortranarray",
                "copy", "atleast_1d", "atleast_2d", "atleast_3d", "require")


class ColumnRecorder(np.ndarray):
    """An array that logs the last-axis width of every ufunc input it takes part in.

    Views (``x[..., a:b]``, ``reshape``) and ``astype``/``copy`` stay recorders sharing the
    log; results of computations are plain arrays.
    """

    log: list | None

    def __array_finalize__(self, obj) -> None:
        self.log = getattr(obj, "log", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = []
        for a in inputs:
            if isinstance(a, ColumnRecorder):
                if a.log is not None:
                    a.log.append(a.shape[-1] if a.ndim else 1)
                a = a.view(np.ndarray)
            plain.append(a)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ColumnRecorder) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)


def _keep_recording(convert: Callable) -> Callable:
    def converted(a, *args, **kwargs):
        out = convert(a, *args, **kwargs)
        if isinstance(a, ColumnRecorder) and type(out) is np.ndarray:
            log = a.log
            out = out.view(ColumnRecorder)
            out.log = log
        return out
    return converted


@contextlib.contextmanager
def _conversions_keep_recording() -> Iterator[None]:
    saved = {name: getattr(np, name) for name in _CONVERSIONS}
    try:
        for name, fn in saved.items():
            setattr(np, name, _keep_recording(fn))
        yield
    finally:
        for name, fn in saved.items():
            setattr(np, name, fn)


def observe_columns(fn: Callable, x: np.ndarray, *args, **kwargs) -> tuple[object, list[int]]:
    """``(fn(recorder of x, *args, **kwargs), log)``: the result and the widths logged."""
    rec = np.array(x, dtype=np.float64).view(ColumnRecorder)
    rec.log = log = []
    with _conversions_keep_recording():
        out = fn(rec, *args, **kwargs)
    return out, log


def stream_problem(log: list[int], n: int, block_size: int) -> str:
    """"" when ``log`` shows a streaming pass, else what went wrong (one sentence).

    Streaming: at least ``ceil(n / block_size)`` computations on at most ``block_size``
    columns (the blocks) come before any computation on more columns (a maximum over the
    whole row taken before the blocks were read is one the stream could not know yet).
    An empty log is a failure: nothing could be observed.
    """
    n_blocks = math.ceil(n / block_size)
    if not log:
        return ("no numpy computation on x was observed: x (or a copy made with "
                "np.asarray/np.array/astype) must be read with numpy, block by block")
    first_wide = next((i for i, w in enumerate(log) if w > block_size), len(log))
    if first_wide < n_blocks:
        return (f"a computation used {log[first_wide]} columns of x before the "
                f"{n_blocks} blocks of {block_size} columns had been read")
    return ""


def streamed_in_blocks(log: list[int], n: int, block_size: int) -> bool:
    """True when :func:`stream_problem` finds nothing wrong."""
    return not stream_problem(log, n, block_size)


# --- peak memory -----------------------------------------------------------------------------
class MemoryMeasurementUnavailable(RuntimeError):
    """This system cannot measure peak resident memory (needs Linux /proc and fork)."""


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise MemoryMeasurementUnavailable(f"/proc/self/status has no {field}")


def _child_measure(call: Callable[[], object], warmup: Callable[[], object] | None) -> str:
    sys.stdout = sys.stderr = io.StringIO()      # the child must not talk to the kernel
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)                 # OpenMP pools do not survive fork
    if warmup is not None:
        warmup()                                 # load code pages, start thread pools
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).malloc_trim(0)         # freed heap pages must not be reused unseen
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                             # reset the peak (VmHWM) to the current RSS
    base = _status_bytes("VmRSS")
    call()
    return f"ok {_status_bytes('VmHWM') - base}"


def peak_rss_growth(call: Callable[[], object], warmup: Callable[[], object] | None = None,
                    timeout: float = 120.0) -> int:
    """Bytes by which the peak resident memory rises while ``call()`` runs.

    ``call`` runs in a forked child process (after ``warmup()``, if given, so that loading
    code and starting thread pools is not counted); the child's peak resident set (VmHWM)
    is reset just before the call and read after it, so every allocation counts, whichever
    library makes it. An exception in the call (MemoryError included) is raised here as a
    RuntimeError naming it. Raises :class:`MemoryMeasurementUnavailable` where there is no
    fork or no Linux /proc.
    """
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/clear_refs"):
        raise MemoryMeasurementUnavailable("peak memory is measured through Linux /proc")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's code
        try:
            os.close(read_end)
            message = _child_measure(call, warmup)
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            message = f"error {type(err).__name__}: {err}"
        try:
            os.write(write_end, message.encode()[:2000])
        finally:
            os._exit(0)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                raise TimeoutError(f"the measured call took longer than {timeout:.0f} s")
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    message = b"".join(chunks).decode(errors="replace")
    if message.startswith("ok "):
        return int(message.split()[1])
    if message.startswith("error MemoryMeasurementUnavailable"):
        raise MemoryMeasurementUnavailable(message.split(": ", 1)[-1])
    raise RuntimeError(message.removeprefix("error ") or "the measuring process died")
