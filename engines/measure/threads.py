"""Threads and streams: intra-op threads for latency, concurrent sessions / streams for throughput.

Latency: one ONNX Runtime session per intra-op thread count (1, 2, 4, ... up to
the cores this process may run on, :func:`engines.measure.paired.available_cores`),
all timed interleaved in the same rounds (:func:`engines.measure.paired.time_paired`);
the scaling curve is each count's speedup over the fewest threads, with its
interval, and its efficiency (speedup per added thread).

Throughput: ``S`` concurrent sessions of ``cores // S`` threads each, every one
fed by its own caller thread (ONNX Runtime releases the GIL while it runs), and,
where OpenVINO is installed, one compiled model with ``NUM_STREAMS = S`` fed by an
``AsyncInferQueue`` of ``S`` requests. Every configuration serves the same burst
of requests per round, interleaved with the others, so the ratio of burst times
is the ratio of throughputs. Sessions are opened with spinning off, so the idle
thread pools of one configuration never steal the cores another is timed on.

The recommendation takes the fewest threads (or streams) whose figure is within
noise of the best: a core that buys nothing measurable is left to other work.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from engines.errors import UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task

RUNTIMES = ("onnxruntime", "openvino")
BURST_S = 0.15           # target wall time of one throughput burst
MAX_REQUESTS = 4000


def powers_up_to(n: int) -> list[int]:
    """1, 2, 4, ... below ``n``, then ``n`` itself."""
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    return out + [n]


def parse_counts(text: str | None, what: str, cores: int) -> list[int]:
    """``1,2,4`` -> sorted counts in 1..cores; a one-line error otherwise. None -> powers up to ``cores``."""
    if text is None or not str(text).strip():
        return powers_up_to(cores)
    try:
        vals = sorted({int(x) for x in str(text).split(",") if x.strip()})
    except ValueError:
        raise WorkbenchError(f"{what} {text!r}: give whole numbers separated by commas, e.g. 1,2,4") from None
    if not vals or vals[0] < 1:
        raise WorkbenchError(f"{what} {text!r}: counts must be >= 1")
    if vals[-1] > cores:
        raise WorkbenchError(f"{what} {text!r}: this process may run on {cores} core(s) (its CPU affinity); "
                             f"give counts from 1 to {cores}")
    return vals


def stream_plan(cores: int, streams: Sequence[int]) -> list[tuple[int, int]]:
    """(streams, threads per stream) sharing ``cores``: 16 cores -> (1, 16), (2, 8), (4, 4), (8, 2), (16, 1)."""
    return [(s, max(1, cores // s)) for s in sorted(set(streams))]


@dataclass
class LatencyPoint:
    threads: int
    p50_ms: float
    p99_ms: float
    speedup: dict[str, Any] | None     # vs the fewest threads (Ratio.to_dict), None for that one
    efficiency: float | None           # speedup / (threads / fewest threads)


@dataclass
class ThroughputPoint:
    runtime: str                       # onnxruntime | openvino
    streams: int                       # concurrent sessions (ORT) or NUM_STREAMS (OpenVINO)
    threads_per_stream: int
    items_per_s: float
    request_p50_ms: float
    request_p99_ms: float
    vs_reference: dict[str, Any] | None = None   # throughput / the reference's (Ratio.to_dict)

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.streams}x{self.threads_per_stream}"


@dataclass
class Recommendation:
    latency_threads: int
    latency: str
    throughput_runtime: str | None
    throughput_streams: int | None
    throughput_threads: int | None
    throughput: str


@dataclass
class ThreadsResult:
    model: str
    cores: int
    batch: int
    latency: list[LatencyPoint]
    throughput: list[ThroughputPoint]
    recommendation: Recommendation
    requests_per_burst: int = 0
    throughput_reference: str = ""
    notes: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- pools that serve a burst of requests concurrently -------------------------------------------
class SessionPool:
    """``streams`` ONNX Runtime sessions of ``threads`` each, each fed by its own caller thread."""

    def __init__(self, path: str, streams: int, threads: int, feeds: dict[str, np.ndarray]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from engines.measure.runners import OnnxRunner

        self.runners = [OnnxRunner(path, threads=threads, spinning=False) for _ in range(streams)]
        self.feeds, self.latencies_ms = feeds, []
        self.executor = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="wb-stream")

    def burst(self, requests: int) -> None:
        counter = itertools.count()   # next() on a count is atomic under the GIL

        def work(run: Callable[[Any], Any]) -> list[float]:
            lat = []
            while next(counter) < requests:
                t0 = time.perf_counter_ns()
                run(self.feeds)
                lat.append((time.perf_counter_ns() - t0) / 1e6)
            return lat

        for f in [self.executor.submit(work, r.run) for r in self.runners]:
            self.latencies_ms.extend(f.result())

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class OpenVinoStreams:
    """One OpenVINO CPU compiled model with ``NUM_STREAMS`` streams and as many async infer requests."""

    def __init__(self, path: str, streams: int, threads: int, feeds: dict[str, np.ndarray]) -> None:
        import openvino as ov

        config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(streams),
                  "INFERENCE_NUM_THREADS": str(streams * threads)}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.queue = ov.AsyncInferQueue(self.compiled, streams)
        self.feeds, self.latencies_ms = feeds, []
        self.queue.set_callback(lambda req, _ud: self.latencies_ms.append(float(req.latency)))

    def burst(self, requests: int) -> None:
        for _ in range(requests):
            self.queue.start_async(self.feeds)
        self.queue.wait_all()

    def close(self) -> None:
        self.queue = None


def _feeds(path: str, batch: int, overrides: Sequence[Any]) -> tuple[dict[str, np.ndarray], Any]:
    from engines.measure.runners import OnnxRunner, example_feeds
    from engines.models.shapes import shape_runner

    probe = shape_runner(OnnxRunner(path, threads=1, spinning=False), overrides, name=os.path.basename(path))
    return example_feeds(probe.inputs, batch=batch), probe


def _fit_in_memory(path: str, stream_counts: list[int], n_runtimes: int, notes: list[str],
                   share: float = 0.25) -> list[int]:
    """Drop the largest stream counts when their sessions (each holding the weights) would take more than
    ``share`` of the available memory, and say so."""
    try:
        import psutil

        free = psutil.virtual_memory().available
    except Exception:  # noqa: BLE001 - no psutil: keep every count
        return stream_counts
    size = max(1, os.path.getsize(path)) * 3          # weights plus the session's arena, roughly
    kept = list(stream_counts)
    while len(kept) > 1 and sum(kept) * n_runtimes * size > share * free:
        kept.pop()
    if len(kept) < len(stream_counts):
        notes.append(f"streams {', '.join(map(str, stream_counts[len(kept):]))} not measured: their sessions "
                     f"would need about {sum(stream_counts) * n_runtimes * size / 2**30:.1f} GiB of the "
                     f"{free / 2**30:.1f} GiB available")
    return kept


def _within_noise_fewest(order: Sequence[str], round_ms: dict[str, list[float]], best: str) -> str:
    """The first name in ``order`` whose per-round time is not separably worse than ``best``'s."""
    from engines.measure.paired import ratio_interval

    for name in order:
        r = ratio_interval(np.asarray(round_ms[best]) / np.asarray(round_ms[name]))
        if name == best or r.high >= 1.0 or r.value >= 0.97:
            return name
    return best


def sweep_threads(path: str | os.PathLike, *, threads: Sequence[int] | None = None,
                  streams: Sequence[int] | None = None, runtimes: Sequence[str] = RUNTIMES, batch: int = 1,
                  rounds: int = 7, iterations: int = 20, requests: int | None = None,
                  input_shapes: Sequence[Any] = (), task: TaskContext | None = None) -> ThreadsResult:
    """Latency against intra-op threads, throughput against concurrent streams, and a recommendation."""
    from engines.measure.paired import available_cores, time_paired

    task = ensure_task(task)
    path = str(path)
    cores = available_cores()
    counts = sorted(set(threads)) if threads else powers_up_to(cores)
    stream_counts = sorted(set(streams)) if streams else powers_up_to(cores)
    if counts[0] < 1 or counts[-1] > cores or stream_counts[0] < 1 or stream_counts[-1] > cores:
        raise WorkbenchError(f"thread and stream counts must lie between 1 and {cores} (the cores available)")
    if batch < 1 or rounds < 1 or iterations < 1:
        raise WorkbenchError("--batch, --rounds and --iterations must be >= 1")
    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad:
        raise WorkbenchError(f"unknown runtime {bad[0]!r}: choose {', '.join(RUNTIMES)}")
    if not path.lower().endswith(".onnx"):
        raise UnsupportedError(f"{os.path.basename(path)}: the threads sweep runs ONNX models (export first)")
    feeds, _ = _feeds(path, batch, input_shapes)
    notes: list[str] = []

    # latency: intra-op threads, one session each, interleaved
    from engines.measure.runners import OnnxRunner

    task.report(0.0, f"opening {len(counts)} sessions")
    runners = {f"{n} threads": OnnxRunner(path, threads=n, spinning=False) for n in counts}
    calls = {k: (lambda run=r.run: run(feeds)) for k, r in runners.items()}
    ref = f"{counts[0]} threads"
    pt = time_paired(calls, ref, rounds=rounds, iterations=iterations, threads=None, task=task.sub(0.0, 0.45))
    lat = []
    for n in counts:
        k = f"{n} threads"
        ratio = pt.ratios.get(k)
        lat.append(LatencyPoint(n, pt.latency_ms[k]["p50"], pt.latency_ms[k]["p99"],
                                ratio.to_dict() if ratio else None,
                                round(ratio.value / (n / counts[0]), 3) if ratio else None))
    del runners, calls
    best_lat = min(lat, key=lambda p: p.p50_ms)
    chosen = _within_noise_fewest([f"{n} threads" for n in counts], pt.round_ms, f"{best_lat.threads} threads")
    lat_threads = int(chosen.split()[0])
    lat_p50 = next(p.p50_ms for p in lat if p.threads == lat_threads)
    lat_text = (f"{lat_threads} intra-op thread(s): p50 {lat_p50:.3g} ms" +
                ("" if lat_threads == best_lat.threads else
                 f"; {best_lat.threads} threads are not measurably faster ({best_lat.p50_ms:.3g} ms)"))
    if pt.load is not None and pt.load.message:
        notes.append(pt.load.message)

    # throughput: S streams x cores // S threads
    one_ms = next(p.p50_ms for p in lat if p.threads == counts[-1])
    n_req = requests or int(min(MAX_REQUESTS, max(4 * stream_counts[-1], BURST_S * 1000 / max(one_ms, 1e-3))))
    stream_counts = _fit_in_memory(path, stream_counts, len(runtimes), notes)
    pools: dict[str, Any] = {}
    points: dict[str, ThroughputPoint] = {}
    if "openvino" in runtimes:
        try:
            import openvino  # noqa: F401
        except ImportError:
            notes.append("OpenVINO is not installed: its streams were not measured (pip install openvino)")
            runtimes = [r for r in runtimes if r != "openvino"]
    try:
        for rt in runtimes:
            for s, t in stream_plan(cores, stream_counts):
                key = f"{rt} {s}x{t}"
                try:
                    pools[key] = (SessionPool if rt == "onnxruntime" else OpenVinoStreams)(path, s, t, feeds)
                except Exception as exc:  # noqa: BLE001 - OpenVINO may not take a model ORT runs
                    from engines.errors import first_line

                    notes.append(f"{key} not measured: {first_line(exc)}")
                    continue
                points[key] = ThroughputPoint(rt, s, t, 0.0, 0.0, 0.0)
        if not pools:
            raise UnsupportedError("no throughput configuration could be opened")
        tref = f"onnxruntime 1x{cores}" if f"onnxruntime 1x{cores}" in pools else next(iter(pools))
        tcalls = {k: (lambda p=p: p.burst(n_req)) for k, p in pools.items()}
        tp = time_paired(tcalls, tref, rounds=rounds, iterations=1, warmup=1, load=pt.load,
                         task=task.sub(0.5, 1.0))
    finally:
        for p in pools.values():
            p.close()
    for k, p in pools.items():
        pt_ = points[k]
        pt_.items_per_s = n_req * batch * 1000.0 / tp.latency_ms[k]["p50"]
        req = np.asarray(p.latencies_ms) if p.latencies_ms else np.asarray([np.nan])
        pt_.request_p50_ms, pt_.request_p99_ms = float(np.percentile(req, 50)), float(np.percentile(req, 99))
        if k in tp.ratios:
            pt_.vs_reference = tp.ratios[k].to_dict()
    best_tp = max(points.values(), key=lambda p: p.items_per_s)
    order = sorted(points, key=lambda k: (points[k].streams, k))
    pick = points[_within_noise_fewest(order, tp.round_ms, best_tp.label)]
    tp_text = (f"{pick.streams} concurrent {'stream' if pick.runtime == 'openvino' else 'session'}(s) of "
               f"{pick.threads_per_stream} thread(s) on {pick.runtime}: {pick.items_per_s:,.0f} items/s, "
               f"request p99 {pick.request_p99_ms:.3g} ms")
    if pick is not best_tp:
        tp_text += f"; {best_tp.label} is not measurably faster ({best_tp.items_per_s:,.0f} items/s)"
    rec = Recommendation(lat_threads, lat_text, pick.runtime, pick.streams, pick.threads_per_stream, tp_text)
    if cores <= 2:
        notes.append(f"only {cores} core(s) available: the scaling curve is short here; on a machine with more "
                     "cores the same sweep runs 1, 2, 4, ... up to all of them")
    task.report(1.0, "threads and streams timed")
    return ThreadsResult(model=path, cores=cores, batch=batch, latency=lat,
                         throughput=[points[k] for k in order], recommendation=rec, requests_per_burst=n_req,
                         throughput_reference=tref, notes=notes, measured=pt.measured)
