"""Monitoring a deployed SageMaker endpoint: CloudWatch metrics and the cost so far, computed from usage.

Metrics come from ``cloudwatch.get_metric_data`` (namespace ``AWS/SageMaker``,
dimensions ``EndpointName`` + ``VariantName``; CPU/memory utilization from
``/aws/sagemaker/Endpoints`` where SageMaker publishes them). ``ModelLatency``
and ``OverheadLatency`` are in microseconds; ``ModelSetupTime`` (serverless
cold starts) too.

Cost so far:

* serverless: invocations x billed duration x the memory's per-second rate.
  CloudWatch gives the sum of ``ModelLatency`` per period, not each request, so
  the billed duration is the mean model latency rounded up to the millisecond
  (an approximation, stated with the figure); data processed is added when the
  deployment record carries the request/response sizes.
* real-time: instance-hours (current instance count x hours the endpoint ran
  inside the window) x the catalog's hourly rate.

The pre-deploy estimate comes from the workbench's deployment record
(``deployments_dir()/NAME.json``), read only.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from engines.errors import WorkbenchError

NAMESPACE = "AWS/SageMaker"
UTIL_NAMESPACE = "/aws/sagemaker/Endpoints"
# metric -> (namespace, statistic summed over the window)
METRICS: dict[str, tuple[str, str]] = {
    "Invocations": (NAMESPACE, "Sum"),
    "ModelLatency": (NAMESPACE, "Sum"),
    "OverheadLatency": (NAMESPACE, "Sum"),
    "Invocation4XXErrors": (NAMESPACE, "Sum"),
    "Invocation5XXErrors": (NAMESPACE, "Sum"),
    "ModelSetupTime": (NAMESPACE, "Average"),
    "CPUUtilization": (UTIL_NAMESPACE, "Average"),
    "MemoryUtilization": (UTIL_NAMESPACE, "Average"),
}
_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> _dt.timedelta:
    """``30m``, ``1h``, ``2d`` -> timedelta (1 minute .. 15 days, CloudWatch's 1-minute data retention)."""
    m = _SINCE_RE.match(text or "")
    if not m:
        raise WorkbenchError(f"bad --since {text!r}: write a number and a unit s/m/h/d, e.g. 1h or 30m")
    seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if not 60 <= seconds <= 15 * 86400:
        raise WorkbenchError(f"--since {text!r} is out of range: use 1m .. 15d")
    return _dt.timedelta(seconds=seconds)


@dataclass
class MetricSeries:
    name: str
    namespace: str
    stat: str
    timestamps: list[str]
    values: list[float]

    @property
    def total(self) -> float:
        return float(sum(self.values))

    @property
    def mean(self) -> float | None:
        return float(sum(self.values) / len(self.values)) if self.values else None


@dataclass
class UsageCost:
    usd: float
    basis: str
    label: str                     # verified | unverified | n/a
    notes: list[str] = field(default_factory=list)


@dataclass
class MonitorReport:
    endpoint: str
    region: str
    status: str
    mode: str                      # serverless | realtime
    variant: str
    start: str
    end: str
    period_s: int
    config: dict[str, Any]
    metrics: dict[str, MetricSeries]
    summary: dict[str, Any]
    cost: UsageCost
    estimate: dict[str, Any] | None
    notes: list[str]
    # several production variants (traffic split): per variant name -> weight, share, config, summary, cost
    variants: dict[str, Any] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return any(s.values for s in self.metrics.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["has_data"] = self.has_data
        return d


def _period(window: _dt.timedelta) -> int:
    """A period keeping the query under 1,440 points per metric, multiple of 60 s."""
    return max(60, int(math.ceil(window.total_seconds() / 1440 / 60)) * 60)


def describe(sagemaker: Any, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from engines.deploy.aws import error_code, error_text

    try:
        ep = sagemaker.describe_endpoint(EndpointName=name)
    except Exception as exc:
        code, text = error_code(exc), error_text(exc)
        if code in ("ValidationException", "ResourceNotFound") or "not found" in text.lower() \
                or "could not find" in text.lower():
            raise WorkbenchError(f"no endpoint {name!r} in this region: check the name (workbench deploy lists "
                                 "what it created) and --region") from None
        raise WorkbenchError(f"cannot describe endpoint {name!r}: {text}") from None
    try:
        cfg = sagemaker.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    except Exception as exc:
        raise WorkbenchError(f"cannot describe the config of endpoint {name!r}: {error_text(exc)}") from None
    return ep, cfg


def fetch_metrics(cloudwatch: Any, name: str, variant: str, start: _dt.datetime, end: _dt.datetime,
                  period: int) -> dict[str, MetricSeries]:
    from engines.deploy.aws import error_text

    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": variant}]
    ids = {f"m{i}": metric for i, metric in enumerate(METRICS)}
    queries = [{"Id": qid, "ReturnData": True,
                "MetricStat": {"Metric": {"Namespace": METRICS[m][0], "MetricName": m, "Dimensions": dims},
                               "Period": period, "Stat": METRICS[m][1]}} for qid, m in ids.items()]
    found: dict[str, dict[str, float]] = {m: {} for m in METRICS}
    kw: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
                          "ScanBy": "TimestampAscending"}
    try:
        for _ in range(50):  # bounded paging
            resp = cloudwatch.get_metric_data(**kw)
            for res in resp.get("MetricDataResults", []):
                metric = ids.get(res.get("Id", ""))
                if metric is None:
                    continue
                for ts, v in zip(res.get("Timestamps", []), res.get("Values", [])):
                    found[metric][ts.isoformat() if hasattr(ts, "isoformat") else str(ts)] = float(v)
            token = resp.get("NextToken")
            if not token:
                break
            kw["NextToken"] = token
    except Exception as exc:
        raise WorkbenchError(f"CloudWatch get_metric_data failed for {name!r}: {error_text(exc)}") from None
    out = {}
    for m, points in found.items():
        ts = sorted(points)
        out[m] = MetricSeries(m, METRICS[m][0], METRICS[m][1], ts, [points[t] for t in ts])
    return out


def summarize(metrics: dict[str, MetricSeries]) -> dict[str, Any]:
    inv = metrics["Invocations"].total
    per = (lambda s: s.total / inv / 1000.0 if inv else None)  # microseconds summed -> ms per invocation
    errors4, errors5 = metrics["Invocation4XXErrors"].total, metrics["Invocation5XXErrors"].total
    setup = metrics["ModelSetupTime"]
    return {"invocations": inv, "model_latency_ms_mean": per(metrics["ModelLatency"]),
            "overhead_latency_ms_mean": per(metrics["OverheadLatency"]),
            "errors_4xx": errors4, "errors_5xx": errors5,
            "error_rate": (errors4 + errors5) / inv if inv else None,
            "cold_starts_periods": len(setup.values),
            "model_setup_ms_max": max(setup.values) / 1000.0 if setup.values else None,
            "cpu_utilization_mean": metrics["CPUUtilization"].mean,
            "memory_utilization_mean": metrics["MemoryUtilization"].mean}


def usage_cost(catalog: Any, mode: str, config: dict[str, Any], summary: dict[str, Any], hours: float,
               record: dict[str, Any] | None) -> UsageCost:
    if mode == "serverless":
        rate = catalog.serverless_rate(int(config["memory_mb"]))
        inv = summary["invocations"]
        if not inv:
            return UsageCost(0.0, "no invocations in the window", rate.label,
                             ["no data points: cost 0 for the window (idle serverless endpoints cost nothing "
                              "unless provisioned concurrency is set)"])
        mean_ms = summary["model_latency_ms_mean"] or 0.0
        billed_ms = max(1, math.ceil(mean_ms))
        usd = inv * billed_ms / 1000.0 * rate.usd
        notes = [f"billed duration ~ mean ModelLatency {mean_ms:.3f} ms rounded up to {billed_ms} ms "
                 "(CloudWatch has no per-request figure)"]
        labels = {rate.label}
        est = (record or {}).get("estimate") or {}
        req_b, resp_b = est.get("request_bytes"), est.get("response_bytes")
        if req_b is not None and resp_b is not None:
            data = catalog.serverless_data_rate()
            usd += inv * (req_b + resp_b) / 1e9 * data.usd
            labels.add(data.label)
            notes.append(f"data: {req_b} B in + {resp_b} B out per request (from the deployment record) at "
                         f"{data.usd} USD/GB")
        else:
            notes.append("data processed not included (sizes unknown: no workbench deployment record)")
        if config.get("provisioned"):
            notes.append(f"provisioned concurrency {config['provisioned']} not included (no checked rate)")
        label = "verified" if labels == {"verified"} else "unverified"
        return UsageCost(usd, f"{inv:g} invocations x {billed_ms} ms x {rate.basis}", label, notes)
    hourly = catalog.hourly(config["instance_type"])
    count = int(config.get("instance_count") or 1)
    usd = count * hours * hourly.usd
    return UsageCost(usd, f"{count} x {config['instance_type']} x {hours:.3f} h x {hourly.basis}", hourly.label,
                     ["instance-hours are billed whether or not requests arrive"])


def read_record(name: str) -> dict[str, Any] | None:
    from engines.deploy.sagemaker_ops import deployments_dir

    path = deployments_dir() / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _config_of(ep: dict[str, Any], cfg: dict[str, Any], index: int = 0) -> tuple[str, str, dict[str, Any]]:
    variants = cfg.get("ProductionVariants") or []
    if not variants:
        raise WorkbenchError(f"endpoint {ep.get('EndpointName')!r} has no production variant")
    v = variants[index]
    live = next((x for x in ep.get("ProductionVariants") or [] if x.get("VariantName") == v["VariantName"]), {})
    if v.get("ServerlessConfig"):
        sc = v["ServerlessConfig"]
        return "serverless", v["VariantName"], {"memory_mb": sc.get("MemorySizeInMB"),
                                                 "max_concurrency": sc.get("MaxConcurrency"),
                                                 "provisioned": sc.get("ProvisionedConcurrency") or 0}
    count = live.get("CurrentInstanceCount") or v.get("InitialInstanceCount") or 1
    return "realtime", v["VariantName"], {"instance_type": v.get("InstanceType"), "instance_count": count}


def monitor_endpoint(name: str, *, cloudwatch: Any, sagemaker: Any, region: str, since: str = "1h",
                     catalog: Any = None, now: _dt.datetime | None = None) -> MonitorReport:
    from engines.cost.prices import load_catalog

    catalog = catalog or load_catalog()
    window = parse_since(since)
    end = (now or _dt.datetime.now(_dt.timezone.utc)).replace(microsecond=0)
    start = end - window
    ep, cfg = describe(sagemaker, name)
    mode, variant, config = _config_of(ep, cfg)
    created = ep.get("CreationTime")
    run_start = max(start, created) if isinstance(created, _dt.datetime) else start
    hours = max(0.0, (end - run_start).total_seconds() / 3600.0)
    period = _period(window)
    record = read_record(name)
    notes: list[str] = []
    n_variants = len(cfg.get("ProductionVariants") or [])
    per_variant: dict[str, Any] = {}
    if n_variants > 1:
        live = {v["VariantName"]: v for v in ep.get("ProductionVariants") or []}
        all_metrics = []
        for i in range(n_variants):
            vmode, vname, vconfig = _config_of(ep, cfg, i)
            vm = fetch_metrics(cloudwatch, name, vname, start, end, period)
            all_metrics.append(vm)
            vsum = summarize(vm)
            weight = live.get(vname, {}).get("CurrentWeight",
                                             cfg["ProductionVariants"][i].get("InitialVariantWeight", 1.0))
            per_variant[vname] = {"mode": vmode, "config": vconfig, "weight": float(weight or 0.0),
                                  "summary": vsum, "cost": asdict(usage_cost(catalog, vmode, vconfig, vsum, hours,
                                                                             None))}
        total_w = sum(v["weight"] for v in per_variant.values()) or 1.0
        inv_total = sum(v["summary"]["invocations"] for v in per_variant.values())
        for v in per_variant.values():
            v["share"] = v["weight"] / total_w
            v["traffic_share"] = v["summary"]["invocations"] / inv_total if inv_total else None
        metrics = merge_metrics(all_metrics)
        variant = ",".join(per_variant)
        summary = summarize(metrics)
        costs = [v["cost"] for v in per_variant.values()]
        labels = {c["label"] for c in costs}
        cost = UsageCost(sum(c["usd"] for c in costs), " + ".join(f"{k}: {v['cost']['basis']}"
                                                                   for k, v in per_variant.items()),
                         "verified" if labels == {"verified"} else "unverified",
                         ["sum over the production variants"])
    else:
        metrics = fetch_metrics(cloudwatch, name, variant, start, end, period)
        summary = summarize(metrics)
        cost = usage_cost(catalog, mode, config, summary, hours, record)
    if not any(s.values for s in metrics.values()):
        notes.append(f"CloudWatch returned no data points for {name} ({variant}) since {start.isoformat()}: "
                     "no traffic yet, or metrics not published yet (they arrive within minutes)")
    estimate = None
    if record and record.get("estimate"):
        est = record["estimate"]
        monthly = est.get("monthly")
        estimate = {"summary": est.get("summary"), "monthly": monthly,
                    "window_share": (monthly * hours / (24.0 * 30.0)) if monthly is not None else None,
                    "note": "pre-deploy estimate for its traffic profile, pro-rated to the hours in the window"}
    else:
        notes.append("no workbench deployment record: no pre-deploy estimate to compare")
    return MonitorReport(name, region, str(ep.get("EndpointStatus")), mode, variant, start.isoformat(),
                         end.isoformat(), period, config, metrics, summary, cost, estimate, notes, per_variant)


def merge_metrics(per_variant: list[dict[str, MetricSeries]]) -> dict[str, MetricSeries]:
    """The endpoint's series from its variants': sums add up per timestamp, averages are averaged."""
    out = {}
    for m, (ns, stat) in METRICS.items():
        points: dict[str, list[float]] = {}
        for metrics in per_variant:
            for t, v in zip(metrics[m].timestamps, metrics[m].values):
                points.setdefault(t, []).append(v)
        ts = sorted(points)
        agg = (lambda xs: float(sum(xs))) if stat == "Sum" else (lambda xs: float(sum(xs) / len(xs)))
        out[m] = MetricSeries(m, ns, stat, ts, [agg(points[t]) for t in ts])
    return out


def cloudwatch_client(region: str, endpoint_url: str | None = None, session: Any = None) -> Any:
    from botocore.config import Config

    from engines.deploy.aws import make_session

    session = session or make_session(region)
    kw: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kw["endpoint_url"] = endpoint_url
    return session.client("cloudwatch", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                        connect_timeout=10, read_timeout=30), **kw)
