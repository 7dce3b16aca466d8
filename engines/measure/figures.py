"""What cost and deploy work from: a variant (or a plain model file) and its measured figures.

``resolve_target`` accepts a model path or a variant reference (id, id prefix
or name) in a workspace. ``measured_figures`` returns the variant's stored
benchmark, or benchmarks the model now on this machine with
:func:`engines.measure.harness.benchmark` (and stores the result in the variant).
``payload_sizes`` serializes a real request and response with the exact
encoder the deployed ``inference.py`` uses, so data-processed cost and the
4 MB payload check use real byte counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.targets import ENGINE_SUFFIXES, Target
from engines.targets import resolve_target as _resolve
from engines.tasks import TaskContext, ensure_task


@dataclass
class Measured:
    ips: float                       # inferences (samples) per second at ``batch``
    batch: int                       # batch of the throughput figure
    latency_ms: dict[str, float]     # p50, p90, p95, p99, mean of one call at ``latency_batch``
    threads: int | None
    device: str
    source: str                      # "variant benchmark" | "measured now"
    latency_batch: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def request_latency_ms(self) -> float:
        """Mean latency of one call at ``latency_batch`` (batch 1 unless the model's batch is fixed)."""
        return float(self.latency_ms.get("mean") or self.latency_ms.get("p50") or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"ips": self.ips, "batch": self.batch, "latency_ms": self.latency_ms,
                "latency_batch": self.latency_batch, "threads": self.threads, "device": self.device,
                "source": self.source, "rss_peak": self.extra.get("rss_peak")}


def resolve_target(ref: str, *, workspace: str | os.PathLike | None = None,
                   model: str | os.PathLike | None = None) -> Target:
    """A model file (.onnx, .tflite, engines) or a variant reference, for cost and deploy."""
    return _resolve(ref, model=model, workspace=workspace, formats=ENGINE_SUFFIXES, purpose="priced or deployed")


def _from_metrics(metrics: dict[str, Any], source: str) -> Measured | None:
    tp = metrics.get("throughput") or {}
    lat = metrics.get("latency_ms") or {}
    if not tp.get("ips") or not lat:
        return None
    return Measured(ips=float(tp["ips"]), batch=int(tp.get("batch") or 1), latency_ms=dict(lat),
                    threads=metrics.get("threads"), device=str(metrics.get("device") or "cpu"), source=source,
                    latency_batch=int(metrics.get("latency_batch") or 1),
                    extra={"rss_peak": (metrics.get("run_metrics") or {}).get("rss_peak"),
                           # CPU/GPU use while timed: right-sizing reads them (engines/cost/instance_fit.py)
                           "run_metrics": metrics.get("run_metrics"), "throughput_run_metrics": tp.get("run_metrics"),
                           "measured": metrics.get("measured")})


def measure(target: Target, *, threads: int | None = None, budget_s: float = 2.0,
            task: TaskContext | None = None) -> tuple[Measured, dict[str, Any]]:
    """Benchmark the target now on this machine (latency at batch 1, throughput at batch 32)."""
    from engines.measure.speed import measure_speed

    task = ensure_task(task)
    task.report(0.0, f"benchmarking {target.name}")
    metrics = measure_speed(target.path, target.format, threads=threads, budget_s=budget_s, task=task)
    m = _from_metrics(metrics, "measured now")
    if m is None:
        raise WorkbenchError(f"benchmark of {target.name} gave no throughput")
    return m, metrics


def measured_figures(target: Target, *, allow_measure: bool = True, store: bool = True,
                     task: TaskContext | None = None) -> Measured:
    stored = _from_metrics(target.metrics, "variant benchmark")
    if stored is not None:
        return stored
    if not allow_measure:
        raise WorkbenchError(f"{target.name} has no benchmark yet: run one first (the cost model uses only "
                             "measured throughput)")
    m, metrics = measure(target, task=task)
    if store and target.variant is not None and target.workspace is not None:
        target.workspace.update_metrics(target.variant.id, **metrics)
    return m


def payload_sizes(target: Target, content_type: str = "application/json", batch: int = 1,
                  input_shapes: Any = None) -> dict[str, Any]:
    """Bytes of one real request and its response in ``content_type`` (model run once on example input at
    the ``--input-shape`` sizes when given; the shapes used are in ``inputs``)."""
    from engines.deploy import container_inference as ci
    from engines.measure.runners import example_feeds, open_runner

    if target.format not in ("onnx", "openvino"):
        raise WorkbenchError(f"{target.name} is {target.format}: request sizes are measured on ONNX and OpenVINO "
                             "variants")
    from engines.models.shapes import parse_input_shapes, shape_runner

    runner = shape_runner(open_runner(target.path, target.format, threads=1), parse_input_shapes(input_shapes),
                          require=bool(input_shapes), name=target.name)
    feeds = example_feeds(runner.inputs, batch=batch, seed=0)
    body = ci.encode_request(feeds, content_type)
    outputs = runner.run(feeds)
    names = [o.name for o in runner.outputs]
    response = ci.output_fn(dict(zip(names, outputs)), content_type if len(names) == 1 else ci.JSON)
    out_bytes = len(response if isinstance(response, bytes) else response.encode())
    return {"content_type": content_type, "batch": batch, "request_bytes": len(body), "response_bytes": out_bytes,
            "inputs": [{"name": s.name, "shape": [batch] + list(v.shape[1:]), "dtype": s.dtype}
                       for s, v in zip(runner.inputs, feeds.values())]}
