"""``workbench cost VARIANT_OR_MODEL --rps 5 --peak-rps 50 --hours 24 ...``: measured cost projection."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.commands import add_input_shape_arg, add_target_args


def finite(text: str) -> float:
    """argparse type: a finite float (inf and nan are refused with the option's name by argparse)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "cost", help="cost per 1M inferences, monthly cost and break-even from measured throughput",
        description="Project costs from the variant's measured throughput and latency on this machine: cost per "
                    "1M inferences on the instance this machine is taken to be (--host-instance), serverless "
                    "monthly cost for a traffic profile, the serverless vs always-on break-even, GPU vs CPU, and "
                    "spot for fine-tuning. Other instances only through --assume-throughput (labelled estimates).")
    add_target_args(p, "an ONNX model path")
    add_input_shape_arg(p)
    p.add_argument("--rps", type=finite, default=5.0, help="average requests/s while active (default 5)")
    p.add_argument("--peak-rps", type=finite, default=None, help="peak requests/s (default 10 x --rps)")
    p.add_argument("--hours", type=finite, default=24.0, help="active hours per day (default 24)")
    p.add_argument("--days", type=finite, default=30.0, help="days per month (default 30)")
    p.add_argument("--memory", type=int, default=2048, help="serverless memory MB (1024..6144, default 2048)")
    p.add_argument("--max-concurrency", type=int, default=5, help="serverless max concurrency (default 5)")
    p.add_argument("--provisioned", type=int, default=0, help="serverless provisioned concurrency (default 0)")
    p.add_argument("--content-type", default="application/json",
                   choices=("application/json", "application/x-npy"), help="request encoding for data size")
    p.add_argument("--host-instance", help="instance this machine is priced as (default: c7i.xlarge for CPU, "
                   "the matching GPU instance for a GPU benchmark)")
    p.add_argument("--assume-throughput", action="append", default=[], metavar="INSTANCE=IPS",
                   help="your throughput figure for another instance (repeatable); shown as an estimate")
    p.add_argument("--compare", metavar="INSTANCE", help="instance of the break-even comparison")
    p.add_argument("--realtime-instance", default="ml.c5.xlarge", metavar="INSTANCE",
                   help="SageMaker real-time instance to right-size against the measured CPU/GPU use "
                        "(default ml.c5.xlarge)")
    p.add_argument("--finetune-hours", type=finite, help="also price a fine-tuning job of this many hours on spot")
    p.add_argument("--finetune-instance", default="g5.xlarge", help="instance of the fine-tuning job")
    p.add_argument("--interruption-rate", type=finite, help="spot interruptions per hour (default: from the band)")
    p.add_argument("--checkpoint-every", type=finite, default=1.0, help="checkpoint interval in hours (default 1)")
    p.add_argument("--savings", action="store_true",
                   help="combined savings: baseline -> this variant -> right-sized -> serverless or spot")
    p.add_argument("--baseline", metavar="VARIANT_OR_MODEL",
                   help="with --savings: what to compare against (default: the workspace's baseline variant)")
    p.add_argument("--no-measure", action="store_true", help="fail instead of benchmarking when no figures exist")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    add_provider_args(p)
    p.set_defaults(handler=run)


def add_provider_args(p: Any) -> None:
    """--provider aws|gcp|onprem|all and the on-prem figures (engines/cost/providers.py, onprem.py)."""
    g = p.add_argument_group("providers (same measured throughput on AWS, GCP and on-prem)")
    g.add_argument("--provider", default="aws", choices=("aws", "gcp", "onprem", "all"),
                   help="which providers to compare per 1M inferences (default aws)")
    g.add_argument("--gcp-machine", action="append", default=[], metavar="TYPE",
                   help="GCP machine type from the GCP catalog (repeatable; default n2-standard-4, or the GPU "
                        "machine matching the benchmark's GPU)")
    g.add_argument("--onprem-capex", type=float, metavar="USD", help="hardware purchase cost")
    g.add_argument("--onprem-years", type=float, default=3.0, metavar="N", help="amortization years (default 3)")
    g.add_argument("--onprem-watts", type=float, metavar="W", help="average power draw")
    g.add_argument("--kwh-price", type=float, metavar="USD", help="electricity price per kWh")
    g.add_argument("--pue", type=float, default=1.5, help="power usage effectiveness (default 1.5)")
    g.add_argument("--utilization", type=float, default=1.0, metavar="F",
                   help="share of hours the hardware serves inferences, (0, 1] (default 1)")


def onprem_spec(args: argparse.Namespace) -> Any:
    from engines.cost.onprem import OnPremSpec

    given = [args.onprem_capex, args.onprem_watts, args.kwh_price]
    if args.provider not in ("onprem", "all") and all(v is None for v in given):
        return None
    if any(v is None for v in given):
        if args.provider == "onprem":
            from engines.errors import WorkbenchError

            raise WorkbenchError("--provider onprem needs --onprem-capex USD, --onprem-watts W and --kwh-price USD")
        return None
    return OnPremSpec(args.onprem_capex, args.onprem_years, args.onprem_watts, args.kwh_price, args.pue,
                      args.utilization)


def extra_sections(args: argparse.Namespace, report: dict[str, Any], target: Any, catalog: Any) -> dict[str, Any]:
    """Provider comparison and memory right-sizing, added to the report."""
    from engines.cost.providers import compare_providers
    from engines.cost.rightsize import rightsize_target

    out: dict[str, Any] = {}
    if args.provider != "aws" or args.gcp_machine or onprem_spec(args) is not None:
        out["providers"] = compare_providers(report, args.provider, gcp_machines=args.gcp_machine or None,
                                             onprem=onprem_spec(args))
    s = report.get("serverless")
    out["rightsize"] = rightsize_target(target, args.memory, catalog=catalog,
                                        billed_ms=s["billed_ms"] if s else None,
                                        rss_peak=report["measured"].get("rss_peak")).to_dict()
    cold = (target.metrics or {}).get("cold_start")
    if cold and cold.get("first_ms_median") is not None:
        from engines.deploy.coldstart import provisioned_advice

        cold = dict(cold)
        if s:
            p = report["profile"]
            cold["advice"] = provisioned_advice(cold, catalog, memory_mb=args.memory, peak_rps=p["peak_rps"],
                                                latency_ms=s["latency_ms"],
                                                active_seconds=p["hours_per_day"] * 3600.0 * p["days"],
                                                max_concurrency=args.max_concurrency)
        out["cold_start"] = cold
    else:
        out["cold_start"] = None
    if getattr(args, "savings", False):
        out["savings"] = savings_section(args, report, target, catalog, out["rightsize"])
    return out


def savings_section(args: argparse.Namespace, report: dict[str, Any], target: Any, catalog: Any,
                    rightsize: dict[str, Any]) -> dict[str, Any]:
    from engines.cost.model import parse_assumptions
    from engines.cost.report import CostOptions, project_costs
    from engines.cost.savings import combined_savings
    from engines.errors import WorkbenchError
    from engines.measure.figures import resolve_target

    if args.baseline:
        base = resolve_target(args.baseline, workspace=args.workspace, model=args.model)
    else:
        ws = getattr(target, "workspace", None)
        v = ws.baseline() if ws is not None else None
        if v is None:
            raise WorkbenchError("--savings needs a baseline: give --baseline VARIANT_OR_MODEL (a plain model file "
                                 "has no workspace baseline)")
        base = resolve_target(v.id, workspace=ws.root)
    p = report["profile"]
    opts = CostOptions(avg_rps=p["avg_rps"], peak_rps=p["peak_rps"], hours_per_day=p["hours_per_day"],
                       days=p["days"], memory_mb=args.memory, max_concurrency=args.max_concurrency,
                       provisioned=args.provisioned, content_type=args.content_type, host_instance=args.host_instance,
                       assumptions=parse_assumptions([]), compare_instance=None)
    base_report = project_costs(base, opts, catalog=catalog, allow_measure=not args.no_measure)
    return combined_savings(base_report, report, catalog=catalog, rightsize=rightsize).to_dict()


def run(args: argparse.Namespace) -> int:
    from engines.cost.model import parse_assumptions, spot_finetune
    from engines.cost.report import CostOptions, project_costs
    from engines.measure.figures import resolve_target
    from engines.cost.prices import load_catalog

    onprem_spec(args)  # bad on-prem figures fail before any benchmark
    catalog = load_catalog()
    target = resolve_target(args.target, workspace=args.workspace, model=args.model)
    opts = CostOptions(avg_rps=args.rps, peak_rps=args.peak_rps if args.peak_rps is not None else 10 * args.rps,
                       hours_per_day=args.hours, days=args.days, memory_mb=args.memory,
                       max_concurrency=args.max_concurrency, provisioned=args.provisioned,
                       content_type=args.content_type, host_instance=args.host_instance,
                       assumptions=parse_assumptions(args.assume_throughput), compare_instance=args.compare,
                       realtime_instance=args.realtime_instance)
    payload = None
    if args.input_shape and target.format == "onnx":
        from engines.measure.figures import payload_sizes

        payload = payload_sizes(target, args.content_type, input_shapes=args.input_shape)
    report = project_costs(target, opts, catalog=catalog, allow_measure=not args.no_measure, payload=payload)
    if args.finetune_hours:
        report["spot_finetune"] = spot_finetune(catalog, args.finetune_instance, args.finetune_hours,
                                                interruption_rate=args.interruption_rate,
                                                checkpoint_interval_h=args.checkpoint_every)
    report.update(extra_sections(args, report, target, catalog))
    if args.json:
        json.dump(report, sys.stdout, indent=1, default=str)
        print()
        return 0
    print("\n".join(report_lines(report)))
    return 0


def report_lines(r: dict[str, Any]) -> list[str]:
    from engines.cost.report import break_even_sentence, gpu_vs_cpu_sentence, spot_finetune_sentence, usd

    m, p = r["measured"], r["profile"]
    lines = [f"Cost projection for {r['target']['name']} — price catalog {r['catalog']['as_of']} "
             f"({r['catalog']['currency']})",
             f"Measured ({m['source']}): {m['ips']:.1f} inferences/s at batch {m['batch']}, latency mean "
             f"{m['latency_ms'].get('mean', 0):.3f} ms / p99 {m['latency_ms'].get('p99', 0):.3f} ms at batch "
             f"{m.get('latency_batch', 1)}, {m['threads']} threads, {m['device']}",
             f"Traffic: {p['avg_rps']:g} req/s avg, {p['peak_rps']:g} peak, {p['hours_per_day']:g} h/day x "
             f"{p['days']:g} days = {p['requests_per_month']:,.0f} requests/month", "",
             f"{'instance':16} {'inf/s':>10} {'basis':9} {'$/h':>8} {'$/1M':>10} {'n@peak':>6} "
             f"{'$/month':>10} {'spot $/mo*':>10}"]
    for row in r["instances"]:
        lines.append(f"{row['instance']:16} {row['ips']:>10.1f} {row['label']:9} {row['usd_per_hour']:>8.4f} "
                     f"{usd(row['cost_per_1m']):>10} {row['instances_for_peak']:>6} "
                     f"{usd(row['monthly_always_on']):>10} {usd(row.get('monthly_spot')):>10}")
    for row in r["instances"]:
        lines.append(f"  {row['instance']}: {row['note']}; price {row['price_label']}")
    lines.append("  * spot is derived (on-demand x (1 - avg saving)) and suits interruptible work, not serving")
    s = r.get("serverless")
    if s:
        lines += ["", f"Serverless {s['memory_mb']} MB: {usd(s['monthly'])}/month = compute "
                      f"{usd(s['compute_monthly'])} + data {usd(s['data_monthly'])} + provisioned "
                      f"{usd(s['provisioned_monthly'])}; {usd(s['cost_per_1m'])} per 1M ({s['label']})",
                  f"  billed {s['billed_ms']} ms/request ({s['latency_note']}); {s['request_bytes']} B in + "
                  f"{s['response_bytes']} B out per request"
                  + (" (inputs " + ", ".join(f"{i['name']} {i['shape']}" for i in (r.get("payload") or {})
                                             .get("inputs", [])) + ")" if (r.get("payload") or {}).get("inputs")
                     else ""),
                  f"  peak concurrency {s['peak_concurrency']:.2f} of max {s['max_concurrency']}"
                  + (" — THROTTLED at peak: raise --max-concurrency" if s["throttled_at_peak"] else "")]
    if r.get("break_even"):
        lines.append(break_even_sentence(r["break_even"]))
    lines.append(gpu_vs_cpu_sentence(r["gpu_vs_cpu"]))
    if r.get("spot_finetune"):
        lines.append(spot_finetune_sentence(r["spot_finetune"]))
    lines += provider_lines(r)
    lines.append(f"Catalog: {r['catalog']['origin']} as of {r['catalog']['as_of']}")
    return lines


def fit_lines(r: dict[str, Any]) -> list[str]:
    """vCPU/GPU right-sizing against measured utilization: a WARNING line per oversized or busy instance."""
    fits = r.get("instance_fit") or []
    if not fits:
        return []
    out = ["Right-sizing (measured CPU/GPU use at peak):"]
    for f in fits:
        out.append(("  WARNING " if f.get("warning") else "  ") + f["line"])
        out += [f"    {n}" for n in f.get("notes") or []]
    return out


def provider_lines(r: dict[str, Any]) -> list[str]:
    from engines.cost.report import usd

    lines: list[str] = []
    cs = r.get("cold_start")
    if cs:
        lines.append(f"Cold start (local, {cs.get('measured_at', '?')}): /ping 200 after "
                     f"{cs['ping_ms_median']:.0f} ms, first inference after {cs['first_ms_median']:.0f} ms")
        if cs.get("advice"):
            lines.append(f"  provisioned concurrency: {cs['advice']['text']}")
    elif "cold_start" in r:
        lines.append("Cold start: not measured (workbench deploy VARIANT --local measures it)")
    if r.get("savings"):
        from engines.cost.savings import savings_lines

        lines += ["", *savings_lines(r["savings"])]
    lines += fit_lines(r)
    rs = r.get("rightsize")
    if rs and rs.get("warning"):
        saving = f"; saves {usd(rs['saving_per_1m'])} per 1M" if rs.get("saving_per_1m") else ""
        lines.append(f"WARNING memory: {rs['warning']}{saving} ({rs['note']})")
    elif rs:
        lines.append(f"Memory {rs['requested_mb']} MB: " + (f"fits ({rs['note']})" if rs.get("fit_mb") else rs["note"]))
    pv = r.get("providers")
    if pv:
        lines += ["", f"{'provider':8} {'machine':30} {'inf/s':>9} {'$/h':>8} {'$/1M':>10} {'$/month':>10} "
                      f"{'break-even':>10}  price"]
        for row in pv["rows"]:
            be = "—" if row["break_even_rps"] is None else f"{row['break_even_rps']:.2f}/s"
            lines.append(f"{row['provider']:8} {row['item']:30} {row['ips']:>9.1f} {row['usd_per_hour']:>8.4f} "
                         f"{usd(row['cost_per_1m']):>10} {usd(row['monthly_always_on']):>10} {be:>10}  "
                         f"{row['price_label']}")
        for row in pv["rows"]:
            lines.append(f"  {row['provider']} {row['item']}: {row['note']}; {row['price_basis']}")
        if pv.get("serverless_per_1m") is not None:
            lines.append(f"  serverless per 1M: {usd(pv['serverless_per_1m'])}; break-even = avg req/s where "
                         "serverless costs the same as the machine always on")
        lines += [f"  {n}" for n in pv["notes"]]
    return lines
