"""``workbench monitor ENDPOINT [--since 1h] [--region R] [--endpoint-url URL] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "monitor", help="CloudWatch metrics and cost so far of a deployed SageMaker endpoint",
        description="Invocations, latency, errors, cold starts (ModelSetupTime) and CPU/memory utilization of a "
                    "SageMaker endpoint from CloudWatch, with the cost so far computed from usage next to the "
                    "pre-deploy estimate (when workbench deployed it).")
    p.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    p.add_argument("--since", default="1h", help="window up to now: 30m, 1h, 2d ... (default 1h)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--endpoint-url", help="one endpoint URL for every AWS service (e.g. a local moto server)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engines.deploy.aws import make_clients, make_session
    from engines.deploy.monitor import cloudwatch_client, monitor_endpoint, parse_since

    parse_since(args.since)  # bad input fails before any AWS call
    session = make_session(args.region)
    clients = make_clients(args.region, args.endpoint_url, session=session)
    cw = cloudwatch_client(args.region, args.endpoint_url, session=session)
    report = monitor_endpoint(args.endpoint, cloudwatch=cw, sagemaker=clients.sagemaker, region=args.region,
                              since=args.since)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=1, default=str)
        print()
        return 0
    print("\n".join(report_lines(report)))
    return 0


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f} ms"


def report_lines(r: Any) -> list[str]:
    from engines.cost.report import usd

    s = r.summary
    cfg = ", ".join(f"{k} {v}" for k, v in r.config.items())
    lines = [f"Endpoint {r.endpoint} ({r.mode}, {cfg}) {r.status} in {r.region}, variant {r.variant}",
             f"Window {r.start} .. {r.end} (period {r.period_s} s)"]
    if r.has_data:
        err = "—" if s["error_rate"] is None else f"{s['error_rate']:.2%}"
        lines += [f"  invocations {s['invocations']:g}; model latency {_ms(s['model_latency_ms_mean'])} mean, "
                  f"overhead {_ms(s['overhead_latency_ms_mean'])} mean",
                  f"  errors 4xx {s['errors_4xx']:g}, 5xx {s['errors_5xx']:g} ({err})",
                  f"  cold starts: ModelSetupTime in {s['cold_starts_periods']} period(s), max "
                  f"{_ms(s['model_setup_ms_max'])}",
                  "  CPU " + ("not published" if s["cpu_utilization_mean"] is None
                              else f"{s['cpu_utilization_mean']:.1f}% mean")
                  + ", memory " + ("not published" if s["memory_utilization_mean"] is None
                                   else f"{s['memory_utilization_mean']:.1f}% mean")]
    for vname, v in (r.variants or {}).items():
        vs = v["summary"]
        seen = "—" if v.get("traffic_share") is None else f"{v['traffic_share']:.0%}"
        lines.append(f"  variant {vname}: weight {v['weight']:g} ({v['share']:.0%} of traffic asked, {seen} seen); "
                     f"{vs['invocations']:g} invocations, model latency {_ms(vs['model_latency_ms_mean'])} mean, "
                     f"errors {vs['errors_4xx'] + vs['errors_5xx']:g}; cost {usd(v['cost']['usd'])}")
    lines.append(f"Cost so far: {usd(r.cost.usd)} ({r.cost.label}) = {r.cost.basis}")
    lines += [f"  {n}" for n in r.cost.notes]
    if r.estimate:
        lines.append(f"Pre-deploy estimate: {r.estimate['summary']}; pro-rated to this window "
                     f"{usd(r.estimate['window_share'])}")
    lines += [f"Note: {n}" for n in r.notes]
    return lines
