"""The same cost per 1M inferences across AWS, GCP and on-prem, from one measured throughput.

Every row uses the variant's measured inferences/s on this machine; a GCP
machine or the user's on-prem hardware is taken to match this machine (an
assumption, stated on the row), as the AWS host instance already is. Always-on
monthly cost and the serverless break-even are computed per row the same way
as for AWS (:mod:`engines.cost.model`).
"""

from __future__ import annotations

import math
from typing import Any

from engines.cost.model import TrafficProfile, break_even, cost_per_million
from engines.errors import WorkbenchError

PROVIDERS = ("aws", "gcp", "onprem", "all")


def wanted(provider: str) -> set[str]:
    if provider not in PROVIDERS:
        raise WorkbenchError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")
    return {"aws", "gcp", "onprem"} if provider == "all" else {provider}


def _row(provider: str, item: str, usd_h: float, ips: float, label: str, basis: str, note: str,
         profile: TrafficProfile, serverless: dict[str, Any] | None) -> dict[str, Any]:
    needed = max(1, math.ceil(profile.peak_rps / ips))
    row = {"provider": provider, "item": item, "instance": item, "usd_per_hour": usd_h, "ips": ips,
           "price_label": label, "price_basis": basis, "note": note, "cost_per_1m": cost_per_million(usd_h, ips),
           "instances_for_peak": needed, "monthly_always_on": needed * usd_h * 24.0 * profile.days,
           "label": "measured", "break_even_rps": None}
    if serverless is not None:
        row["break_even_rps"] = break_even(None, serverless, row, profile, points=2)["break_even_rps"]
    return row


def compare_providers(report: dict[str, Any], provider: str = "all", *, gcp_machines: list[str] | None = None,
                      onprem: Any = None, gcp_catalog: Any = None) -> dict[str, Any]:
    """Rows {provider, item, usd_per_hour, ips, cost_per_1m, monthly_always_on, break_even_rps, ...}."""
    from engines.cost.onprem import onprem_cost

    want = wanted(provider)
    p = report["profile"]
    profile = TrafficProfile(p["avg_rps"], p["peak_rps"], p["hours_per_day"], p["days"])
    m, serverless = report["measured"], report.get("serverless")
    ips, device = float(m["ips"]), str(m.get("device", "cpu"))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if "aws" in want:
        for r in report["instances"]:
            rows.append(_row("aws", r["instance"], r["usd_per_hour"], r["ips"], r["price_label"], r["price_basis"],
                             r["note"], profile, serverless))
    if "gcp" in want:
        from engines.cost.gcp import load_gcp_catalog

        gcp = gcp_catalog or load_gcp_catalog()
        machines = gcp_machines or [gcp.default_machine(device)]
        for machine in machines:
            q = gcp.hourly(machine)
            rows.append(_row("gcp", machine, q.usd, ips, q.label, q.basis,
                             f"assumption: this machine ~ GCP {machine}; {ips:.1f}/s measured here", profile,
                             serverless))
        notes.append(f"GCP catalog {gcp.origin} as of {gcp.as_of}: prices unverified, not refreshed automatically")
    if "onprem" in want:
        if onprem is None:
            notes.append("on-prem: give --onprem-capex, --onprem-years, --onprem-watts and --kwh-price")
        else:
            c = onprem_cost(onprem, ips, profile.days)
            row = _row("onprem", "your hardware", c["usd_per_hour"], c["effective_ips"], c["label"], c["basis"],
                       f"assumption: your hardware ~ this machine ({ips:.1f}/s measured here)", profile, serverless)
            row["onprem"] = c
            rows.append(row)
    cheapest = min(rows, key=lambda r: r["cost_per_1m"]) if rows else None
    return {"provider": provider, "rows": rows, "cheapest": cheapest and cheapest["item"], "notes": notes,
            "serverless_per_1m": serverless["cost_per_1m"] if serverless else None}
