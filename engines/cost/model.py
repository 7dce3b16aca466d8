"""Cost model: every figure from a measured throughput/latency or an explicit, visible assumption.

* Cost per 1M inferences on an instance = USD/hour / (inferences/s x 3600) x 10^6.
  The inferences/s come from the benchmark on *this machine*, priced as the
  instance this machine is taken to resemble (``host``: the smallest catalog
  instance of this CPU's architecture with a vCPU per timed thread, the CPU
  named as detected; an assumption shown with the figure and overridable),
  or from a user assumption
  ``INSTANCE=IPS`` (labelled *estimate*). No other projection is made.
* Serverless: each request is billed its measured latency (rounded up to the
  millisecond) at the per-second rate of the memory size, plus data processed
  (request + response bytes, 1 GB = 10^9 bytes), plus provisioned concurrency
  (memory GB x seconds x count) during the active hours.
* Always-on instances are billed 24 h/day for the instances the peak needs
  (ceil(peak req/s / inferences/s)); spot prices are *derived* (on-demand x
  (1 - average saving)) and meant for interruptible work, not serving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engines.errors import WorkbenchError

DEFAULT_CPU_HOST = "c7i.xlarge"
# GPU name (as in the benchmark's device string) -> (instance, GPUs on it): the instance priced for a GPU run.
GPU_INSTANCES = {"T4": "g4dn.xlarge", "A10G": "g5.xlarge", "L4": "g6.xlarge", "A100": "p4d.24xlarge",
                 "H100": "p5.48xlarge"}
BYTES_PER_GB = 1e9


@dataclass(frozen=True)
class TrafficProfile:
    avg_rps: float
    peak_rps: float
    hours_per_day: float = 24.0
    days: float = 30.0

    def __post_init__(self) -> None:
        for label, value in (("average req/s", self.avg_rps), ("peak req/s", self.peak_rps),
                             ("active hours per day", self.hours_per_day), ("days per month", self.days)):
            require_finite(value, label)
        if self.avg_rps < 0 or self.peak_rps < 0:
            raise WorkbenchError("request rates must be >= 0")
        if self.peak_rps < self.avg_rps:
            raise WorkbenchError(f"peak req/s ({self.peak_rps}) is below the average ({self.avg_rps}): "
                                 "give --peak-rps >= --rps")
        if not 0 < self.hours_per_day <= 24:
            raise WorkbenchError(f"active hours per day must be in (0, 24], got {self.hours_per_day}")
        if not 0 < self.days <= 31:
            raise WorkbenchError(f"days per month must be in (0, 31], got {self.days}")

    @property
    def requests(self) -> float:
        return self.avg_rps * 3600.0 * self.hours_per_day * self.days

    @property
    def active_seconds(self) -> float:
        return 3600.0 * self.hours_per_day * self.days

    def with_avg(self, avg_rps: float) -> "TrafficProfile":
        ratio = self.peak_rps / self.avg_rps if self.avg_rps > 0 else 1.0
        return TrafficProfile(avg_rps, avg_rps * ratio, self.hours_per_day, self.days)


@dataclass(frozen=True)
class Basis:
    """The throughput used for one instance and why."""

    instance: str
    ips: float
    kind: str        # measured (model-only benchmark) | served (a server run) | assumption
    note: str

    @property
    def label(self) -> str:
        return {"measured": "measured", "served": "served"}.get(self.kind, "estimate")


def require_finite(value: float, label: str) -> None:
    """NaN and infinity are not traffic figures: refuse them by name instead of printing $nan."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise WorkbenchError(f"{label} must be a finite number, got {value!r}")


def parse_assumptions(items: list[str] | None) -> dict[str, float]:
    """``["c7i.xlarge=1200", ...]`` -> {instance: inferences/s}."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            ips = float(value)
        except ValueError:
            ips = -1.0
        if not sep or not name.strip() or not math.isfinite(ips) or ips <= 0:
            raise WorkbenchError(f"bad throughput assumption {item!r}: write INSTANCE=INFERENCES_PER_S, "
                                 "e.g. c7i.xlarge=1200")
        out[name.strip()] = ips
    return out


def cost_per_million(usd_per_hour: float, ips: float) -> float:
    if ips <= 0:
        raise WorkbenchError("throughput must be > 0 to price inferences")
    return usd_per_hour / (ips * 3600.0) * 1e6


CPU_HOST_VENDOR = {"c7i": "Intel Xeon (Sapphire Rapids)", "c6i": "Intel Xeon (Ice Lake)",
                   "m7i": "Intel Xeon (Sapphire Rapids)", "c7g": "AWS Graviton3 (Arm)"}


def cpu_host(threads: int | None, catalog: Any, *, arch: str | None = None, cpu: str | None = None) -> tuple[str, str]:
    """(instance, note): the CPU instance a benchmark on ``threads`` threads of this CPU is priced as.

    The smallest compute-optimized catalog instance of this machine's architecture with at least ``threads``
    vCPUs (one vCPU per timed thread); the note names the CPU as detected and says where the two differ.
    """
    import platform

    from engines.measure.cpu_features import cpu_features

    feats = cpu_features()
    arch = arch or feats.arch or platform.machine()
    cpu = cpu or feats.model
    want = "arm64" if str(arch).lower() in ("aarch64", "arm64") else "x86_64"
    pool = []
    for inst in catalog.instances("ec2"):
        spec = catalog.specs(inst)
        if int(spec.get("gpus") or 0) or spec.get("accelerator") or spec.get("arch") != want:
            continue
        pool.append((inst.split(".")[0] not in ("c7i", "c7g"), int(spec.get("vcpu") or 0), inst))
    n = max(1, int(threads or 1))
    fits = sorted((p for p in pool if p[1] >= n), key=lambda p: (p[1], p[0]))
    if not fits:
        if not pool:
            return DEFAULT_CPU_HOST, (f"assumption: this machine's CPU ({cpu}) ~ {DEFAULT_CPU_HOST}; "
                                      "override with --host-instance")
        best = max(pool, key=lambda p: (p[1], not p[0]))
        return best[2], (f"estimate: measured on {n} threads of {cpu}, but the largest {want} instance in the "
                         f"catalog, {best[2]}, has {best[1]} vCPUs; override with --host-instance")
    vcpus, inst = fits[0][1], fits[0][2]
    vendor = CPU_HOST_VENDOR.get(inst.split(".")[0], inst)
    same = any(w in cpu for w in vendor.split()[:2]) if vendor else False
    diff = "" if same else f"; a different CPU ({vendor}): the figure is an approximation"
    spare = f", {vcpus - n} vCPU(s) left idle (priced as one replica)" if vcpus > n else ""
    return inst, (f"assumption: measured on {n} thread(s) of this machine's {cpu} ~ {inst} ({vcpus} vCPUs"
                  f"{spare}{diff}); override with --host-instance")


def host_instance(measured: Any, catalog: Any, override: str | None = None) -> tuple[str, int, str]:
    """(instance, replicas, note): the instance this machine's benchmark is priced as."""
    if override:
        catalog.instance_entry(override)
        return override, 1, f"assumption (yours): this machine ~ {override}"
    device = str(getattr(measured, "device", "cpu"))
    if device.startswith("cuda"):
        for gpu, inst in GPU_INSTANCES.items():
            if gpu.lower() in device.lower():
                gpus = int(catalog.specs(inst).get("gpus") or 1)
                return inst, gpus, (f"assumption: {gpu} measured here ~ one GPU of {inst}, one replica per GPU "
                                    f"(x{gpus}); override with --host-instance")
        raise WorkbenchError(f"no catalog instance for the GPU in {device!r}: give --host-instance or "
                             "--assume-throughput INSTANCE=IPS")
    inst, note = cpu_host(getattr(measured, "threads", None), catalog)
    return inst, 1, note


def throughput_bases(measured: Any, catalog: Any, assumptions: dict[str, float] | None = None,
                     host: str | None = None, served: dict[str, Any] | None = None) -> list[Basis]:
    """The model-only benchmark on the host instance, what a server run reached there (``served``, labelled
    "served"), and the user's assumptions."""
    assumptions = dict(assumptions or {})
    bases: list[Basis] = []
    if measured is not None:
        inst, replicas, note = host_instance(measured, catalog, host)
        if inst not in assumptions:
            where = "variant benchmark" if measured.source == "variant benchmark" else "benchmarked now"
            single = measured.latency_batch * 1000.0 / measured.request_latency_ms \
                if measured.request_latency_ms > 0 else 0.0
            batch_note = "" if measured.batch == 1 else f" (batch-1 calls: {single:.1f}/s)"
            bases.append(Basis(inst, measured.ips * replicas, "measured",
                               f"{measured.ips:.1f}/s at batch {measured.batch}{batch_note}, "
                               f"{measured.threads or '?'} threads on {measured.device} ({where}, model only); "
                               f"{note}"))
            for key, fig in sorted((served or {}).items()):
                bases.append(Basis(inst, fig.ips * replicas, "served",
                                   f"{fig.ips:.1f}/s reached by the server, batching {key} ({fig.describe()}); "
                                   f"priced on {inst} like the model benchmark"))
    for inst, ips in assumptions.items():
        catalog.instance_entry(inst)
        bases.append(Basis(inst, ips, "assumption", f"assumption (yours): {ips:g}/s on {inst}"))
    return bases


def instance_row(catalog: Any, basis: Basis, profile: TrafficProfile) -> dict[str, Any]:
    hourly = catalog.hourly(basis.instance)
    spot = catalog.spot_hourly(basis.instance)
    needed = max(1, math.ceil(profile.peak_rps / basis.ips)) if basis.ips > 0 else 1
    month_hours = 24.0 * profile.days
    row = {"instance": basis.instance, "gpu": catalog.is_gpu(basis.instance), "ips": basis.ips,
           "basis": basis.kind, "label": basis.label, "note": basis.note,
           "usd_per_hour": hourly.usd, "price_label": hourly.label, "price_basis": hourly.basis,
           "cost_per_1m": cost_per_million(hourly.usd, basis.ips), "instances_for_peak": needed,
           "monthly_always_on": needed * hourly.usd * month_hours, "utilization_avg":
           profile.avg_rps / (needed * basis.ips) if basis.ips > 0 else 0.0}
    if spot is not None:
        row.update(spot_usd_per_hour=spot.usd, spot_label=spot.label, spot_basis=spot.basis,
                   spot_cost_per_1m=cost_per_million(spot.usd, basis.ips),
                   monthly_spot=needed * spot.usd * month_hours)
    return row


def serverless_estimate(catalog: Any, latency_ms: float, memory_mb: int, request_bytes: int,
                        response_bytes: int, profile: TrafficProfile, *, provisioned: int = 0,
                        max_concurrency: int | None = None, latency_note: str = "") -> dict[str, Any]:
    if latency_ms <= 0:
        raise WorkbenchError("serverless cost needs a measured per-request latency > 0")
    rate = catalog.serverless_rate(memory_mb)
    data_rate = catalog.serverless_data_rate()
    billed_s = math.ceil(latency_ms) / 1000.0
    per_request = billed_s * rate.usd + (request_bytes + response_bytes) / BYTES_PER_GB * data_rate.usd
    reqs = profile.requests
    compute = reqs * billed_s * rate.usd
    data = reqs * (request_bytes + response_bytes) / BYTES_PER_GB * data_rate.usd
    pc_rate = catalog.provisioned_rate()
    prov = provisioned * (memory_mb / 1024.0) * profile.active_seconds * pc_rate.usd if provisioned else 0.0
    peak_conc = profile.peak_rps * latency_ms / 1000.0
    out = {"memory_mb": memory_mb, "latency_ms": latency_ms, "billed_ms": math.ceil(latency_ms),
           "latency_note": latency_note or "measured here (mean, batch 1); serverless vCPUs differ from this machine",
           "request_bytes": request_bytes, "response_bytes": response_bytes, "requests_per_month": reqs,
           "compute_monthly": compute, "data_monthly": data, "provisioned": provisioned,
           "provisioned_monthly": prov, "monthly": compute + data + prov, "per_request": per_request,
           "cost_per_1m": per_request * 1e6, "rate": rate.to_dict(), "data_rate": data_rate.to_dict(),
           "peak_concurrency": peak_conc, "max_concurrency": max_concurrency,
           "throttled_at_peak": bool(max_concurrency is not None and peak_conc > max_concurrency),
           "label": "verified rates" if rate.label == data_rate.label == "verified" else "includes unverified rates"}
    if provisioned:
        out["provisioned_rate"] = pc_rate.to_dict()
        if pc_rate.label != "verified":
            out["label"] = "includes unverified rates"
    return out


def break_even(catalog: Any, serverless: dict[str, Any], row: dict[str, Any], profile: TrafficProfile,
               points: int = 40, max_rps: float | None = None) -> dict[str, Any]:
    """Monthly cost vs average req/s: serverless, always-on on-demand, always-on spot (derived)."""
    per_req = float(serverless["per_request"])
    seconds = profile.active_seconds
    prov = float(serverless["provisioned_monthly"])
    month_hours = 24.0 * profile.days
    one = row["usd_per_hour"] * month_hours
    be = (one - prov) / (per_req * seconds) if per_req > 0 and one > prov else None
    top = max_rps or max(2.0 * (be or 0.0), 1.5 * profile.avg_rps, 1.0)
    xs = [top * i / (points - 1) for i in range(points)]
    peak_ratio = profile.peak_rps / profile.avg_rps if profile.avg_rps > 0 else 1.0

    def n_for(x: float) -> int:
        return max(1, math.ceil(x * peak_ratio / row["ips"]))

    spot = row.get("spot_usd_per_hour")
    return {"rps": xs, "serverless": [prov + x * seconds * per_req for x in xs],
            "instance": [n_for(x) * row["usd_per_hour"] * month_hours for x in xs],
            "spot": None if spot is None else [n_for(x) * spot * month_hours for x in xs],
            "instance_name": row["instance"], "break_even_rps": be,
            "note": (f"serverless {serverless['memory_mb']} MB vs {row['instance']} always-on "
                     f"({row['label']} throughput); spot is derived and for interruptible work, not serving")}


def gpu_vs_cpu(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Cheapest CPU and GPU rows per 1M inferences, with what is missing to compare."""
    cpu = [r for r in rows if not r["gpu"]]
    gpu = [r for r in rows if r["gpu"]]
    best = {k: (min(v, key=lambda r: r["cost_per_1m"]) if v else None) for k, v in (("cpu", cpu), ("gpu", gpu))}
    missing = [k for k, v in best.items() if v is None]
    out: dict[str, Any] = {"cpu": best["cpu"], "gpu": best["gpu"], "missing": missing}
    if not missing:
        c, g = best["cpu"]["cost_per_1m"], best["gpu"]["cost_per_1m"]
        out["cheaper"] = "gpu" if g < c else "cpu"
        out["ratio"] = max(c, g) / min(c, g) if min(c, g) > 0 else None
    else:
        out["hint"] = (f"no {' or '.join(missing).upper()} figure: benchmark the variant on that device or give "
                       f"--assume-throughput INSTANCE=IPS (e.g. g4dn.xlarge=5000)")
    return out


# -- spot for fine-tuning -------------------------------------------------------
_BANDS = {"<5%": 0.025, "5-10%": 0.075, "10-15%": 0.125, "15-20%": 0.175, ">20%": 0.25}


def interruption_rate_from_band(band: str) -> float:
    """Per-hour rate from a monthly interruption band (its midpoint; >20% read as 25%)."""
    frac = _BANDS.get(band.replace("–", "-"))
    if frac is None:
        raise WorkbenchError(f"unknown interruption band {band!r}; give --interruption-rate PER_HOUR")
    return -math.log(1.0 - frac) / 730.0


def _segment_hours(work: float, ckpt: float, restart: float, rate: float) -> float:
    """Expected wall time to finish ``work`` + ``ckpt`` hours with exponential interruptions (Daly)."""
    if rate <= 0:
        return work + ckpt
    m = 1.0 / rate
    return m * math.exp(restart / m) * (math.exp((work + ckpt) / m) - 1.0)


def spot_finetune(catalog: Any, instance: str, job_hours: float, *, interruption_rate: float | None = None,
                  checkpoint_interval_h: float = 1.0, checkpoint_minutes: float = 1.0,
                  restart_minutes: float = 5.0) -> dict[str, Any]:
    for label, value in (("fine-tuning job hours", job_hours), ("checkpoint interval", checkpoint_interval_h),
                         ("checkpoint minutes", checkpoint_minutes), ("restart minutes", restart_minutes)):
        require_finite(value, label)
    if interruption_rate is not None:
        require_finite(interruption_rate, "interruption rate")
    if job_hours <= 0 or checkpoint_interval_h <= 0:
        raise WorkbenchError("job hours and checkpoint interval must be > 0")
    od = catalog.hourly(instance)
    spot = catalog.spot_hourly(instance)
    if spot is None:
        raise WorkbenchError(f"no spot saving known for {instance}: pick an EC2 instance from the catalog")
    info = catalog.spot_info(instance)
    band = str(info.data.get("interruption_band", "")) if info else ""
    if interruption_rate is None:
        interruption_rate = interruption_rate_from_band(band)
        rate_note = f"assumption: band {band} read as its midpoint per month, as a Poisson rate per hour"
    else:
        rate_note = "yours"
    if interruption_rate < 0:
        raise WorkbenchError("interruption rate must be >= 0")
    ckpt, restart = checkpoint_minutes / 60.0, restart_minutes / 60.0
    full = int(job_hours // checkpoint_interval_h)
    rest = job_hours - full * checkpoint_interval_h
    expected = full * _segment_hours(checkpoint_interval_h, ckpt, restart, interruption_rate)
    if rest > 1e-9:
        expected += _segment_hours(rest, 0.0, restart, interruption_rate)
    od_cost = job_hours * od.usd
    spot_cost = expected * spot.usd
    return {"instance": instance, "job_hours": job_hours, "interruption_rate_per_hour": interruption_rate,
            "rate_note": rate_note, "interruption_band": band, "checkpoint_interval_h": checkpoint_interval_h,
            "checkpoint_minutes": checkpoint_minutes, "restart_minutes": restart_minutes,
            "expected_hours": expected, "extra_hours": expected - job_hours,
            "expected_interruptions": expected * interruption_rate,
            "on_demand_cost": od_cost, "spot_cost": spot_cost, "saving": 1.0 - spot_cost / od_cost if od_cost else 0.0,
            "on_demand_price": od.to_dict(), "spot_price": spot.to_dict(), "label": "estimate (derived spot price)"}
