"""Runs inside the sandbox (grading/sandbox.py starts it): executes one notebook with the
semantics of nbgrader's Execute preprocessor (errors keep their outputs and execution goes on;
a timed-out cell is interrupted and execution goes on) plus:

* the kernel is started from a kernelspec written here (the notebook's kernelspec metadata is
  ignored) through ``grading._sandbox_kernel``, which applies the per-process resource limits;
* total output is capped while it streams (a gigabyte of prints is never held in memory);
* a kernel that dies or cannot be interrupted is replaced by a fresh one and the remaining
  cells run there (their tests usually fail, but the cells before keep their grades);
* the tamper guard (grading/guard.py) runs before and after every autograded test cell;
* test cells run with ``store_history=False`` and their hidden lines are dropped from
  ``linecache`` afterwards (:func:`_forget`): a later student cell cannot print them;
* limits fail closed: the runner checks its own (uid, capabilities, non-dumpable, NPROC) and
  asks the kernel launcher which kernel limits apply (``--check``); if one fails, no student
  code runs (status "error", "sandbox could not apply limit RLIMIT_AS: ...") unless the
  limits say ``allow_missing_limits``; the result lists what was applied;
* a fork bomb in a non-test cell that hit the process limit and left processes behind gets
  the kernel replaced (:func:`_needs_fresh_kernel`, :func:`_shutdown` kills everything of the
  sandbox's uid until none is left), decided from what the cell left, not from timing;
* the result goes back through a private file descriptor (closed in the kernel), not through
  a file the kernel could overwrite.

Input: JSON on stdin ``{"notebook": ..., "limits": {...}}``. Output: JSON on ``--result-fd``
``{"notebook": ..., "events": [...], "applied": [...], "missing": [...]}``.
"""
from __future__ import annotations

import sys

# jsonschema imports the optional rfc3987_syntax (IRI format checks nbformat never uses), which
# builds a grammar at import: seconds per submission. Not importing it changes nothing here.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import argparse  # noqa: E402
import asyncio
import ctypes
import json
import os
import hashlib
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time

import nbformat
from nbformat import NotebookNode

from grading import guard, hidden
from grading._sandbox_kernel import EXIT_LIMITS as _EXIT_LIMITS

KERNEL_NAME = "grading-sandbox"


_T0 = time.monotonic()


def _log(text: str) -> None:
    print(f"[runner {time.monotonic() - _T0:7.2f}s] {text}", file=sys.stderr, flush=True)


# What this sandbox actually applied ("RLIMIT_AS 2048 MB", ...) and what failed
# ("RLIMIT_AS: ..."): sent back with the result; a failure stops the run (fail closed).
_APPLIED: list[str] = []
_FAILED: list[str] = []


def _nondumpable() -> None:
    """Stop same-uid processes (the kernel) from ptrace-ing this process or opening its fds
    and memory through /proc (the notebook with hidden tests lives in this process only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE, 0
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        if libc.prctl(3, 0, 0, 0, 0) != 0:  # PR_GET_DUMPABLE
            raise OSError("still dumpable after PR_SET_DUMPABLE")
        _APPLIED.append("runner non-dumpable")
    except Exception as exc:  # noqa: BLE001
        _FAILED.append(f"PR_SET_DUMPABLE: {exc}")


def _capabilities() -> dict[str, int]:
    caps = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
                name, value = line.split(":")
                caps[name] = int(value, 16)
    return caps


def _become(uid: int) -> None:
    """Started as root inside the sandbox (no user namespace): drop every capability for
    good and become ``uid``. Nothing of the student's has run yet. Running as root is never
    acceptable (SystemExit); a capability left over is a failed limit."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 40
    dropped = True
    for cap in range(0, last + 1):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            _FAILED.append(f"capability drop (cap {cap}): {os.strerror(ctypes.get_errno())}")
            dropped = False
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("could not drop privileges")
    try:  # clear the inheritable set too (bwrap's --cap-add puts CAP_SETUID... there)
        class _Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class _Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]
        header = _Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = (_Data * 2)()
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(os.strerror(ctypes.get_errno()))
    except Exception as exc:  # noqa: BLE001
        _FAILED.append(f"capability drop (inheritable set): {exc}")
    left = {k: v for k, v in _capabilities().items() if v}
    if left:
        _FAILED.append(f"capability drop: still held {left}")
    elif dropped:
        _APPLIED.append("all capabilities dropped")
    _APPLIED.append("own uid")


def _check_kernel_limits(limits: dict) -> None:
    """Ask the kernel launcher (grading._sandbox_kernel --check) to apply the kernel's limits
    to a throw-away process, and record what it applied and what failed. The launcher itself
    refuses to start a kernel on a failure too; this tells the runner which limit."""
    try:
        r = subprocess.run([sys.executable, "-m", "grading._sandbox_kernel", "--check",
                            json.dumps(limits)], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        report = json.loads(r.stdout.strip().splitlines()[-1])
        _APPLIED.extend(report["applied"])
        _FAILED.extend(report["failed"])
    except Exception as exc:  # noqa: BLE001
        _FAILED.append(f"kernel limits check: {type(exc).__name__}: {exc}")


def _write_kernelspec(limits: dict) -> str:
    base = os.path.join(os.environ.get("TMPDIR", "/tmp"), "grading-jupyter")
    kdir = os.path.join(base, "kernels", KERNEL_NAME)
    os.makedirs(kdir, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "grading._sandbox_kernel", json.dumps(limits),
                 "-f", "{connection_file}"],
        "display_name": "grading sandbox", "language": "python",
        "metadata": {"debugger": False},
    }
    with open(os.path.join(kdir, "kernel.json"), "w") as f:
        json.dump(spec, f)
    os.environ["JUPYTER_PATH"] = base
    os.environ["JUPYTER_DATA_DIR"] = base
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", os.path.join(base, "runtime"))
    return base


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_test_cell(cell: NotebookNode) -> bool:
    md = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(md.get("grade")) and not md.get("solution")


def _cell_label(cell: NotebookNode, index: int) -> str:
    gid = _grade_id(cell)
    return gid if gid else f"#{index + 1}"


def _error_output(ename: str, text: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=text,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {text}"])


def _make_executor(limits: dict):
    # nbgrader.preprocessors.Execute semantics on nbclient directly (importing nbgrader costs
    # seconds per submission): allow_errors, interrupt_on_timeout, raise_on_iopub_timeout, the
    # CellTimeoutError output, and Execute.on_cell_executed's "record the reply's error".
    from nbclient import NotebookClient
    from jupyter_client.manager import AsyncKernelManager

    class SandboxExecute(NotebookClient):
        """nbgrader's Execute with a streaming output cap."""

        def __init__(self, **kw):
            kw.setdefault("kernel_manager_class", AsyncKernelManager)
            kw.setdefault("error_on_timeout", {
                "ename": "CellTimeoutError", "evalue": "",
                "traceback": ["\x1b[0;31mCellTimeoutError\x1b[0m: No reply from kernel before timeout"]})
            super().__init__(nbformat.v4.new_notebook(), **kw)
            self.on_cell_executed = self._record_reply_error

        @staticmethod
        def _record_reply_error(**kwargs):
            # verbatim logic of nbgrader 0.9.6 Execute.on_cell_executed
            cell = kwargs["cell"]
            reply = kwargs["execute_reply"]
            if reply and reply["content"]["status"] == "error":
                recorded = any(o.output_type == "error" and o.get("ename") == reply["content"].get("ename")
                               for o in cell.outputs)
                if not recorded:
                    out = NotebookNode(output_type="error")
                    out.ename = reply["content"].get("ename", "Error")
                    out.evalue = reply["content"].get("evalue", "")
                    out.traceback = reply["content"].get("traceback") or [
                        "ERROR: An error occurred while showtraceback was disabled"]
                    cell.outputs.append(out)

        def setup(self, max_bytes: int):
            self._max_bytes = max_bytes
            self.output_bytes = 0
            self.output_limited_cells: list[int] = []
            self._truncated_cell: int | None = None

        def output(self, outs, msg, display_id, cell_index):
            if cell_index != getattr(self, "_cell_for_bytes", None):
                # the cap is per cell; the notebook as a whole may hold 3 caps' worth
                self._cell_for_bytes = cell_index
                self._done_before = (getattr(self, "_done_before", 0)
                                     + min(self.output_bytes, self._max_bytes))
                self.output_bytes = 0
            if self._done_before > 3 * self._max_bytes:
                return None
            content = msg.get("content", {})
            size = len(content.get("text", "") or "")
            for v in (content.get("data") or {}).values():
                size += len(v) if isinstance(v, str) else len(json.dumps(v))
            size += sum(len(x) for x in content.get("traceback", []) or [])
            if msg.get("msg_type") == "error" and self.output_bytes + size > self._max_bytes:
                # keep an error (truncated) so a failure is never lost
                content = dict(content)
                content["traceback"] = list(content.get("traceback", []))[-5:]
                msg = dict(msg, content=content)
                return super().output(outs, msg, display_id, cell_index)
            self.output_bytes += size
            if self.output_bytes > self._max_bytes:
                if self._truncated_cell != cell_index:
                    self._truncated_cell = cell_index
                    self.output_limited_cells.append(cell_index)
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr",
                        text=f"\n[grader] output limit of {self._max_bytes} bytes exceeded: "
                             "output truncated and the cell interrupted\n"))
                    self._interrupt()
                return None
            return super().output(outs, msg, display_id, cell_index)

        def _interrupt(self):
            try:
                proc = self.km.provisioner.process
                os.killpg(proc.pid, signal.SIGINT)
            except Exception:  # noqa: BLE001
                pass

    ex = SandboxExecute(timeout=int(limits["cell_timeout"]), iopub_timeout=4,
                        startup_timeout=120, kernel_name=KERNEL_NAME,
                        extra_arguments=[], allow_errors=True, interrupt_on_timeout=True,
                        raise_on_iopub_timeout=True)
    ex.setup(int(limits["max_output_bytes"]))
    return ex


_PEAK_TASKS: dict[int, int] = {}
_NPROC_LIMIT = [0]
_IN_PIDNS = [False]  # the runner is in the sandbox's own pid namespace (bwrap)


def _count_tasks() -> int:
    """Threads of this uid in the sandbox's private pid namespace (what RLIMIT_NPROC counts)."""
    uid = os.getuid()
    n = 0
    try:
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.stat(f"/proc/{d}").st_uid == uid:
                        n += len(os.listdir(f"/proc/{d}/task"))
                except OSError:
                    pass
    except OSError:
        pass
    return n


def _count_pids() -> int:
    """Processes of this uid now, zombies included (a wedged kernel never reaps them)."""
    uid = os.getuid()
    n = 0
    try:
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    n += os.stat(f"/proc/{d}").st_uid == uid
                except OSError:
                    pass
    except OSError:
        pass
    return n


async def _sample_tasks(index: int) -> None:
    """Record the peak thread count while cell ``index`` runs (a process flood can wedge the
    kernel before it reports anything; the peak still tells what happened)."""
    while True:
        _PEAK_TASKS[index] = max(_PEAK_TASKS.get(index, 0), _count_tasks())
        await asyncio.sleep(0.25)


def _limit_hit(cell: NotebookNode, index: int | None = None) -> str | None:
    """'process-limit' or 'memory' when the cell's outputs show the kernel hit that limit."""
    if (index is not None and _NPROC_LIMIT[0]
            and max(_PEAK_TASKS.get(index, 0), _count_pids()) >= _NPROC_LIMIT[0] - 4):
        return "process-limit"
    text = ""
    for o in cell.get("outputs", []):
        text += str(o.get("text", "")) + str(o.get("ename", "")) + str(o.get("evalue", ""))
    if "BlockingIOError" in text or "Resource temporarily unavailable" in text:
        return "process-limit"
    if "MemoryError" in text or "Cannot allocate memory" in text:
        return "memory"
    return None


def _kernel_exit(ex) -> int | None:
    try:
        proc = ex.km.provisioner.process
        return proc.poll()
    except Exception:  # noqa: BLE001
        return None


def _death_reason(code: int | None, limits: dict) -> tuple[str, str]:
    if code is None:
        return "dead-kernel", "kernel stopped responding"
    if code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            return "timeout", f"CPU time limit ({limits['cpu_seconds']} s) exceeded"
        if sig == signal.SIGXFSZ:
            return "output-limit", "file size limit exceeded"
        if sig == signal.SIGKILL:
            return "memory", "kernel killed (SIGKILL: memory or CPU limit)"
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            return "memory", f"kernel crashed ({signal.Signals(sig).name}; memory limit?)"
        return "dead-kernel", f"kernel killed by {signal.Signals(sig).name}"
    return "dead-kernel", f"kernel exited with code {code}"


async def _run(nb: NotebookNode, limits: dict) -> list[dict]:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    events: list[dict] = []
    locked_sources = [
        c.source for c in nb.cells if c.cell_type == "code"
        and (c.get("metadata", {}).get("nbgrader", {}).get("locked") or _is_test_cell(c))
        and not c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    bindings = guard.locked_import_bindings(locked_sources)
    modules = guard.modules_for(locked_sources)
    resources = {"metadata": {"path": os.getcwd()}}
    index = 0
    cells = nb.cells
    executed: set[int] = set()
    troubled: set[int] = set()  # cells that failed or hit a limit: never replayed
    while index < len(cells):
        ex = _make_executor(limits)
        ex.nb = nb
        ex.resources = resources
        ex.reset_execution_trackers()
        ex.km = ex.create_kernel_manager()
        try:
            # kernel's own stdout/stderr (os.write(1, ...) bypasses the output cap) go nowhere
            await ex.async_start_new_kernel(cwd=os.getcwd(), stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            await ex.async_start_new_kernel_client()
        except Exception as exc:  # noqa: BLE001
            why = f"{type(exc).__name__}: {exc}"
            if _kernel_exit(ex) == _EXIT_LIMITS:  # the launcher refused: a limit failed
                why = "sandbox could not apply its limits to the kernel"
            events.append({"kind": "error", "cell": None,
                           "detail": f"kernel could not start: {why}"})
            break
        restart = False
        try:
            async def fingerprint(binding_names=None):
                b = {k: v for k, v in bindings.items()
                     if binding_names is None or k in binding_names}
                nonce = secrets.token_hex(8)
                msg_id = ex.kc.execute(guard.fingerprint_code(b, modules, nonce), silent=True,
                                       store_history=False,
                                       user_expressions={guard.RESULT_EXPRESSION:
                                                         guard.RESULT_EXPRESSION})
                try:
                    reply = await asyncio.wait_for(ex.async_wait_for_reply(msg_id), 180)
                except Exception:  # noqa: BLE001
                    return None
                if not reply:
                    return None
                return guard.parse_result(reply["content"].get("user_expressions", {}), nonce)

            _log("kernel started")
            snapshot = await fingerprint({})
            _log("snapshot taken")
            if index > 0:
                await _replay(ex, cells, index, troubled, limits)
                _log(f"replayed cells before {index}")
            if snapshot is None:
                events.append({"kind": "error", "cell": None,
                               "detail": "tamper guard could not take its snapshot"})
            info = await ex.async_wait_for_reply(ex.kc.kernel_info())
            if info:
                nb.metadata["language_info"] = info["content"].get("language_info", {})
            while index < len(cells):
                cell = cells[index]
                label = _cell_label(cell, index)
                test = _is_test_cell(cell)
                if cell.cell_type == "code":
                    cell.outputs = []
                    cell.execution_count = None
                if test and snapshot is not None:
                    changed = guard.compare(snapshot, await fingerprint(guard.names_used(cell.source)))
                    if changed:
                        cell.outputs = [_error_output("GradingIntegrityError", guard.message(changed))]
                        events.append({"kind": "tampered", "cell": label, "detail": guard.message(changed)})
                        executed.add(index)
                        index += 1
                        continue
                t0 = time.monotonic()
                _log(f"cell {label}")
                sampler = asyncio.ensure_future(_sample_tasks(index))
                try:
                    # test cells run without entering In/_ih/history (a later student cell
                    # could print them); nbclient still sets their execution_count from the
                    # kernel's execute_input, which _mark_not_executed relies on
                    await ex.async_execute_cell(cell, index, store_history=not test)
                    executed.add(index)
                except CellTimeoutError:
                    # interrupted but never went idle: the kernel ignores interrupts
                    executed.add(index)
                    cell.outputs.append(_error_output(
                        "CellTimeoutError", f"cell did not stop within {limits['cell_timeout']} s "
                        "and ignored the interrupt; the kernel was restarted"))
                    kind = _limit_hit(cell, index) or "timeout"
                    detail = {"process-limit": f"process limit ({limits['max_processes']}) reached; "
                                               "the kernel hung and was restarted",
                              "memory": f"memory limit ({limits['memory_mb']} MB) reached; the "
                                        "kernel hung and was restarted"}.get(
                        kind, "ignored the interrupt; kernel restarted")
                    detail += _leftover_note(_leftover(ex))
                    _log(f"peak tasks {_PEAK_TASKS.get(index)} limit {_NPROC_LIMIT[0]}")
                    events.append({"kind": kind, "cell": label, "detail": detail})
                    troubled.add(index)
                    index += 1
                    restart = True
                    break
                except DeadKernelError:
                    executed.add(index)
                    await asyncio.sleep(0.2)
                    kind, detail = _death_reason(_kernel_exit(ex), limits)
                    if _limit_hit(cell, index):
                        kind = _limit_hit(cell, index)
                        detail = f"{kind.replace('-', ' ')} reached; {detail}"
                    cell.outputs.append(_error_output(
                        "DeadKernelError", f"{detail}; the remaining cells run in a fresh kernel"))
                    events.append({"kind": kind, "cell": label, "detail": detail})
                    troubled.add(index)
                    index += 1
                    restart = True
                    break
                finally:
                    sampler.cancel()
                elapsed = time.monotonic() - t0
                if cell.cell_type == "code":
                    errs = [o for o in cell.outputs if o.get("output_type") == "error"]
                    if any(o.get("ename") == "CellTimeoutError" for o in errs) or (
                            errs and elapsed >= limits["cell_timeout"]):
                        events.append({"kind": "timeout", "cell": label,
                                       "detail": f"cell exceeded {limits['cell_timeout']} s"
                                                 + _leftover_note(_leftover(ex))})
                    elif _limit_hit(cell, index) == "process-limit":
                        events.append({"kind": "process-limit", "cell": label,
                                       "detail": f"process limit ({limits['max_processes']})"})
                    elif any(o.get("ename") == "MemoryError" for o in errs):
                        events.append({"kind": "memory", "cell": label,
                                       "detail": f"memory limit ({limits['memory_mb']} MB)"})
                    if index in ex.output_limited_cells:
                        events.append({"kind": "output-limit", "cell": label,
                                       "detail": f"more than {limits['max_output_bytes']} bytes of output"})
                        if not errs:
                            cell.outputs.append(_error_output(
                                "OutputLimitError", "output limit exceeded"))
                    if errs:
                        troubled.add(index)
                    if not test and _needs_fresh_kernel(cell, index, ex):
                        # processes left behind (zombies included) would eat the process
                        # budget of later cells. Start afresh: kill everything, replay, go on.
                        _log(f"cell {label} left processes behind: fresh kernel")
                        if (_limit_hit(cell, index) == "process-limit" and not any(
                                e["kind"] == "process-limit" and e["cell"] == label for e in events)):
                            events.append({"kind": "process-limit", "cell": label,
                                           "detail": f"process limit ({limits['max_processes']}) "
                                                     "reached; kernel restarted"})
                        troubled.add(index)
                        index += 1
                        restart = True
                        break
                if test:
                    await _forget(ex, cell)
                if test and snapshot is not None:
                    changed = guard.compare(snapshot, await fingerprint(guard.names_used(cell.source)))
                    if changed:
                        cell.outputs.append(_error_output("GradingIntegrityError", guard.message(changed)))
                        events.append({"kind": "tampered", "cell": label, "detail": guard.message(changed)})
                index += 1
        except DeadKernelError:
            # died during a guard check
            kind, detail = _death_reason(_kernel_exit(ex), limits)
            events.append({"kind": kind, "cell": _cell_label(cells[index], index) if index < len(cells) else None,
                           "detail": detail})
            restart = True
        finally:
            await _shutdown(ex)
        if not restart:
            break
    for i, cell in enumerate(cells):
        if _is_test_cell(cell) and i not in executed:
            cell.outputs = [_error_output("NotExecuted", "this test cell was not executed")]
    return events


_FORGET_CODE = r'''
def _grading_forget(_digests):
    import hashlib as _h, linecache as _lc, sys as _s
    for _k, _v in list(_lc.cache.items()):
        try:
            _lines = list(_v[2])
        except Exception:
            continue
        for _l in _lines:
            if _h.sha256(" ".join(str(_l).split()).encode()).hexdigest() in _digests:
                _lc.cache.pop(_k, None)
                break
    for _n in ("last_type", "last_value", "last_traceback", "last_exc"):
        try:
            delattr(_s, _n)
        except Exception:
            pass
_grading_forget(%r)
del _grading_forget
'''


async def _forget(ex, cell: NotebookNode) -> None:
    """After a test cell: drop every linecache entry that holds one of its hidden lines
    (IPython caches each cell's source there, where a later cell or a traceback could read
    it) and the last exception (its traceback holds the test's frames). Sent as hashes, run
    silently, not stored in the history."""
    lines = hidden.hidden_lines(nbformat.v4.new_notebook(cells=[cell]))
    if not lines:
        return
    digests = {hashlib.sha256(line.encode()).hexdigest() for line in lines}
    msg_id = ex.kc.execute(_FORGET_CODE % (digests,), silent=True, store_history=False)
    try:
        await asyncio.wait_for(ex.async_wait_for_reply(msg_id), 60)
    except Exception:  # noqa: BLE001  (a dead or wedged kernel is dealt with by the caller)
        pass


def _other_pids() -> list[int]:
    """Processes of this uid other than the runner itself (zombies included)."""
    me, uid = os.getpid(), os.getuid()
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in (me, 1):  # pid 1: bwrap's init (reaps orphans)
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def _leftover(ex) -> list[int]:
    """Processes of the sandbox's uid other than the runner and the kernel: what student
    code started and left running or never reaped (zombies count against RLIMIT_NPROC).
    Empty outside a pid namespace (there other processes of this uid are not ours)."""
    if not _IN_PIDNS[0]:
        return []
    try:
        kernel = ex.km.provisioner.process.pid
    except Exception:  # noqa: BLE001
        kernel = None
    return [p for p in _other_pids() if p != kernel]


def _leftover_note(leftover: list[int]) -> str:
    return f"; the cell left {len(leftover)} processes behind" if leftover else ""


def _needs_fresh_kernel(cell: NotebookNode, index: int, ex) -> bool:
    """After a non-test cell: did it fail (an error, a timeout, the process limit) and leave
    processes behind (a fork bomb whose children still run or were never reaped)? Then later
    cells could find the process budget spent, so the kernel is replaced. Decided from what
    the cell left (its outputs, the processes still there), not from when a sampler
    happened to look, so the verdict does not depend on the machine's load (under load a
    fork bomb may reach the cell timeout before the process limit)."""
    failed = (_limit_hit(cell, index) == "process-limit"
              or any(o.get("output_type") == "error" for o in cell.get("outputs", []))
              or bool(_NPROC_LIMIT[0] and _count_tasks() >= _NPROC_LIMIT[0] - 4))
    return failed and bool(_leftover(ex))


async def _replay(ex, cells, upto: int, troubled: set[int], limits: dict) -> None:
    """After a kernel had to be replaced: re-run, silently, the code cells before ``upto`` that
    ran cleanly (never test cells, never the cell that killed the kernel), so the cells after
    it are graded with the student's definitions, as far as possible."""
    for i in range(upto):
        cell = cells[i]
        if cell.cell_type != "code" or i in troubled or _is_test_cell(cell) or not cell.source.strip():
            continue
        msg_id = ex.kc.execute(cell.source, silent=True, store_history=False)
        try:
            # the cell finished within cell_timeout when it first ran: a replay gets twice
            # that plus a margin, so a loaded machine does not turn into lost points
            reply = await asyncio.wait_for(ex.async_wait_for_reply(msg_id),
                                           2 * float(limits["cell_timeout"]) + 30)
        except Exception:  # noqa: BLE001  (timeout or dead kernel: stop replaying)
            return
        if not reply or reply["content"].get("status") != "ok":
            continue


async def _shutdown(ex) -> None:
    try:
        proc = ex.km.provisioner.process
        os.killpg(proc.pid, signal.SIGKILL)
    except Exception:  # noqa: BLE001
        pass
    if _IN_PIDNS[0]:
        # In the sandbox's own pid namespace everything else of this uid is the student's:
        # kill it too, even what left the kernel's process group. kill(-1) signals every
        # process we may signal except ourselves and pid 1 in one pass; a fork bomb may still
        # fork while it runs, so repeat until nothing of this uid is left (zombies included:
        # they count against RLIMIT_NPROC until reaped, and a restarted kernel would find the
        # budget spent). Bounded; the wall-clock limit stays the backstop.
        deadline = time.monotonic() + 60
        while True:
            try:
                os.kill(-1, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:  # reap our own dead children (the kernel) so they stop counting
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            left = _other_pids()
            if not left:
                break
            if time.monotonic() > deadline:
                _log(f"{len(left)} processes of the sandbox uid still there after 60 s")
                break
            await asyncio.sleep(0.05)
    try:
        ex.kc.stop_channels()
    except Exception:  # noqa: BLE001
        pass
    try:
        await asyncio.wait_for(ex.km.cleanup_resources(), 5)
    except Exception:  # noqa: BLE001
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--result-fd", type=int, default=1)
    p.add_argument("--input-dir", default=None)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--uid", type=int, default=None)
    args = p.parse_args(argv)
    _log(f"runner started (wall {time.time():.2f})")
    if args.uid is not None:
        _become(args.uid)
    _nondumpable()
    for d in (os.environ.get("HOME"), os.environ.get("JUPYTER_RUNTIME_DIR")):
        if d:
            os.makedirs(d, exist_ok=True)
    mpl = os.environ.get("MPLCONFIGDIR")
    if mpl and os.path.isdir("/opt/grading-mplcache"):
        shutil.copytree("/opt/grading-mplcache", mpl, dirs_exist_ok=True)
    out = os.fdopen(args.result_fd, "w", closefd=True)
    os.set_inheritable(args.result_fd, False)
    payload = json.loads(sys.stdin.buffer.read())
    nb = nbformat.from_dict(payload["notebook"])
    limits = payload["limits"]
    if args.input_dir and args.work_dir:
        shutil.copytree(args.input_dir, args.work_dir, symlinks=True, dirs_exist_ok=True)
        os.chdir(args.work_dir)
    nproc = limits.get("nproc_rlimit")
    if nproc and args.uid is not None:
        _NPROC_LIMIT[0] = int(nproc)  # only meaningful when the uid is the sandbox's own
    _IN_PIDNS[0] = bool(args.input_dir)  # started by bwrap: own pid namespace
    for name, which, value in (("RLIMIT_NPROC", resource.RLIMIT_NPROC, nproc),
                               ("RLIMIT_CORE", resource.RLIMIT_CORE, 0)):
        if value is None:
            continue
        try:
            resource.setrlimit(which, (int(value), int(value)))
        except (ValueError, OSError) as exc:
            _FAILED.append(f"{name} (runner): {exc} (wanted {value}, current "
                           f"{resource.getrlimit(which)})")
    _write_kernelspec(limits)
    _check_kernel_limits(limits)
    missing: list[str] = []
    if _FAILED and not limits.get("allow_missing_limits"):
        # fail closed: no student code runs in a sandbox that lacks one of its limits
        detail = "sandbox could not apply limit " + "; ".join(_FAILED)
        _log(detail)
        events = [{"kind": "error", "cell": None, "detail": detail}]
        for cell in nb.cells:
            if _is_test_cell(cell):
                cell.outputs = [_error_output("GradingError", detail)]
    else:
        missing = list(_FAILED)
        try:
            events = asyncio.run(_run(nb, limits))
        except Exception as exc:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            events = [{"kind": "error", "cell": None, "detail": f"{type(exc).__name__}: {exc}"}]
    out.write(json.dumps({"notebook": nb, "events": events, "applied": _APPLIED,
                          "missing": missing}))
    out.flush()
    out.close()
    _log("result written")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # do not wait for leftover client threads


if __name__ == "__main__":
    sys.exit(main())
