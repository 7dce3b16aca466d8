"""``workbench sweep``: latency percentiles and throughput per batch size."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.commands import add_input_shape_arg, add_target_args
from workbench.commands.options import check_timing, timing_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="latency p50/p95/p99 and throughput for batch sizes 1..N",
                       description="Measure a model at batch sizes 1, 2, 4, ... up to --max-batch, on CPU and "
                                   "on CUDA where present, and report the largest batch meeting a latency budget.")
    add_target_args(p, "an .onnx/.tflite/.xml file, a PyTorch .pt/.pt2, an AOTInductor package or a TensorRT engine")
    add_input_shape_arg(p)
    p.add_argument("--max-batch", type=int, default=64, help="largest batch size (default 64)")
    p.add_argument("--batches", help="explicit batch sizes, e.g. 1,2,8,32 (overrides --max-batch)")
    p.add_argument("--budget-ms", type=float, default=20.0, help="p99 latency budget (default 20 ms)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CPU, and CUDA too where this model's runtime has a GPU here")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="PyTorch models run eagerly: cast weights and float inputs (default fp32)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow a pickled PyTorch module or an outside .pt2 with compiled code (runs its code)")
    timing_args(p, iterations=100, what="batch size")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def _parse_batches(text: str | None) -> list[int] | None:
    from engines.errors import WorkbenchError

    if not text:
        return None
    try:
        out = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise WorkbenchError(f"--batches {text!r}: give whole numbers separated by commas") from None
    if not out or out[0] < 1:
        raise WorkbenchError("--batches must list sizes >= 1")
    return out


def run(args: argparse.Namespace) -> int:
    from engines.measure.sweep import batch_sweep
    from engines.serving.target import cuda_available, open_served_runner, resolve_served

    check_timing(args)
    target = resolve_served(args.target, model=args.model, workspace=args.workspace)
    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if cuda_available(target.format) else [])
        if target.format == "tensorrt":
            devices = ["cuda"]
    else:
        devices = [args.device]
    from engines.models.shapes import parse_input_shapes, shape_runner, shapes_text

    overrides = parse_input_shapes(args.input_shape)
    results = []
    for device in devices:
        opened, device = open_served_runner(target, device=device, threads=args.threads, dtype=args.dtype,
                                            trust_pickle=args.trust_pickle)
        runner = shape_runner(opened, overrides, name=target.name)
        r = batch_sweep(target.path, fmt=target.format, batches=_parse_batches(args.batches),
                        max_batch=args.max_batch, budget_ms=args.budget_ms, device=device,
                        threads=args.threads, iterations=args.iterations,
                        budget_s_per_point=args.seconds, runner=runner)
        r.notes.append(f"inputs {shapes_text(runner.inputs)}")
        results.append(r)
    if args.json:
        json.dump({"model": str(target.path), "variant": target.variant_id,
                   "sweeps": [r.to_dict() for r in results]}, sys.stdout, indent=1)
        print()
        return 0
    for r in results:
        print(f"{target.name} on {r.device} ({r.threads} threads), p99 budget {args.budget_ms:g} ms")
        print(f"{'batch':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'items/s':>10} {'gain [95% interval]':>22} "
              f"{'cpu %':>6}")
        for p in r.points:
            lat = p.latency_ms
            cpu = p.run_metrics.get("cpu_mean")
            g = p.gain
            gain = "" if not g else (f"{g['value']:.2f}x [{g['interval'][0]:.2f}-{g['interval'][1]:.2f}]"
                                     + ("~" if g["within_noise"] else ""))
            print(f"{p.batch:>6} {lat['p50']:>9.2f} {lat['p95']:>9.2f} {lat['p99']:>9.2f} "
                  f"{p.throughput_ips:>10.1f} {gain:>22} {'' if cpu is None else f'{cpu:.0f}':>6}")
        m = r.measured
        if m:
            how = "interleaved in the same rounds" if r.paired else "one batch size at a time"
            print(f"timed {how}, {m.get('when')}, {m.get('threads') or '?'} threads, {m.get('cpu')}"
                  + (", machine busy" if m.get("busy") else "") + "  (gain: items/s vs the smallest batch; "
                  "~ within noise)")
        best = f"batch {r.best_batch}" if r.best_batch else "no batch size"
        print(f"largest batch within {args.budget_ms:g} ms p99: {best}")
        for note in r.notes:
            print(f"note: {note}")
    return 0
