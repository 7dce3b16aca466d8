"""One cost report for a variant: what ``workbench cost`` prints and the Cost screen shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engines.cost.model import (TrafficProfile, break_even, gpu_vs_cpu, instance_row, serverless_estimate,
                          throughput_bases)
from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task


@dataclass
class CostOptions:
    avg_rps: float = 5.0
    peak_rps: float = 50.0
    hours_per_day: float = 24.0
    days: float = 30.0
    memory_mb: int = 2048
    max_concurrency: int = 5
    provisioned: int = 0
    content_type: str = "application/json"
    host_instance: str | None = None
    assumptions: dict[str, float] = field(default_factory=dict)
    compare_instance: str | None = None     # instance of the break-even chart (default: the measured one)
    served: dict[str, Any] | None = None    # {"on"/"off": engines.cost.served.ServedFigure}; default: the variant's
    realtime_instance: str | None = "ml.c5.xlarge"   # the SageMaker real-time instance right-sized beside the rows

    def profile(self) -> TrafficProfile:
        return TrafficProfile(self.avg_rps, self.peak_rps, self.hours_per_day, self.days)


def project_costs(target: Any, options: CostOptions, *, catalog: Any = None, measured: Any = None,
                  payload: dict[str, Any] | None = None, allow_measure: bool = True,
                  task: TaskContext | None = None) -> dict[str, Any]:
    from engines.measure.figures import measured_figures, payload_sizes
    from engines.cost.prices import load_catalog

    task = ensure_task(task)
    catalog = catalog or load_catalog()
    profile = options.profile()
    if measured is None:
        measured = measured_figures(target, allow_measure=allow_measure, task=task.sub(0.0, 0.8))
    task.report(0.85, "request and response sizes")
    if payload is None and target.format == "onnx":
        payload = payload_sizes(target, options.content_type)
    from engines.cost.served import from_metrics

    served = options.served if options.served is not None else from_metrics(getattr(target, "metrics", None))
    bases = throughput_bases(measured, catalog, options.assumptions, options.host_instance, served=served)
    rows = [instance_row(catalog, b, profile) for b in bases]
    notes = [f"price catalog {catalog.as_of} ({catalog.origin})", *[r["note"] for r in rows]]
    serverless = None
    if payload is not None:
        latency, note = measured.request_latency_ms, ""
        lb = measured.latency_batch
        if lb > 1:
            note = (f"the model's batch is fixed at {lb}: one request carries {lb} samples, billed at the "
                    f"measured batch-{lb} latency")
        serverless = serverless_estimate(
            catalog, latency, options.memory_mb, payload["request_bytes"], payload["response_bytes"], profile,
            provisioned=options.provisioned, max_concurrency=options.max_concurrency, latency_note=note)
    else:
        notes.append(f"serverless: {target.format} variants cannot be deployed serverless (ONNX on CPU only)")
    chart = None
    if serverless is not None and rows:
        pick = options.compare_instance
        choice = next((r for r in rows if r["instance"] == pick), None) if pick else None
        if pick and choice is None:
            raise WorkbenchError(f"no throughput basis for {pick}: add --assume-throughput {pick}=IPS")
        # what a server reached, when a serving run recorded it, rather than the model-only benchmark
        default = next((r for r in rows if r["basis"] == "served"), rows[0])
        chart = break_even(catalog, serverless, choice or default, profile)
    fits = instance_fits(target, measured, rows, catalog, profile, options.realtime_instance)
    task.report(1.0, "cost projection ready")
    return {"target": {"name": target.name, "format": target.format, "path": str(target.path),
                       "variant_id": getattr(target.variant, "id", None)},
            "catalog": {"as_of": catalog.as_of, "origin": catalog.origin, "currency": catalog.currency},
            "profile": {"avg_rps": profile.avg_rps, "peak_rps": profile.peak_rps,
                        "hours_per_day": profile.hours_per_day, "days": profile.days,
                        "requests_per_month": profile.requests},
            "measured": measured.to_dict(), "payload": payload, "instances": rows, "serverless": serverless,
            "break_even": chart, "gpu_vs_cpu": gpu_vs_cpu(rows), "notes": notes,
            "served": {k: f.to_dict() for k, f in (served or {}).items()}, "instance_fit": fits}


def instance_fits(target: Any, measured: Any, rows: list[dict[str, Any]], catalog: Any, profile: TrafficProfile,
                  realtime: str | None) -> list[dict[str, Any]]:
    """vCPU/GPU right-sizing of each measured row and of the SageMaker real-time instance (batch-1 calls)."""
    from engines.cost.instance_fit import fit_for_target, fit_instance, target_metrics, utilization_from_metrics

    metrics = target_metrics(target, measured)
    out = []
    for row in rows:
        if row["basis"] != "measured":
            continue
        util = utilization_from_metrics(metrics, batch1=measured.batch == 1, measured=measured)
        fit = fit_instance(row["instance"], util, catalog, profile, count=row["instances_for_peak"],
                           rate_ips=row["ips"])
        out.append(fit.to_dict())
    if realtime:
        out.append(fit_for_target(target, measured, realtime, catalog, profile).to_dict())
    return out


# -- one phrasing of the report's conclusions, for the Cost screen and `workbench cost` alike --------------
def usd(x: float | None) -> str:
    if x is None:
        return "—"
    return f"${x:,.2f}" if abs(x) >= 0.1 or x == 0 else f"${x:.3g}"


def break_even_sentence(be: dict[str, Any]) -> str:
    at = f"{be['break_even_rps']:.2f} req/s avg" if be["break_even_rps"] is not None else "not in range"
    return f"Break-even serverless vs {be['instance_name']} always-on: {at}"


def gpu_vs_cpu_sentence(g: dict[str, Any]) -> str:
    if g.get("missing"):
        return f"GPU vs CPU: {g['hint']}"
    return (f"GPU vs CPU per 1M: {g['cpu']['instance']} {usd(g['cpu']['cost_per_1m'])} vs "
            f"{g['gpu']['instance']} {usd(g['gpu']['cost_per_1m'])}: {g['cheaper'].upper()} is "
            f"{g['ratio']:.1f}x cheaper")


def spot_finetune_sentence(f: dict[str, Any]) -> str:
    return (f"Fine-tuning {f['job_hours']:g} h on {f['instance']}: on-demand {usd(f['on_demand_cost'])}, "
            f"spot {usd(f['spot_cost'])} expected ({f['expected_hours']:.2f} h, +{f['extra_hours']:.2f} h for "
            f"{f['expected_interruptions']:.2f} interruptions at {f['interruption_rate_per_hour']:.4f}/h: "
            f"{f['rate_note']}; checkpoint every {f['checkpoint_interval_h']:g} h)")
