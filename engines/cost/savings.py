"""Combined savings per model: baseline -> optimized variant -> right-sized -> serverless or spot.

Every step is a monthly cost for the same traffic profile, computed from the
user's own stored figures (the variants' benchmarks, their request/response
sizes, peak RSS, and any ``--assume-throughput`` figures), priced with the
catalog. Nothing is invented: a step with no figure behind it is kept equal to
the previous one and says what is missing.

1. **baseline**: the baseline variant, always on, on the instance its benchmark
   is priced as (instances needed at peak x $/h x hours).
2. **optimized**: the chosen variant on the same instance.
3. **right-sized**: the cheapest always-on instance the optimized variant has a
   throughput figure for (measured, or your ``--assume-throughput``).
4. **serverless** at the right-sized memory (peak RSS x 1.5), and **spot**
   (derived, interruptible: for batch work, not real-time serving) for the
   right-sized instance. The summary ends at the cheaper of the serverless
   and right-sized figures; spot is shown beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engines.errors import WorkbenchError


@dataclass
class SavingsStep:
    step: str
    what: str
    monthly: float
    vs_previous: float | None     # share saved against the previous step (0.25 = 25 % cheaper)
    vs_baseline: float | None
    basis: str
    label: str = ""


@dataclass
class Savings:
    model: str
    baseline: str
    optimized: str
    steps: list[SavingsStep]
    total_saving: float | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(prev: float, now: float) -> float | None:
    return (prev - now) / prev if prev > 0 else None


def _host_row(report: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in report.get("instances") or [] if r.get("basis") == "measured"]
    if not rows:
        raise WorkbenchError(f"{report['target']['name']} has no measured instance row: benchmark it first")
    return rows[0]


def combined_savings(baseline: dict[str, Any], optimized: dict[str, Any], *, catalog: Any,
                     rightsize: dict[str, Any] | None = None, profile: Any = None) -> Savings:
    """``baseline`` / ``optimized``: :func:`engines.cost.report.project_costs` reports for the same profile."""
    from engines.cost.model import TrafficProfile, serverless_estimate

    if baseline["profile"] != optimized["profile"]:
        raise WorkbenchError("baseline and optimized reports were priced for different traffic profiles")
    notes: list[str] = []
    b_row, o_row = _host_row(baseline), _host_row(optimized)
    steps: list[SavingsStep] = []

    def add(step: str, what: str, monthly: float, basis: str, label: str = "") -> None:
        prev = steps[-1].monthly if steps else None
        base = steps[0].monthly if steps else None
        steps.append(SavingsStep(step, what, float(monthly), None if prev is None else _share(prev, monthly),
                                 None if base is None else _share(base, monthly), basis, label))

    def inst_basis(row: dict[str, Any]) -> str:
        return (f"{row['instances_for_peak']} x {row['instance']} at {row['ips']:.1f} inf/s ({row['basis']}), "
                f"{row['usd_per_hour']:.4f} USD/h {row['price_label']}")

    add("baseline", f"{baseline['target']['name']} on {b_row['instance']}", b_row["monthly_always_on"],
        inst_basis(b_row), b_row["price_label"])
    add("optimized", f"{optimized['target']['name']} on {o_row['instance']}", o_row["monthly_always_on"],
        inst_basis(o_row), o_row["price_label"])
    rows = [r for r in optimized.get("instances") or [] if r.get("monthly_always_on") is not None]
    best = min(rows, key=lambda r: r["monthly_always_on"])
    if len(rows) == 1:
        notes.append("right-sized = the measured instance: no other instance has a throughput figure "
                     "(give --assume-throughput INSTANCE=IPS with your own figure)")
    add("right-sized", f"{optimized['target']['name']} on {best['instance']}", best["monthly_always_on"],
        inst_basis(best), best["price_label"])
    s = optimized.get("serverless")
    final = steps[-1].monthly
    if s is not None:
        mem = int(s["memory_mb"])
        fit = (rightsize or {}).get("fit_mb")
        if fit and fit < mem:
            mem = int(fit)
        p = profile or TrafficProfile(**{k: optimized["profile"][k] for k in
                                         ("avg_rps", "peak_rps", "hours_per_day", "days")})
        est = serverless_estimate(catalog, float(s["latency_ms"]), mem, int(s["request_bytes"]),
                                  int(s["response_bytes"]), p, provisioned=int(s.get("provisioned") or 0))
        why = f"fit from peak RSS (asked {s['memory_mb']} MB)" if mem != int(s["memory_mb"]) else "as asked"
        add("serverless", f"serverless {mem} MB ({why})", est["monthly"],
            f"{est['requests_per_month']:,.0f} requests x {est['billed_ms']} ms billed + data; {est['label']}",
            est["label"])
        if steps[-1].monthly > steps[-2].monthly:
            notes.append("serverless costs more than the right-sized instance at this traffic: the summary "
                         "stops at the right-sized instance")
        final = min(steps[-1].monthly, steps[-2].monthly)
    else:
        notes.append("serverless: not priced (no request/response sizes: the variant is not ONNX)")
    if best.get("monthly_spot") is not None:
        add("spot", f"{best['instance']} on spot (derived; interruptible, for batch work)", best["monthly_spot"],
            f"{best['instances_for_peak']} x {best['spot_usd_per_hour']:.4f} USD/h ({best['spot_basis']})",
            best.get("spot_label", "derived"))
        steps[-1].vs_previous = _share(final, best["monthly_spot"])
    base = steps[0].monthly
    total = _share(base, final) if base > 0 else None
    return Savings(optimized["target"].get("model") or optimized["target"]["name"], baseline["target"]["name"],
                   optimized["target"]["name"], steps, total, notes)


def savings_lines(s: dict[str, Any]) -> list[str]:
    from engines.cost.report import usd

    lines = [f"Combined savings: {s['baseline']} -> {s['optimized']} (same traffic, monthly)",
             f"  {'step':12} {'$/month':>11} {'vs prev':>8} {'vs base':>8}  what"]
    for st in s["steps"]:
        def pct(x: float | None) -> str:  # cost change: -25% = a quarter cheaper
            return "—" if x is None else f"{-x:+.0%}"

        lines.append(f"  {st['step']:12} {usd(st['monthly']):>11} {pct(st['vs_previous']):>8} "
                     f"{pct(st['vs_baseline']):>8}  {st['what']} — {st['basis']}")
    if s["total_saving"] is not None:
        lines.append(f"  combined: {s['total_saving']:.0%} cheaper than the baseline (spot excluded: interruptible)")
    lines += [f"  note: {n}" for n in s["notes"]]
    return lines
