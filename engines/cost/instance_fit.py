"""Right-sizing an instance's vCPUs and GPU against the utilization the workbench measured.

The figures are the ones recorded while the variant's benchmark ran
(``metrics.run_metrics`` for the batch-1 timing, ``metrics.throughput.run_metrics``
for the batch-N throughput; :class:`engines.measure.metrics.MetricsRecorder`):
the mean CPU use over all cores of this machine, the core count, the threads
timed and, where NVML gave a sample, the GPU's utilization. From them:

* busy cores = mean CPU % x cores (machine-wide, so other processes count too:
  an upper bound for the model), at the measured rate;
* at peak traffic each of the ``count`` instances runs at peak / (count x rate)
  of that rate, so it keeps busy cores x that share busy: its CPU use is that
  over its vCPUs (a GPU's: measured GPU % x the share);
* the fit is the cheapest CPU instance of the same service and architecture in
  the price catalog whose vCPUs hold the busy cores at peak / ``TARGET_USE``.

No utilization recorded -> the fit says so and claims nothing; a GPU instance
without an NVML sample from a GPU run -> labelled unverified.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

TARGET_USE = 0.7       # the fit keeps at most this share of its vCPUs busy at peak
LOW_USE = 0.3          # below this a GPU is called under-used
HOW = "benchmark the variant (workbench cost VARIANT, or r in Optimize): CPU and GPU use are recorded while it runs"


@dataclass
class Utilization:
    """What was measured while the model ran at ``rate_ips``."""

    rate_ips: float
    cpu_pct: float | None          # mean over all cores of this machine, 0..100
    cores: int | None
    threads: int | None
    gpu_util_pct: float | None
    gpu_name: str | None
    source: str                    # e.g. "batch-1 timing"

    @property
    def busy_cores(self) -> float | None:
        if self.cpu_pct is None or not self.cores:
            return None
        return self.cpu_pct / 100.0 * self.cores


@dataclass
class InstanceFit:
    instance: str
    vcpus: int | None
    gpus: int
    count: int
    status: str                     # oversized | fits | busy | unmeasured | unverified
    line: str
    cpu_use_pct: float | None = None
    gpu_use_pct: float | None = None
    fit_instance: str | None = None
    fit_vcpus: int | None = None
    saving_month: float | None = None
    verified: bool = False          # True only when the utilization behind it was measured on this kind of device
    notes: list[str] = field(default_factory=list)

    @property
    def warning(self) -> bool:
        return self.status in ("oversized", "busy")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warning"] = self.warning
        return d


def utilization_from_metrics(metrics: dict[str, Any] | None, *, batch1: bool = True,
                             measured: Any = None) -> Utilization | None:
    """The run behind the batch-1 rate (``batch1``) or behind the batch-N throughput, or None."""
    m = metrics or {}
    tp = m.get("throughput") or {}
    if batch1:
        run = m.get("run_metrics") or {}
        mean = (m.get("latency_ms") or {}).get("mean")
        rate = int(m.get("latency_batch") or 1) * 1000.0 / float(mean) if mean else None
        source = "the batch-1 timing"
    else:
        run = tp.get("run_metrics") or m.get("run_metrics") or {}
        rate = tp.get("ips")
        source = f"the batch-{tp.get('batch') or '?'} throughput run"
    if not run.get("samples") or not rate:
        return None
    return Utilization(float(rate), run.get("cpu_mean"), run.get("cores"),
                       m.get("threads") or getattr(measured, "threads", None), run.get("gpu_util_mean"),
                       run.get("gpu"), source)


def _month_hours(profile: Any) -> float:
    return 24.0 * float(getattr(profile, "days", 30.0))


def _candidates(catalog: Any, instance: str) -> list[tuple[float, int, str]]:
    """(usd/h, vCPUs, name) of priced CPU instances of the same service and architecture."""
    service = "sagemaker_realtime" if instance.startswith("ml.") else "ec2"
    arch = catalog.specs(instance).get("arch")
    out = []
    for name in catalog.instances(service):
        try:
            spec, price = catalog.specs(name), catalog.hourly(name).usd
        except Exception:
            continue
        if int(spec.get("gpus") or 0) or spec.get("accelerator") or spec.get("arch") != arch or not spec.get("vcpu"):
            continue
        out.append((float(price), int(spec["vcpu"]), name))
    return sorted(out)


def fit_instance(instance: str, util: Utilization | None, catalog: Any, profile: Any, *, count: int = 1,
                 rate_ips: float | None = None, target_use: float = TARGET_USE) -> InstanceFit:
    """CPU/GPU use of ``count`` x ``instance`` at the profile's peak, and the cheapest CPU instance that fits."""
    spec = catalog.specs(instance)
    vcpus = int(spec.get("vcpu") or 0) or None
    gpus = int(spec.get("gpus") or 0)
    rate = rate_ips or (util.rate_ips if util else None)
    if rate:   # enough instances for the peak at the measured rate (autoscaling adds them)
        count = max(int(count), math.ceil(profile.peak_rps / rate)) if profile.peak_rps > 0 else max(1, int(count))
    what = f"{instance} ({vcpus or '?'} vCPU" + (f", {gpus} GPU)" if gpus else ")")
    if gpus:
        return _gpu_fit(instance, what, vcpus, gpus, count, util, profile, rate)
    busy = util.busy_cores if util else None
    if util is None or busy is None or not rate:
        return InstanceFit(instance, vcpus, 0, count, "unmeasured",
                           f"{what}: no CPU use measured for this variant, so no fit is claimed: {HOW}")
    share = min(1.0, profile.peak_rps / (count * rate)) if rate else 1.0
    need = busy * share                                   # cores each instance keeps busy at peak
    use = need / vcpus if vcpus else None
    notes = [f"CPU use from {util.source}: {util.cpu_pct:.0f} % of {util.cores} cores ({busy:.2f} busy) at "
             f"{rate:,.0f}/s, machine-wide (other processes count too: an upper bound), scaled to the peak "
             f"{profile.peak_rps:g} req/s over {count} instance(s)"]
    base = InstanceFit(instance, vcpus, 0, count, "fits", "", cpu_use_pct=None if use is None else use * 100,
                       verified=True, notes=notes)
    pct = _pct(use)
    want = max(1, math.ceil(need / target_use - 1e-9))
    price = catalog.hourly(instance).usd
    # a right-size is a smaller instance (fewer vCPUs) that still holds the busy cores at peak / target_use
    cheaper = [c for c in _candidates(catalog, instance) if want <= c[1] < (vcpus or 0) and c[0] < price]
    if cheaper:
        usd, v, name = cheaper[0]
        saving = (price - usd) * count * _month_hours(profile)
        base.status, base.fit_instance, base.fit_vcpus, base.saving_month = "oversized", name, v, saving
        unverified = [n for n in (instance, name) if not catalog.instance_entry(n).verified]
        base.line = (f"{what} at {pct} measured CPU use at peak: {name} ({v} vCPU) fits, saves "
                     f"${saving:,.2f}/month ({count} instance(s))"
                     + (f"; an estimate: the price of {' and '.join(unverified)} is unverified" if unverified else ""))
        if util.threads and v < util.threads:
            notes.append(f"{name} has fewer vCPUs than the {util.threads} threads timed: each request runs slower; "
                         f"re-measure with --threads {v}")
        return base
    if use is not None and use > 0.85:
        base.status = "busy"
        base.line = f"{what} at {pct} measured CPU use at peak: little headroom; more instances or more vCPUs"
    else:
        smaller = [c for c in _candidates(catalog, instance) if c[1] < (vcpus or 0)]
        tail = "" if smaller or (use or 0) >= LOW_USE else ": no smaller CPU instance is priced in the catalog"
        base.line = f"{what} at {pct} measured CPU use at peak: fits{tail}"
    return base


def _pct(use: float | None) -> str:
    if use is None:
        return "? %"
    return "<0.1 %" if use < 0.001 else f"{use * 100:.1f} %" if use < 0.1 else f"{use * 100:.0f} %"


def _gpu_fit(instance: str, what: str, vcpus: int | None, gpus: int, count: int, util: Utilization | None,
             profile: Any, rate: float | None) -> InstanceFit:
    if util is None or util.gpu_util_pct is None or not rate:
        return InstanceFit(instance, vcpus, gpus, count, "unverified",
                           f"{what}: unverified: no GPU utilization measured (no NVML sample from a GPU run); "
                           "benchmark the variant on an NVIDIA GPU to right-size it", verified=False)
    share = min(1.0, profile.peak_rps / (count * rate))
    use = util.gpu_util_pct * share
    fit = InstanceFit(instance, vcpus, gpus, count, "fits", "", gpu_use_pct=use, verified=True,
                      notes=[f"GPU use from {util.source} on {util.gpu_name or 'the GPU'}: {util.gpu_util_pct:.0f} % "
                             f"at {rate:,.0f}/s, scaled to the peak over {count} instance(s)"])
    if use < LOW_USE * 100:
        fit.status = "oversized"
        fit.line = (f"{what} at {use:.0f} % measured GPU use at peak: batch more, share the GPU between models, "
                    "or price a CPU instance (its own figure needed)")
    else:
        fit.line = f"{what} at {use:.0f} % measured GPU use at peak: fits"
    return fit


def fit_for_target(target: Any, measured: Any, instance: str, catalog: Any, profile: Any, *, count: int = 1,
                   batch1: bool = True) -> InstanceFit:
    """Right-size ``instance`` from a variant's stored utilization (batch 1: each invocation alone)."""
    from engines.errors import WorkbenchError

    try:
        catalog.specs(instance)
    except WorkbenchError:
        return InstanceFit(instance, None, 0, count, "unmeasured",
                           f"{instance}: not in the price catalog, so no fit: add it to prices.json")
    util = utilization_from_metrics(target_metrics(target, measured), batch1=batch1, measured=measured)
    return fit_instance(instance, util, catalog, profile, count=count)


def target_metrics(target: Any, measured: Any) -> dict[str, Any]:
    """The variant's stored metrics; for a model file benchmarked now, the figures that run recorded."""
    metrics = dict(getattr(target, "metrics", None) or {})
    if metrics.get("run_metrics") or measured is None:
        return metrics
    extra = getattr(measured, "extra", None) or {}
    if extra.get("run_metrics"):
        metrics.update(run_metrics=extra["run_metrics"], latency_ms=measured.latency_ms,
                       latency_batch=measured.latency_batch, threads=measured.threads,
                       throughput={"ips": measured.ips, "batch": measured.batch,
                                   "run_metrics": extra.get("throughput_run_metrics")})
    return metrics

