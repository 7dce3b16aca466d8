"""Run a build step in a child process that can be killed: cancel, time limit, memory.

Compilers (AOTInductor's C++ build, ONNX Runtime's graph optimizer) run native
code that a Python thread cannot interrupt. So the step runs in a fresh
interpreter in its own process group; the parent relays its progress lines to
the :class:`TaskContext`, polls for cancel and the deadline, and kills the
whole group (the child and the compilers it spawned) when either arrives. The
child writes only to paths the caller handed it (inside an ``atomic_path`` /
``atomic_dir``), so a killed build leaves nothing behind.

Child protocol: one JSON object per stdout line, ``{"progress": f, "msg": s}``,
then ``{"result": ...}`` or ``{"error": s, "type": name}``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task

ROOT = Path(__file__).resolve().parents[2]
_ERROR_TYPES = {"WorkbenchError": WorkbenchError, "UnsupportedError": UnsupportedError}
_OOM_TEXT = ("MemoryError", "Memory allocation", "bad_alloc", "Cannot allocate memory", "out of memory")
OOM_HINT = "free memory, close other programs or build a smaller model/batch profile"


class BuildTimeout(WorkbenchError):
    """The build ran past its time limit and was stopped."""


class BuildOutOfMemory(WorkbenchError):
    """The build ran out of memory and was stopped."""


def run_step(target: str, kwargs: dict[str, Any], *, what: str, timeout_s: float | None = None,
             memory_limit_mb: int | None = None, task: TaskContext | None = None,
             env: dict[str, str] | None = None) -> Any:
    """Call ``target`` ("module:function") in a child process and return its result.

    The function receives ``report(fraction, message)`` plus ``kwargs`` (JSON-able).
    Raises :class:`Cancelled`, :class:`BuildTimeout`, :class:`BuildOutOfMemory` or
    the child's :class:`WorkbenchError` as one line.
    """
    task = ensure_task(task)
    task.check()
    spec = json.dumps({"target": target, "kwargs": kwargs, "memory_limit_mb": memory_limit_mb})
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), child_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    child_env.update(env or {})
    stderr_file = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "engines.build.subproc", spec], stdout=subprocess.PIPE,
                            stderr=stderr_file, stdin=subprocess.DEVNULL, env=child_env,
                            start_new_session=True, text=True, bufsize=1)
    lines: deque[dict[str, Any]] = deque()
    reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
    reader.start()
    start = time.monotonic()
    outcome: dict[str, Any] = {}
    try:
        while True:
            while lines:
                msg = lines.popleft()
                if "progress" in msg:
                    task.report(msg.get("progress"), str(msg.get("msg", "")))
                else:
                    outcome = msg
            task.check()
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                _kill(proc)
                raise BuildTimeout(f"{what} took longer than its {timeout_s:g} s time limit and was stopped; "
                                   "nothing was written: raise the time limit (--timeout) or build a smaller model")
            if proc.poll() is not None and not reader.is_alive():
                while lines:
                    msg = lines.popleft()
                    if "progress" not in msg:
                        outcome = msg
                break
            time.sleep(0.05)
    except BaseException:
        _kill(proc)
        raise
    finally:
        reader.join(timeout=1)
        stderr_tail = _tail(stderr_file)
        stderr_file.close()
    return _finish(proc.returncode, outcome, stderr_tail, what, memory_limit_mb)


def _finish(code: int, outcome: dict[str, Any], stderr_tail: str, what: str, memory_limit_mb: int | None) -> Any:
    if "result" in outcome and code == 0:
        return outcome["result"]
    error = str(outcome.get("error", ""))
    limit = f" (limit {memory_limit_mb} MB)" if memory_limit_mb else ""
    starved = outcome.get("type") == "MemoryError" or (
        memory_limit_mb and any(w in stderr_tail or w in error for w in _OOM_TEXT))
    if starved:
        raise BuildOutOfMemory(f"{what} ran out of memory{limit} and was stopped; nothing was written: {OOM_HINT}")
    if error:
        raise _ERROR_TYPES.get(str(outcome.get("type")), WorkbenchError)(error)
    if code == -signal.SIGKILL:
        raise BuildOutOfMemory(f"{what} was killed by the system (most likely out of memory); nothing was "
                               f"written: {OOM_HINT}")
    last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else f"exit status {code}"
    raise WorkbenchError(f"{what} failed: {last[:300]}")


def _read_lines(proc: subprocess.Popen, out: deque) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _tail(fh: Any, limit: int = 4000) -> str:
    try:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - limit))
        return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


# -- child side ------------------------------------------------------------
def _emit(obj: dict[str, Any], out: Any) -> None:
    out.write(json.dumps(obj, default=str) + "\n")
    out.flush()


def _child(spec_text: str) -> int:
    spec = json.loads(spec_text)
    # keep the protocol channel clean: anything the libraries print goes to stderr
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    limit = spec.get("memory_limit_mb")
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(limit) << 20, int(limit) << 20))
    try:
        module, func = spec["target"].split(":")
        fn = getattr(importlib.import_module(module), func)
        result = fn(report=lambda f, m: _emit({"progress": f, "msg": m}, out), **spec["kwargs"])
    except MemoryError:
        _emit({"error": "out of memory", "type": "MemoryError"}, out)
        return 3
    except WorkbenchError as exc:
        _emit({"error": str(exc), "type": type(exc).__name__}, out)
        return 2
    except Exception as exc:  # reported to the parent as one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if isinstance(exc, (RuntimeError, OSError)) and ("bad_alloc" in text or "Cannot allocate memory" in text):
            _emit({"error": "out of memory", "type": "MemoryError"}, out)
            return 3
        _emit({"error": f"{type(exc).__name__}: {text}"[:500], "type": type(exc).__name__}, out)
        return 1
    _emit({"result": result}, out)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
