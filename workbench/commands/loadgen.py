"""``workbench loadgen``: load an inference server (concurrency sweep or fixed rate)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loadgen", help="load a /invocations server: concurrency sweep or fixed rate",
                       description="Send requests to an inference server and report throughput, p50/p95/p99 "
                                   "latency and errors. Bounded by --requests and --duration per level.")
    p.add_argument("url", nargs="+", help="server URL(s), e.g. http://127.0.0.1:8080; several spread the load "
                   "(URL=WEIGHT for weighted, e.g. http://a:8080=0.9 http://b:8080=0.1)")
    p.add_argument("--balance", choices=["round-robin", "weighted"], default=None,
                   help="how to spread over several URLs (default: weighted when weights are given)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--concurrency", default=None, help="closed loop at these levels, e.g. 1,8,32 (default 1,8,32)")
    mode.add_argument("--rate", type=float, help="open loop: start this many requests per second")
    p.add_argument("--requests", type=int, default=500, help="most requests per level (default 500)")
    p.add_argument("--duration", type=float, default=10.0, help="most seconds per level (default 10)")
    p.add_argument("--body", help="request body file (.npy or .json); default: random input from /metadata")
    p.add_argument("--batch", type=int, default=1, help="rows per generated request (default 1)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def _levels(text: str) -> list[int]:
    from engines.errors import WorkbenchError

    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise WorkbenchError(f"--concurrency {text!r}: give whole numbers separated by commas") from None
    if not levels or min(levels) < 1:
        raise WorkbenchError("--concurrency levels must be >= 1")
    return levels


def _body(args: argparse.Namespace) -> tuple[bytes, str, int]:
    from engines.errors import WorkbenchError
    from engines.serving.loadgen import example_payload

    if args.body:
        path = Path(args.body)
        if not path.is_file():
            raise WorkbenchError(f"--body {path} does not exist")
        ctype = "application/x-npy" if path.suffix.lower() == ".npy" else "application/json"
        return path.read_bytes(), ctype, 1
    if args.batch < 1:
        raise WorkbenchError("--batch must be >= 1")
    body, ctype = example_payload(args.targets.urls[0], batch=args.batch)
    return body, ctype, args.batch


def run(args: argparse.Namespace) -> int:
    from engines.errors import WorkbenchError
    from engines.serving.balance import Targets
    from engines.serving.loadgen import concurrency_sweep, run_rate

    args.targets = Targets.parse(args.url, args.balance)
    target = args.targets if len(args.targets.urls) > 1 else args.targets.urls[0]
    if args.requests < 1 or args.duration <= 0:
        raise WorkbenchError("--requests must be >= 1 and --duration positive")
    body, ctype, rows = _body(args)
    if args.rate is not None:
        results = [run_rate(target, body, ctype, args.rate, requests=args.requests, duration_s=args.duration,
                            rows_per_request=rows, timeout_s=args.timeout)]
    else:
        results = concurrency_sweep(target, body, ctype, _levels(args.concurrency or "1,8,32"),
                                    requests_per_level=args.requests, duration_s_per_level=args.duration,
                                    rows_per_request=rows, timeout_s=args.timeout)
    if args.json:
        json.dump({"url": args.targets.urls[0], "urls": args.targets.urls, "policy": args.targets.policy,
                   "results": [r.to_dict() for r in results]}, sys.stdout, indent=1)
        print()
        return 0
    print(f"{'mode':>11} {'level':>7} {'sent':>6} {'ok':>6} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8}  errors")
    for r in results:
        lat = r.latency_ms
        errs = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "none"
        print(f"{r.mode:>11} {r.level:>7g} {r.sent:>6} {r.ok:>6} {r.throughput_rps:>9.1f} {lat['p50']:>8.2f} "
              f"{lat['p95']:>8.2f} {lat['p99']:>8.2f}  {errs}")
        for t in r.extra.get("targets", []):
            tl = t["latency_ms"]
            terr = ", ".join(f"{k}: {v}" for k, v in t["errors"].items()) or "none"
            print(f"{'':>11} {t['share']:>7.0%} {t['sent']:>6} {t['ok']:>6} {t['throughput_rps']:>9.1f} "
                  f"{tl['p50']:>8.2f} {tl['p95']:>8.2f} {tl['p99']:>8.2f}  {terr}  <- {t['url']}")
    return 0
