"""Batch sweeps: latency percentiles and throughput per batch size, on CPU and CUDA.

Two passes. A short *probe* runs each batch size alone (powers of two up to
``max_batch`` by default) through :func:`engines.measure.harness.benchmark`
with a :class:`engines.measure.metrics.MetricsRecorder`, so every point keeps
the CPU/GPU samples taken while it ran; it stops growing the batch once a
point is far over the latency budget, runs out of memory or fails. Then the
batch sizes that ran are timed *paired* (:func:`engines.measure.paired.time_paired`:
interleaved rounds in rotating order), and those figures are the ones shown:
every point's percentiles and throughput come from the same rounds, and its
throughput gain over the smallest batch carries an interval over rounds, so a
neighbour's burst cannot make one batch size look better than another. On
CUDA, ONNX Runtime's CUDA execution provider returns outputs in host memory,
so each timed call already includes the device synchronisation. The result
reports the largest batch whose p99 meets the budget, and where and when it
was measured.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from engines.errors import UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task


@dataclass
class SweepPoint:
    batch: int
    latency_ms: dict[str, float]
    throughput_ips: float
    iterations: int
    run_metrics: dict[str, Any] = field(default_factory=dict)
    gain: dict[str, Any] | None = None     # throughput vs the smallest batch, paired: value, interval, rounds


@dataclass
class SweepResult:
    model: str
    device: str
    threads: int | None
    points: list[SweepPoint]
    budget_ms: float | None = None
    percentile: str = "p99"
    best_batch: int | None = None          # largest batch meeting the budget
    notes: list[str] = field(default_factory=list)
    paired: bool = False                   # points timed interleaved in the same rounds
    measured: dict[str, Any] = field(default_factory=dict)   # when, where, threads, load

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepResult":
        points = [SweepPoint(**p) for p in d.get("points", [])]
        return cls(**{**d, "points": points})

    def point(self, batch: int) -> SweepPoint | None:
        return next((p for p in self.points if p.batch == batch), None)


def default_batches(max_batch: int) -> list[int]:
    if max_batch < 1:
        raise WorkbenchError("--max-batch must be at least 1")
    out, b = [], 1
    while b < max_batch:
        out.append(b)
        b *= 2
    out.append(max_batch)
    return out


def available_devices() -> list[str]:
    """``cpu``, plus ``cuda`` when ONNX Runtime has its CUDA execution provider."""
    devices = ["cpu"]
    try:
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            devices.append("cuda")
    except ImportError:
        pass
    return devices


def best_batch(points: Sequence[SweepPoint], budget_ms: float | None, percentile: str = "p99") -> int | None:
    if budget_ms is None:
        return None
    fitting = [p.batch for p in points if p.latency_ms.get(percentile, float("inf")) <= budget_ms]
    return max(fitting) if fitting else None


def batch_sweep(model: str | os.PathLike, *, fmt: str = "onnx", batches: Sequence[int] | None = None,
                max_batch: int = 64, budget_ms: float | None = None, percentile: str = "p99",
                device: str = "cpu", threads: int | None = None, warmup: int = 5, iterations: int = 100,
                budget_s_per_point: float = 3.0, data: Any = None, runner: Any = None, recorder_factory: Any = None,
                rounds: int | None = None, paired: bool = True, task: TaskContext | None = None) -> SweepResult:
    """Measure ``model`` at each batch size; see the module docstring (``paired=False``: the probe only)."""
    from engines.measure.paired import provenance
    from engines.measure.runners import open_runner

    task = ensure_task(task)
    path = Path(model)
    if runner is None:
        if not path.exists():
            raise WorkbenchError(f"model file {path} does not exist")
        runner = open_runner(path, fmt, threads=threads, device=device)
    batches = list(batches) if batches else default_batches(max_batch)
    notes: list[str] = []
    first = runner.inputs[0].shape[0] if runner.inputs and runner.inputs[0].shape else None
    if isinstance(first, int) and first > 0:
        notes.append(f"the model's batch axis is fixed at {first}: only that batch size can run")
        batches = [first]
    probe_share = 0.3 if paired and len(batches) > 1 else 1.0
    points, feeds = _probe(runner, batches, notes, budget_ms=budget_ms, warmup=warmup,
                           iterations=iterations if probe_share == 1.0 else max(5, iterations // 4),
                           budget_s=budget_s_per_point * probe_share, data=data, device=device,
                           recorder_factory=recorder_factory, task=task.sub(0.0, probe_share))
    threads_used = getattr(runner, "threads", None)
    measured = provenance(threads_used, device)
    if probe_share < 1.0 and len(points) > 1:
        measured = _pair(runner, points, feeds, rounds=rounds, iterations=iterations,
                         budget_s=budget_s_per_point * (1 - probe_share), threads=threads_used, device=device,
                         notes=notes, task=task.sub(probe_share, 1.0))
    task.report(1.0, "sweep done")
    return SweepResult(model=str(path), device=device, threads=threads_used, points=points,
                       budget_ms=budget_ms, percentile=percentile,
                       best_batch=best_batch(points, budget_ms, percentile), notes=notes,
                       paired=probe_share < 1.0 and len(points) > 1, measured=measured)


def _probe(runner: Any, batches: list[int], notes: list[str], *, budget_ms: float | None, warmup: int,
           iterations: int, budget_s: float, data: Any, device: str, recorder_factory: Any,
           task: TaskContext) -> tuple[list[SweepPoint], dict[int, Any]]:
    """Each batch size alone, growing until the budget, memory or the model stops it."""
    from engines.measure.harness import benchmark
    from engines.measure.metrics import MetricsRecorder
    from engines.measure.runners import example_feeds

    points: list[SweepPoint] = []
    kept: dict[int, Any] = {}
    for i, b in enumerate(batches):
        task.report(i / len(batches), f"batch {b} on {device}")
        feeds = example_feeds(runner.inputs, batch=b, seed=i, data=data)
        recorder = recorder_factory() if recorder_factory else MetricsRecorder()
        try:
            res = benchmark(runner, feeds, warmup=warmup, iterations=iterations, budget_s=budget_s,
                            min_iterations=5, task=task.sub(i / len(batches), (i + 1) / len(batches)),
                            recorder=recorder)
        except MemoryError:
            notes.append(f"batch {b} ran out of memory; larger batches skipped")
            break
        except WorkbenchError:
            raise
        except Exception as exc:
            if not points:
                raise UnsupportedError(f"the model failed at batch {b}: "
                                       f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from exc
            notes.append(f"batch {b} failed ({type(exc).__name__}); larger batches skipped")
            break
        points.append(SweepPoint(b, res.latency_ms, res.throughput_ips, res.iterations, res.run_metrics))
        kept[b] = feeds
        if budget_ms is not None and res.latency_ms["p50"] > 4 * budget_ms and b != batches[-1]:
            notes.append(f"stopped after batch {b}: p50 {res.latency_ms['p50']:.1f} ms is far over the "
                         f"{budget_ms:g} ms budget")
            break
    return points, kept


def _pair(runner: Any, points: list[SweepPoint], feeds: dict[int, Any], *, rounds: int | None, iterations: int,
          budget_s: float, threads: int | None, device: str, notes: list[str], task: TaskContext) -> dict[str, Any]:
    """Re-time the probed batch sizes interleaved; the points take these figures and a paired gain."""
    from engines.measure.paired import DEFAULT_ROUNDS, time_paired

    n = rounds or DEFAULT_ROUNDS
    calls = {str(p.batch): (lambda run=runner.run, f=feeds[p.batch]: run(f)) for p in points}
    ref = str(points[0].batch)
    sync = getattr(runner, "sync", None)
    timed = time_paired(calls, ref, rounds=n, iterations=max(2, iterations // n), warmup=1,
                        round_budget_s=budget_s / n / len(points), threads=threads, device=device, task=task,
                        sync=sync if callable(sync) else None)
    if timed.load is not None and timed.load.message:
        notes.append(timed.load.message)
    base = points[0].batch
    for p in points:
        lat = timed.latency_ms[str(p.batch)]
        p.latency_ms = {k: lat[k] for k in ("p50", "p90", "p95", "p99", "mean") if k in lat}
        p.throughput_ips = p.batch * 1000.0 / lat["p50"] if lat["p50"] > 0 else 0.0
        p.iterations = timed.iterations * timed.rounds
        if p.batch != base:   # items/s gain over the smallest batch: batch ratio x latency ratio
            r = timed.ratios[str(p.batch)]
            k = p.batch / base
            p.gain = {"value": round(r.value * k, 4), "interval": [round(r.low * k, 4), round(r.high * k, 4)],
                      "rounds": r.rounds, "vs_batch": base, "within_noise": r.low * k <= 1.0 <= r.high * k}
    notes.append(f"figures timed paired: {len(points)} batch sizes interleaved over {timed.rounds} rounds")
    return dict(timed.measured)


def recommend_batching(sweep: SweepResult, budget_ms: float, percentile: str = "p99") -> dict[str, Any]:
    """Max batch size and queue delay for a latency budget, from a batch sweep.

    A request can wait out the queue delay, then the batch already running,
    then its own batch: budget >= delay + 2 x latency(batch). The largest batch
    with 2 x latency within 80% of the budget is taken; the delay gets what is
    left, capped at one batch's run time (waiting longer gains nothing).
    """
    if budget_ms <= 0:
        raise WorkbenchError("the latency budget must be positive")
    fits = [p for p in sweep.points if 2 * p.latency_ms[percentile] <= 0.8 * budget_ms]
    if not fits:
        fastest = min(sweep.points, key=lambda p: p.latency_ms[percentile], default=None)
        shown = f"{fastest.latency_ms[percentile]:.1f} ms at batch {fastest.batch}" if fastest else "no points"
        return {"max_batch": 1, "max_delay_ms": 0.0, "expected_ms": fastest.latency_ms[percentile] if fastest else None,
                "meets_budget": False, "reason": f"even batch 1 does not fit a {budget_ms:g} ms {percentile} "
                                                 f"budget with queueing ({shown}): turn batching off or pick "
                                                 "faster hardware"}
    # the smallest batch within 5 % of the best throughput that fits: a larger batch that runs slower per
    # item (the table shows it) is never recommended
    best = max(q.throughput_ips for q in fits)
    p = min((q for q in fits if q.throughput_ips >= 0.95 * best), key=lambda q: q.batch)
    lat = p.latency_ms[percentile]
    delay = max(0.1, min(budget_ms - 2 * lat, lat))
    return {"max_batch": p.batch, "max_delay_ms": round(delay, 2), "expected_ms": round(delay + 2 * lat, 2),
            "throughput_ips": p.throughput_ips, "meets_budget": True,
            "reason": f"batch {p.batch} gives {p.throughput_ips:,.0f} items/s (best within the budget) and runs in "
                      f"{lat:.1f} ms ({percentile}); a {delay:.1f} ms queue delay keeps "
                      f"the worst case near {delay + 2 * lat:.1f} ms, within {budget_ms:g} ms"}


def preferred_batch_sizes(sweep: SweepResult, max_batch: int) -> list[int]:
    """Batch sizes worth waiting for (Triton's ``preferred_batch_size``): the best-throughput sizes <= max."""
    pts = [p for p in sweep.points if p.batch <= max_batch]
    if not pts:
        return [max_batch]
    top = max(p.throughput_ips for p in pts)
    good = sorted({p.batch for p in pts if p.throughput_ips >= 0.9 * top})
    return good[-2:] if len(good) > 1 else good
