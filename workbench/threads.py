"""Run work in a thread at lower CPU priority, so the UI stays answered while it measures."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable


def yielding(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` to run in a fresh thread at Linux nice +10 and wait for it.

    Threads inherit the priority of the thread that creates them, so ONNX Runtime's pool, the HTTP
    server and the load generator started by ``fn`` yield to the UI too. When nothing else competes for
    the CPU the priority changes nothing; the measurements get the same cores.
    """
    def run(*args: Any, **kwargs: Any) -> Any:
        box: dict[str, Any] = {}

        def body() -> None:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
            except (AttributeError, OSError):   # not Linux, or not permitted: run as is
                pass
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:       # re-raised in the worker, which reports it
                box["error"] = exc

        t = threading.Thread(target=body, name=f"yielding-{getattr(fn, '__name__', 'task')}", daemon=True)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    run.__name__ = getattr(fn, "__name__", "yielding")
    return run
