"""Serving experiments: the same model served with batching on and off, loaded side by side.

Both servers run in this process on 127.0.0.1 with free ports, one after the
other, so the two curves come from the same machine in the same run.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from engines.tasks import TaskContext, ensure_task


def compare_batching(model: str | os.PathLike, *, fmt: str = "onnx", levels: Sequence[int] = (1, 8, 32),
                     requests_per_level: int = 400, duration_s_per_level: float = 10.0, max_batch: int = 32,
                     max_delay_ms: float = 5.0, threads: int | None = None, max_queue: int = 1024,
                     runner: Any = None, task: TaskContext | None = None) -> dict[str, Any]:
    """Concurrency sweep against batching on, then off; returns both curves and the servers' batch stats."""
    import httpx

    from engines.serving.loadgen import concurrency_sweep, example_payload
    from engines.measure.runners import open_runner
    from engines.serving.app import start_server

    task = ensure_task(task)
    runner = runner or open_runner(model, fmt, threads=threads)
    out: dict[str, Any] = {"model": str(model), "levels": list(levels), "max_batch": max_batch,
                           "max_delay_ms": max_delay_ms, "threads": getattr(runner, "threads", None)}
    for i, (key, batching) in enumerate((("on", True), ("off", False))):
        sub = task.sub(i / 2, (i + 1) / 2)
        sub.report(0.0, f"batching {key}: starting the server")
        with start_server(runner, max_batch=max_batch, max_delay_ms=max_delay_ms, batching=batching,
                          max_queue=max_queue) as srv:
            body, ctype = example_payload(srv.url)
            results = concurrency_sweep(srv.url, body, ctype, levels, requests_per_level=requests_per_level,
                                        duration_s_per_level=duration_s_per_level, task=sub)
            stats = httpx.get(srv.url + "/stats", timeout=10).json()
        out[key] = [r.to_dict() for r in results]
        out[f"stats_{key}"] = stats
    task.report(1.0, "comparison done")
    return out
