"""``workbench traffic split|shift|show|delete``: one real-time endpoint, several weighted production variants."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "traffic", help="split a real-time endpoint's traffic over variants (e.g. FP32 vs INT8) and shift weights",
        description="Create a SageMaker real-time endpoint with several production variants and weights, shift "
                    "the weights (update_endpoint_weights_and_capacities), show them, or delete the endpoint "
                    "(only when workbench created it). Per-variant metrics: workbench monitor ENDPOINT.")
    sub = p.add_subparsers(dest="traffic_cmd", metavar="ACTION", required=True)
    split = sub.add_parser("split", help="create the endpoint with one production variant per model")
    split.add_argument("endpoint", metavar="ENDPOINT")
    split.add_argument("--variant", action="append", required=True, metavar="NAME=MODEL:WEIGHT[:INSTANCE[:COUNT]]",
                       help="repeat per variant, e.g. fp32=wb-fp32-model:0.9 int8=wb-int8-model:0.1:ml.c5.xlarge:1")
    split.add_argument("--dry-run", action="store_true", help="print the calls; create nothing")
    shift = sub.add_parser("shift", help="change weights (and optionally instance counts) of a live endpoint")
    shift.add_argument("endpoint", metavar="ENDPOINT")
    shift.add_argument("weights", nargs="+", metavar="NAME=WEIGHT[:COUNT]")
    show = sub.add_parser("show", help="current weights and instance counts")
    show.add_argument("endpoint", metavar="ENDPOINT")
    delete = sub.add_parser("delete", help="delete the endpoint and its config (only if workbench created them)")
    delete.add_argument("endpoint", metavar="ENDPOINT")
    for q in (split, shift, show, delete):
        q.add_argument("--region", default="us-east-1")
        q.add_argument("--endpoint-url", help="one endpoint URL for every AWS service (e.g. a local moto server)")
        q.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def parse_variant(text: str) -> Any:
    from engines.deploy.traffic import SplitVariant
    from engines.errors import WorkbenchError

    name, sep, rest = text.partition("=")
    parts = rest.split(":") if sep else []
    if not name or len(parts) < 2 or len(parts) > 4:
        raise WorkbenchError(f"--variant {text!r}: write NAME=MODEL:WEIGHT[:INSTANCE[:COUNT]]")
    try:
        weight = float(parts[1])
        count = int(parts[3]) if len(parts) > 3 else 1
    except ValueError:
        raise WorkbenchError(f"--variant {text!r}: WEIGHT must be a number and COUNT a whole number") from None
    return SplitVariant(name, parts[0], weight, parts[2] if len(parts) > 2 else "ml.c5.xlarge", count)


def parse_weights(items: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    from engines.errors import WorkbenchError

    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    for text in items:
        name, sep, rest = text.partition("=")
        w, _, c = rest.partition(":")
        try:
            if not (name and sep):
                raise ValueError
            weights[name] = float(w)
            if c:
                counts[name] = int(c)
        except ValueError:
            raise WorkbenchError(f"{text!r}: write NAME=WEIGHT[:COUNT], e.g. int8=0.5") from None
    return weights, counts


def _emit(args: argparse.Namespace, data: Any, lines: list[str]) -> int:
    if args.json:
        json.dump(data, sys.stdout, indent=1, default=str)
        print()
    else:
        print("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    from engines.deploy import traffic
    from engines.deploy.aws import make_clients, make_session
    from engines.deploy.spec import new_deploy_id

    if args.traffic_cmd == "split":
        variants = [parse_variant(v) for v in args.variant]
        traffic.check_variants(variants)
        if args.dry_run:
            calls = traffic.split_calls(args.endpoint, variants, "<deployment id>")
            sh = traffic.shares({v.name: v.weight for v in variants})
            return _emit(args, {"dry_run": True, "calls": calls, "shares": sh},
                         [f"{i + 1}. sagemaker.{op}({params})" for i, (op, params) in enumerate(calls)]
                         + [f"traffic: {', '.join(f'{k} {v:.0%}' for k, v in sh.items())}"])
    elif args.traffic_cmd == "shift":
        weights, counts = parse_weights(args.weights)
        for name, w in weights.items():
            traffic.one_weight(name, w)
    clients = make_clients(args.region, args.endpoint_url, session=make_session(args.region))
    sm = clients.sagemaker
    if args.traffic_cmd == "split":
        out = traffic.create_split(sm, args.endpoint, variants, deploy_id=new_deploy_id())
        return _emit(args, out, [f"created endpoint {out['endpoint']} (config {out['config']}): "
                                 + ", ".join(f"{k} {v:.0%}" for k, v in out["shares"].items())])
    if args.traffic_cmd == "shift":
        ch = traffic.shift_weights(sm, args.endpoint, weights, counts)
        return _emit(args, ch.to_dict(), [f"{ch.endpoint}: " + ", ".join(
            f"{k} {ch.before[k]:g} -> {ch.after[k]:g} ({ch.shares[k]:.0%}, {ch.counts[k]} instance(s))"
            for k in ch.after)])
    if args.traffic_cmd == "show":
        have = traffic.current_variants(sm, args.endpoint)
        sh = traffic.shares({k: v["weight"] for k, v in have.items()}) if sum(
            v["weight"] for v in have.values()) > 0 else {k: 0.0 for k in have}
        return _emit(args, {"endpoint": args.endpoint, "variants": have, "shares": sh},
                     [f"{k}: weight {v['weight']:g} ({sh[k]:.0%}), {v['count']} x {v['instance_type']}, "
                      f"model {v['model_name']}" for k, v in have.items()])
    removed = traffic.delete_split(sm, args.endpoint)
    return _emit(args, {"removed": removed}, [f"removed {r}" for r in removed])
