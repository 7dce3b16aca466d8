"""Give freed heap memory back to the OS once the server goes quiet.

Parsing large JSON bodies makes millions of small Python objects; once they are
freed, glibc keeps the pages in its arenas, so a server's RSS stays high long
after a burst. :class:`IdleTrimmer` calls glibc's ``malloc_trim(0)`` once the
server has been idle for ``idle_s`` after some work, never more often than
that (a no-op where glibc is not the allocator).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

_libc = None
_checked = False


def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc); False where that is not available."""
    global _libc, _checked
    if not _checked:
        _checked = True
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc = lib if hasattr(lib, "malloc_trim") else None
        except OSError:
            _libc = None
    if _libc is None:
        return False
    return bool(_libc.malloc_trim(0))


class IdleTrimmer:
    """``touch()`` on work; ``idle()`` from a loop that has nothing to do: trims once per quiet period."""

    def __init__(self, idle_s: float = 1.0) -> None:
        self.idle_s = idle_s
        self._last = time.monotonic()
        self._dirty = False
        self._lock = threading.Lock()
        self.trims = 0

    def touch(self) -> None:
        with self._lock:
            self._dirty = True
            self._last = time.monotonic()

    def idle(self) -> bool:
        with self._lock:
            if not self._dirty or time.monotonic() - self._last < self.idle_s:
                return False
            self._dirty = False
        trim_heap()
        self.trims += 1
        return True
