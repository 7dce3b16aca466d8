"""Latency and throughput of model files, through the shared benchmark harness.

Latency percentiles are taken at batch 1; throughput at a chosen batch (when
the model's batch dimension is dynamic; otherwise at its fixed batch). The
thread count used, and when and where the figure was taken, are stated in the
result. :func:`measure_paired` times several models interleaved in the same
rounds (:func:`engines.measure.paired.time_paired`) so their ratios are paired.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from engines.tasks import TaskContext, ensure_task

THROUGHPUT_ROUNDS = 3


def measure_speed(path: str | os.PathLike, fmt: str, *, threads: int | None = None, data: np.ndarray | None = None,
                  throughput_batch: int = 32, iterations: int = 200, budget_s: float = 3.0, warmup: int = 10,
                  device: str = "cpu", task: TaskContext | None = None) -> dict[str, Any]:
    """``{latency_ms, throughput, threads, device, measured}`` for the model at ``path`` (timed alone)."""
    from engines.measure.harness import benchmark
    from engines.measure.metrics import MetricsRecorder
    from engines.measure.paired import provenance
    from engines.measure.runners import example_feeds, open_runner

    task = ensure_task(task)
    runner = open_runner(path, fmt, threads=threads, device=device)
    lat_batch, fixed = _latency_batch(runner)
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
    result["measured"] = provenance(lat.threads, lat.device)
    task.report(1.0, "timed")
    return result


def _latency_batch(runner: Any) -> tuple[int, bool]:
    first = runner.inputs[0].shape[0] if runner.inputs and runner.inputs[0].shape else None
    fixed = isinstance(first, int) and first > 0
    return (int(first) if fixed else 1), fixed


def open_timing_runner(path: str | os.PathLike, fmt: str, threads: int | None, device: str = "cpu") -> Any:
    """A runner for side-by-side timing: ONNX sessions let idle threads sleep instead of spinning on the
    cores the other model is being timed on."""
    from engines.measure.runners import open_runner

    kw = {"spinning": False} if fmt == "onnx" else {}
    return open_runner(path, fmt, threads=threads, device=device, **kw)


def measure_paired(models: Mapping[str, tuple[str | os.PathLike, str]], reference: str, *,
                   threads: int | None = None, data: np.ndarray | None = None, throughput_batch: int = 32,
                   iterations: int = 200, budget_s: float = 3.0, warmup: int = 10, rounds: int | None = None,
                   devices: Mapping[str, str] | None = None, load: Any = True,
                   task: TaskContext | None = None) -> dict[str, dict[str, Any]]:
    """Per model (``name -> (path, format)``): the figures of :func:`measure_speed`, all timed interleaved.

    ``iterations`` and ``budget_s`` are per model, spread over the rounds. Each non-reference model's
    result carries ``paired``: its speedup over ``reference`` with the interval over rounds, and the
    throughput ratio at the throughput batch; every result carries ``measured`` (when, where, load).
    """
    from engines.measure.metrics import MetricsRecorder
    from engines.measure.paired import DEFAULT_ROUNDS, check_load, runner_calls, time_paired
    from engines.measure.runners import example_feeds

    task = ensure_task(task)
    devices = devices or {}
    runners = {k: open_timing_runner(p, f, threads, devices.get(k, "cpu")) for k, (p, f) in models.items()}
    batches = {k: _latency_batch(r) for k, r in runners.items()}
    check = check_load() if load is True else (load or None)
    n = rounds or DEFAULT_ROUNDS
    iters = max(3, iterations // n)
    feeds = {k: example_feeds(r.inputs, batch=batches[k][0], data=data) for k, r in runners.items()}
    recorder = MetricsRecorder()
    recorder.start()
    try:
        lat = time_paired(runner_calls(runners, feeds), reference, rounds=n, iterations=iters,
                          warmup=warmup, round_budget_s=budget_s / n, threads=_threads(runners, threads),
                          device=devices.get(reference, "cpu"), load=check, task=task.sub(0.0, 0.7))
        tp_batch = {k: b if fixed else max(1, int(throughput_batch)) for k, (b, fixed) in batches.items()}
        tp = lat
        if any(tp_batch[k] != batches[k][0] for k in runners):
            task.report(0.7, "throughput, paired")
            tfeeds = {k: example_feeds(r.inputs, batch=tp_batch[k], data=data) for k, r in runners.items()}
            tp = time_paired(runner_calls(runners, tfeeds), reference, rounds=THROUGHPUT_ROUNDS,
                             iterations=max(2, iters // 4), warmup=max(1, warmup // 4),
                             round_budget_s=budget_s / THROUGHPUT_ROUNDS, threads=_threads(runners, threads),
                             load=check, task=task.sub(0.7, 1.0))
    finally:
        run_metrics = recorder.stop()
    out: dict[str, dict[str, Any]] = {}
    for k, r in runners.items():
        p50 = tp.latency_ms[k]["p50"]
        res: dict[str, Any] = {
            "latency_ms": {m: lat.latency_ms[k][m] for m in ("p50", "p90", "p95", "p99", "mean")},
            "latency_batch": batches[k][0], "threads": getattr(r, "threads", threads),
            "device": getattr(r, "device", "cpu"), "iterations": lat.rounds * lat.iterations,
            "run_metrics": run_metrics,
            "throughput": {"batch": tp_batch[k], "ips": tp_batch[k] * 1000.0 / p50 if p50 > 0 else 0.0,
                           "p50_ms": p50},
            "measured": dict(lat.measured),
        }
        if k != reference:
            rec = lat.record(k)
            if tp is not lat and k in tp.ratios:
                rec["throughput_ratio"] = tp.ratios[k].to_dict()
            res["paired"] = rec
        out[k] = res
    return out


def _threads(runners: Mapping[str, Any], threads: int | None) -> int | None:
    for r in runners.values():
        if getattr(r, "threads", None):
            return r.threads
    return threads
