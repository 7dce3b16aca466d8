"""The benchmark harness: warm-up, then timed runs by count or time budget.

Latency percentiles (p50/p90/p95/p99) come from per-call wall times measured
with ``time.perf_counter_ns`` around ``runner.run`` and nothing else, so the
harness adds no work to what it measures. The thread count is stated in the
result. A ``recorder`` (e.g. the metrics sampler) may be passed to keep the
CPU/GPU samples taken while the benchmark ran.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from engines.tasks import TaskContext, ensure_task


class Recorder(Protocol):
    def start(self) -> None: ...
    def stop(self) -> dict[str, Any]: ...


@dataclass
class BenchResult:
    batch: int
    threads: int | None
    device: str
    iterations: int
    warmup: int
    latency_ms: dict[str, float]
    throughput_ips: float          # inferences (samples) per second = batch / mean latency
    run_metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentiles(samples_ms: np.ndarray | list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return {k: float("nan") for k in ("p50", "p90", "p95", "p99", "mean", "min", "max")}
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return {"p50": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99),
            "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}


def time_calls(call: Callable[[], Any], *, warmup: int = 10, iterations: int | None = 200,
               budget_s: float | None = 10.0, min_iterations: int = 10,
               task: TaskContext | None = None, sync: Callable[[], None] | None = None) -> np.ndarray:
    """Run ``call`` ``warmup`` times, then time it until the count or the budget is reached.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called after each call, inside
    the timed region, for asynchronous devices.
    """
    task = ensure_task(task)
    for _ in range(warmup):
        call()
        if sync:
            sync()
    task.check()
    limit = iterations if iterations is not None else 10**9
    deadline = time.perf_counter() + budget_s if budget_s is not None else float("inf")
    times = []
    report_every = max(1, min(limit, 1000) // 20)
    i = 0
    while i < limit:
        t0 = time.perf_counter_ns()
        call()
        if sync:
            sync()
        times.append(time.perf_counter_ns() - t0)
        i += 1
        if i % report_every == 0:
            frac = i / limit if iterations is not None else None
            task.report(frac, f"timed {i} runs")
        if i >= min_iterations and time.perf_counter() > deadline:
            break
    return np.asarray(times, dtype=np.float64) / 1e6


def benchmark(runner: Any, feeds: dict[str, np.ndarray], *, warmup: int = 10, iterations: int | None = 200,
              budget_s: float | None = 10.0, min_iterations: int = 10, task: TaskContext | None = None,
              recorder: Recorder | None = None, sync: Callable[[], None] | None = None) -> BenchResult:
    """Benchmark ``runner.run(feeds)``; batch is the first input's leading dimension."""
    batch = int(next(iter(feeds.values())).shape[0]) if feeds else 1
    run = runner.run
    if recorder is not None:
        recorder.start()
    try:
        samples = time_calls(lambda: run(feeds), warmup=warmup, iterations=iterations, budget_s=budget_s,
                             min_iterations=min_iterations, task=task, sync=sync)
    finally:
        run_metrics = recorder.stop() if recorder is not None else {}
    lat = percentiles(samples)
    ips = batch * 1000.0 / lat["mean"] if lat["mean"] > 0 else 0.0
    return BenchResult(batch=batch, threads=getattr(runner, "threads", None),
                       device=getattr(runner, "device", "cpu"), iterations=int(samples.size), warmup=warmup,
                       latency_ms=lat, throughput_ips=ips, run_metrics=run_metrics)
