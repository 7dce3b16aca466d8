"""What one replica (a pod, a SageMaker instance) sustains, from the measured figures: one logic for both.

:func:`replica_rate` picks the per-replica rate: the throughput a server run
reached when one was recorded (``served``), else the model's throughput at its
benchmark batch when that batch fits the latency budget and the runtime batches
requests, else the batch-1 rate (1000 / mean latency). The KServe HPA export
(:func:`engines.deploy.k8s.capacity`) and the SageMaker real-time autoscaling
target (:func:`sagemaker_target`) both start from it and multiply by a safety
margin.

SageMaker's ``SageMakerVariantInvocationsPerInstance`` counts invocations per
instance per minute, and the package's ``inference.py`` answers each invocation
on its own (no dynamic batching in the container), so the SageMaker target is
taken at batch 1 (or from a server run with batching off):
``target = per-instance req/s x 60 x margin``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from engines.errors import WorkbenchError

DEFAULT_SAFETY = 0.7
HOW_TO_MEASURE = ("benchmark it first: `workbench cost VARIANT` (or `workbench variants retime MODEL`), r in "
                  "Optimize, or a serving run (`workbench loadgen`, the Batching area's compare)")


@dataclass
class ReplicaRate:
    rps: float                 # requests (batch-1 calls) or inferences per second one replica sustains
    batch: int                 # rows per call behind the figure
    latency_ms: float          # time of one call at that batch
    source: str                # served | model batch-N | model batch-1
    basis: str                 # one sentence: where the figure comes from
    measured: str = ""         # when and where: "2026-12-02 16:50 UTC on Intel Xeon ..., 2 threads"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def provenance_text(metrics: dict[str, Any] | None, measured: Any = None) -> str:
    """``2026-12-02 16:50 UTC on <cpu>, 2 threads (cpu)`` from a variant's stored ``measured`` record."""
    prov = (metrics or {}).get("measured") or (getattr(measured, "extra", None) or {}).get("measured") or {}
    threads = prov.get("threads") or getattr(measured, "threads", None)
    device = prov.get("device") or getattr(measured, "device", None) or "cpu"
    when = str(prov.get("when") or "")
    where = prov.get("cpu") or "this machine"
    if when:
        when = when[:16] + " UTC" if len(when) >= 16 else when
        return f"{when} on {where}, {threads or '?'} threads ({device})"
    return f"on this machine ({device}, {threads or '?'} threads; time not recorded)"


def replica_rate(measured: Any, *, latency_budget_ms: float | None = None, batching: bool = True,
                 served: Any = None, provenance: str = "") -> ReplicaRate:
    """The per-replica rate; ``served`` (an :class:`engines.cost.served.ServedFigure`) wins when usable."""
    if served is not None and (batching or not served.batching) and (
            latency_budget_ms is None or served.p99_ms is None or served.p99_ms <= latency_budget_ms):
        return ReplicaRate(served.rps, served.rows_per_request, served.p50_ms or 0.0, "served",
                           f"{served.rps:.1f} req/s reached by the server ({served.describe()})",
                           served.measured or provenance)
    notes: list[str] = []
    one_ms = float(measured.request_latency_ms)
    batch_ms = measured.batch / measured.ips * 1000.0 if measured.ips else float("inf")
    budget = latency_budget_ms if latency_budget_ms is not None else float("inf")
    if batching and measured.batch > 1 and batch_ms <= budget:
        within = f", within the {latency_budget_ms:g} ms budget" if latency_budget_ms is not None else ""
        return ReplicaRate(float(measured.ips), int(measured.batch), batch_ms, f"model batch-{measured.batch}",
                           f"measured {measured.ips:.1f} inferences/s at batch {measured.batch} ({batch_ms:.2f} ms "
                           f"a batch{within}); reaching it needs dynamic batching (Triton's dynamic_batching / "
                           "workbench serve --max-batch)", provenance)
    if one_ms > 0:
        rps = measured.latency_batch * 1000.0 / one_ms
    else:
        rps = float(measured.ips)
    basis = f"batch-1 rate 1000 / {one_ms:.3f} ms mean latency"
    if measured.batch > 1 and batching and batch_ms > budget:
        notes.append(f"batch {measured.batch} takes {batch_ms:.2f} ms, over the budget: priced at batch 1")
    return ReplicaRate(rps, 1, one_ms, "model batch-1", basis, provenance, notes)


@dataclass
class AutoscalingTarget:
    """The SageMakerVariantInvocationsPerInstance target (invocations per instance per minute) and its source."""

    value: float | None            # None: nothing measured and no override
    safety: float
    per_instance_rps: float | None
    source: str                    # served | model batch-1 | yours | none
    line: str                      # shown in the plan
    measured: str = ""
    override: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_safety(safety: float) -> None:
    if not (isinstance(safety, (int, float)) and math.isfinite(safety) and 0 < safety <= 1):
        raise WorkbenchError(f"safety margin {safety!r} must be in (0, 1]: the share of measured throughput "
                             "autoscaling aims for (default 0.7)")


def sagemaker_target(measured: Any, *, safety: float = DEFAULT_SAFETY, override: float | None = None,
                     served: Any = None, provenance: str = "", name: str = "the variant") -> AutoscalingTarget:
    """Target invocations/min/instance = measured per-instance req/s x 60 x ``safety``; ``override`` wins."""
    _check_safety(safety)
    rate = None
    if measured is not None or served is not None:
        if measured is None:
            rate = replica_rate(None, batching=False, served=served, provenance=provenance) if not served.batching \
                else None
        else:
            rate = replica_rate(measured, batching=False, served=served, provenance=provenance)
    # whole invocations, rounded down (never above measured x margin), at least 1
    derived = max(1.0, float(math.floor(rate.rps * 60.0 * safety + 1e-6))) if rate is not None else None
    if override is not None:
        if not (math.isfinite(override) and override > 0):
            raise WorkbenchError(f"autoscaling target {override!r} must be a number > 0 (invocations per instance "
                                 "per minute)")
        if derived is not None:
            why = f"measured would be {derived:,.0f} = {rate.rps:,.1f} req/s x 60 x {safety:g} margin"
        else:
            why = f"no throughput measured for {name}"
        return AutoscalingTarget(float(override), safety, rate.rps if rate else None, "yours",
                                 f"autoscaling target {override:,.0f} inv/min/instance (yours; {why})",
                                 rate.measured if rate else "", True)
    if rate is None:
        return AutoscalingTarget(None, safety, None, "none",
                                 f"autoscaling target: no throughput measured for {name}: {HOW_TO_MEASURE}; or "
                                 "give the target yourself (--target-invocations / the target field)")
    what = "reached by the server" if rate.source == "served" else "measured (batch 1: each invocation alone)"
    when = f", measured {rate.measured}" if rate.measured else ""
    return AutoscalingTarget(derived, safety, rate.rps, rate.source,
                             f"autoscaling target {derived:,.0f} inv/min/instance = {rate.rps:,.1f} req/s {what} "
                             f"x 60 x {safety:g} margin{when}", rate.measured)
