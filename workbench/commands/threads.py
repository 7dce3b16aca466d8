"""``workbench threads``: latency against intra-op threads, throughput against concurrent streams."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.commands import add_input_shape_arg, add_target_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("threads", help="intra-op threads and concurrent streams: scaling curve and a recommendation",
                       description="Time an ONNX model with 1, 2, 4, ... intra-op threads (latency) and with "
                                   "1, 2, 4, ... concurrent sessions / OpenVINO streams sharing the cores "
                                   "(throughput), every configuration interleaved in the same rounds, and "
                                   "recommend the fewest threads and streams within noise of the best.")
    add_target_args(p, "an .onnx file")
    add_input_shape_arg(p)
    p.add_argument("--threads-list", metavar="N,N", help="intra-op thread counts (default 1,2,4,... up to the "
                                                          "cores available to this process)")
    p.add_argument("--streams", metavar="N,N", help="concurrent stream counts (default 1,2,4,... up to the cores)")
    p.add_argument("--runtimes", default="onnxruntime,openvino",
                   help="throughput runtimes: onnxruntime, openvino (default both; openvino where installed)")
    p.add_argument("--batch", type=int, default=1, help="batch per request (default 1)")
    p.add_argument("--rounds", type=int, default=7, help="paired rounds (default 7)")
    p.add_argument("--iterations", type=int, default=20, help="timed calls per thread count per round (default 20)")
    p.add_argument("--requests", type=int, help="requests per throughput burst (default: about 0.15 s of work)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engines.errors import WorkbenchError
    from engines.measure.paired import available_cores
    from engines.measure.threads import RUNTIMES, parse_counts, sweep_threads
    from engines.models.shapes import parse_input_shapes
    from engines.serving.target import resolve_target

    cores = available_cores()
    threads = parse_counts(args.threads_list, "--threads-list", cores)
    streams = parse_counts(args.streams, "--streams", cores)
    if args.batch < 1 or args.rounds < 1 or args.iterations < 1 or (args.requests is not None and args.requests < 1):
        raise WorkbenchError("--batch, --rounds, --iterations and --requests must be >= 1")
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if not runtimes or any(r not in RUNTIMES for r in runtimes):
        raise WorkbenchError(f"--runtimes {args.runtimes!r}: choose from {', '.join(RUNTIMES)}")
    target = resolve_target(args.target, model=args.model, workspace=args.workspace)
    if target.format != "onnx":
        raise WorkbenchError(f"{target.name} is {target.format}: the threads sweep runs ONNX models")
    r = sweep_threads(target.path, threads=threads, streams=streams, runtimes=runtimes, batch=args.batch,
                      rounds=args.rounds, iterations=args.iterations, requests=args.requests,
                      input_shapes=parse_input_shapes(args.input_shape))
    if args.json:
        json.dump({"variant": target.variant_id, **r.to_dict()}, sys.stdout, indent=1)
        print()
        return 0
    print(f"{target.name}: {r.cores} core(s) available, batch {r.batch}")
    print("\nlatency against intra-op threads (the scaling curve)")
    print(f"{'threads':>8} {'p50 ms':>9} {'p99 ms':>9} {'speedup':>20} {'efficiency':>10}")
    top = max(p.p50_ms for p in r.latency) or 1.0
    for p in r.latency:
        sp = p.speedup
        cell = f"{sp['value']:.2f} [{sp['interval'][0]:.2f}-{sp['interval'][1]:.2f}]" if sp else "1.00 (reference)"
        eff = f"{p.efficiency:.0%}" if p.efficiency is not None else ""
        print(f"{p.threads:>8} {p.p50_ms:>9.3f} {p.p99_ms:>9.3f} {cell:>20} {eff:>10}  {'#' * round(20 * p.p50_ms / top)}")
    print(f"\nthroughput against concurrent streams ({r.requests_per_burst} requests per burst)")
    print(f"{'runtime':>12} {'streams':>8} {'threads':>8} {'items/s':>10} {'req p50':>9} {'req p99':>9} "
          f"{'vs ' + r.throughput_reference:>24}")
    for p in r.throughput:
        v = p.vs_reference
        cell = f"{v['value']:.2f} [{v['interval'][0]:.2f}-{v['interval'][1]:.2f}]" if v else "1.00 (reference)"
        print(f"{p.runtime:>12} {p.streams:>8} {p.threads_per_stream:>8} {p.items_per_s:>10,.0f} "
              f"{p.request_p50_ms:>9.3f} {p.request_p99_ms:>9.3f} {cell:>24}")
    print(f"\nrecommended for latency: {r.recommendation.latency}")
    print(f"recommended for throughput: {r.recommendation.throughput}")
    for note in r.notes:
        print(f"note: {note}")
    return 0
