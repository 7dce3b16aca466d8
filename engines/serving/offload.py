"""Large JSON bodies decoded (and large JSON answers encoded) in a child process.

Parsing megabytes of JSON holds the GIL for tens of milliseconds per call, so
doing it on the event loop (or in a thread of the server's process) stalls every
other connection, and the millions of small Python objects it makes leave the
server's heap fragmented. One child process (``python -m engines.serving.offload``,
talking pickles over its stdin/stdout) does that work instead. It is started on
first use, replaced every ``recycle`` tasks (so its own heap cannot grow for
ever) or when it dies, and stopped after ``idle_s`` without work (its memory
goes back, and the server's freed heap is trimmed). Only the functions named in ``_FUNCTIONS`` can be called.

A plain child process rather than ``multiprocessing``: spawn re-imports the
parent's main script, which breaks scripts that start a server without an
``if __name__ == "__main__"`` guard; fork is unsafe with the server's threads.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from engines.serving.codecs import RequestError
from engines.serving.heap import trim_heap

_FUNCTIONS = ("decode", "encode")
_HEADER = struct.Struct("!Q")


def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=5)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: Any) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the decoding process closed its pipe")
    size = _HEADER.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the decoding process closed its pipe")
    return pickle.loads(data)


class Offload:
    def __init__(self, recycle: int = 64, idle_s: float = 10.0) -> None:
        self.recycle, self.idle_s = recycle, idle_s
        self._proc: subprocess.Popen | None = None
        self._served = 0                 # tasks by the current child
        self._lock = threading.Lock()    # one exchange at a time with the child
        self.tasks = 0
        self.restarts = 0
        self._running = 0
        self._last = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _child(self) -> subprocess.Popen:
        if self._proc is not None and (self._proc.poll() is not None or self._served >= self.recycle):
            self._stop_child()
        if self._proc is None:
            root = str(Path(__file__).resolve().parents[2])
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
            self._proc = subprocess.Popen([sys.executable, "-m", "engines.serving.offload"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, env=env, cwd=root)
            self._served = 0
        return self._proc

    def _stop_child(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()           # the child exits on end of input
        except OSError:
            pass
        threading.Thread(target=_reap, args=(proc,), daemon=True).start()

    def call(self, name: str, *args: Any) -> Any:
        """Run ``codecs.<name>(*args)`` in the child (blocking); a dead child is replaced once."""
        with self._lock:
            for attempt in (0, 1):
                proc = self._child()
                try:
                    _send(proc.stdin, (name, args))
                    ok, value = _receive(proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError):
                    self.restarts += 1
                    self._stop_child()
                    continue
                self._served += 1
                if ok:
                    return value
                raise value
        raise RequestError(503, "the decoding process keeps dying: retry later")

    async def run(self, name: str, *args: Any) -> Any:
        """:meth:`call` from the event loop (in a thread, so the loop never waits on the pipe)."""
        import asyncio

        loop = asyncio.get_running_loop()
        self.tasks += 1
        self._running += 1
        try:
            return await asyncio.to_thread(self.call, name, *args)
        finally:
            self._running -= 1
            self._last = loop.time()
            loop.call_later(self.idle_s, self._close_if_idle, loop)

    def _close_if_idle(self, loop: Any) -> None:
        if self._running == 0 and loop.time() - self._last >= self.idle_s * 0.99 and self._lock.acquire(False):
            try:
                self._stop_child()
            finally:
                self._lock.release()
            trim_heap()   # freed pages of the burst's bodies go back to the OS

    def close(self) -> None:
        with self._lock:
            self._stop_child()


def _reap(proc: subprocess.Popen) -> None:
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    from engines.serving import codecs

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr              # nothing else may write into the pipe
    while True:
        try:
            name, args = _receive(stdin)
        except EOFError:
            return
        try:
            if name not in _FUNCTIONS:
                raise RequestError(500, f"{name} cannot be offloaded")
            reply = (True, getattr(codecs, name)(*args))
        except RequestError as exc:
            reply = (False, exc)
        except Exception as exc:         # reported to the request as a one-line 500
            reply = (False, RuntimeError(f"{type(exc).__name__}: {exc}"[:300]))
        _send(stdout, reply)


if __name__ == "__main__":
    main()
