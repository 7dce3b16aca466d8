"""``workbench prices [show|refresh] [--region R] [--json]``: the price catalog and its sources."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("prices", help="show the price catalog (sources, dates) or refresh it from AWS",
                              description="Show the price catalog used by cost projections, with the source and "
                                          "as-of date of every figure (unverified ones marked), or refresh the "
                                          "on-demand instance prices from the AWS Price List API (needs AWS "
                                          "credentials; writes $WORKBENCH_HOME/prices.json).")
    p.add_argument("action", nargs="?", choices=("show", "refresh"), default="show")
    p.add_argument("--region", default="us-east-1", help="price region for refresh (default us-east-1)")
    p.add_argument("--endpoint-url", help="Price List API endpoint override (testing)")
    p.add_argument("--service", choices=("ec2", "sagemaker_realtime", "sagemaker_serverless", "lambda"),
                   help="show only one service")
    p.add_argument("--json", action="store_true", help="print as JSON on stdout")
    p.set_defaults(handler=run)


def _fmt_price(row: dict[str, Any]) -> str:
    if row["price"] is None:
        return "-"
    v = float(row["price"])
    return f"{v:.7f}".rstrip("0").rstrip(".") if v < 0.01 else f"{v:.4f}".rstrip("0").rstrip(".")


def print_catalog(catalog: Any, service: str | None = None, out: Any = None) -> None:
    out = out or sys.stdout
    print(f"Price catalog as of {catalog.as_of} ({catalog.currency}), from {catalog.origin}", file=out)
    print(f"{'service':22} {'item':22} {'price':>12} {'per':18} {'status':10} {'source':7} as of", file=out)
    for row in catalog.rows():
        if service and not row["service"].startswith(service):
            continue
        print(f"{row['service']:22} {row['item']:22} {_fmt_price(row):>12} {row['unit']:18} {row['label']:10} "
              f"{row['source']:7} {row['as_of']}", file=out)
    print("Sources:", file=out)
    for key, src in catalog.sources.items():
        print(f"  [{key}] {src['text']} ({src['as_of']})", file=out)
    print("Spot prices are derived: on-demand x (1 - average saving); unverified figures are estimates.", file=out)


def run(args: argparse.Namespace) -> int:
    from engines.cost.prices import load_catalog, refresh_prices

    if args.action == "refresh":
        out = refresh_prices(None, args.region, endpoint_url=args.endpoint_url)
        catalog = out["catalog"]
        if args.json:
            json.dump({k: v for k, v in out.items() if k != "catalog"} | {"as_of": catalog.as_of}, sys.stdout,
                      indent=1)
            print()
            return 0
        print(f"updated {len(out['updated'])} prices from the AWS Price List API ({args.region})"
              + (f"; written to {out['path']}" if out["written"] else "; nothing written"))
        if out["not_found"]:
            print(f"not found (kept as before): {', '.join(out['not_found'])}")
        return 0
    catalog = load_catalog()
    if args.json:
        doc = catalog.to_dict()
        if args.service:
            doc["rows"] = [r for r in doc["rows"] if r["service"].startswith(args.service)]
        json.dump(doc, sys.stdout, indent=1)
        print()
        return 0
    print_catalog(catalog, args.service)
    return 0
