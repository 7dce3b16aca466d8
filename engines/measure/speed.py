"""Latency and throughput of a model file, through the shared benchmark harness.

Latency percentiles are taken at batch 1; throughput at a chosen batch (when
the model's batch dimension is dynamic; otherwise at its fixed batch). The
thread count used is stated in the result.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from engines.tasks import TaskContext, ensure_task


def measure_speed(path: str | os.PathLike, fmt: str, *, threads: int | None = None, data: np.ndarray | None = None,
                  throughput_batch: int = 32, iterations: int = 200, budget_s: float = 3.0, warmup: int = 10,
                  device: str = "cpu", task: TaskContext | None = None) -> dict[str, Any]:
    """``{latency_ms, throughput, threads, device}`` for the model at ``path``."""
    from engines.measure.harness import benchmark
    from engines.measure.metrics import MetricsRecorder
    from engines.measure.runners import example_feeds, open_runner

    task = ensure_task(task)
    runner = open_runner(path, fmt, threads=threads, device=device)
    first = runner.inputs[0].shape[0] if runner.inputs and runner.inputs[0].shape else None
    fixed = isinstance(first, int) and first > 0
    lat_batch = int(first) if fixed else 1
    task.report(0.0, f"timing batch {lat_batch}")
    feeds = example_feeds(runner.inputs, batch=lat_batch, data=data)
    lat = benchmark(runner, feeds, warmup=warmup, iterations=iterations, budget_s=budget_s,
                    task=task.sub(0.0, 0.6), recorder=MetricsRecorder())
    result: dict[str, Any] = {
        "latency_ms": {k: lat.latency_ms[k] for k in ("p50", "p90", "p95", "p99", "mean")},
        "latency_batch": lat_batch,
        "threads": lat.threads,
        "device": lat.device,
        "iterations": lat.iterations,
        "run_metrics": lat.run_metrics,  # CPU/GPU samples taken while the batch-1 timing ran
    }
    tp_batch = lat_batch if fixed else max(1, int(throughput_batch))
    if tp_batch == lat_batch:
        result["throughput"] = {"batch": lat_batch, "ips": lat.throughput_ips}
    else:
        task.report(0.6, f"throughput at batch {tp_batch}")
        feeds = example_feeds(runner.inputs, batch=tp_batch, data=data)
        tp = benchmark(runner, feeds, warmup=max(2, warmup // 4), iterations=max(10, iterations // 4),
                       budget_s=budget_s, task=task.sub(0.6, 1.0), recorder=MetricsRecorder())
        result["throughput"] = {"batch": tp_batch, "ips": tp.throughput_ips,
                                "p50_ms": tp.latency_ms["p50"], "run_metrics": tp.run_metrics}
    task.report(1.0, "timed")
    return result
