"""``workbench build MODEL_OR_VARIANT --backend ort|aoti|tensorrt|openvino``: build, benchmark and compare an engine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.commands.options import check_timing


def register(sub: argparse._SubParsersAction) -> None:
    from engines import registry
    from workbench.commands import add_input_shape_arg
    from workbench.commands.options import timing_args

    backends = registry.by_kind("engine")
    p = sub.add_parser("build", help="build an inference engine (ORT optimized, AOTInductor, TensorRT)",
                       description="Build an engine from a model or one of its variants, benchmark it with the "
                                   "shared harness and compare its outputs with the source. The engine becomes "
                                   "a variant of the model's workspace.")
    p.add_argument("target", nargs="?", metavar="MODEL_OR_VARIANT",
                   help="a model file, or a variant id/name of the workspace of --model")
    p.add_argument("--model", help="the model whose workspace holds VARIANT (when TARGET is a variant id)")
    p.add_argument("--variant", help="build from this variant of MODEL instead of its baseline")
    p.add_argument("--backend", choices=[c.id for c in backends], default=backends[0].id,
                   help="; ".join(f"{c.id}: {c.help}" for c in backends))
    p.add_argument("--precision", choices=list(dict.fromkeys(x for c in backends for x in c.precisions)),
                   default="fp32",
                   help="int8 builds from an INT8 (QDQ) variant (openvino: also from a float one, with NNCF)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="cpu or cuda (default: cuda for tensorrt, cpu otherwise)")
    p.add_argument("--min-batch", type=int, default=1)
    p.add_argument("--opt-batch", type=int, default=8)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--workspace-mb", type=int, default=1024, help="TensorRT workspace memory pool (MB)")
    p.add_argument("--sparse", action="store_true", help="TensorRT: use 2:4 sparse weights (Ampere+)")
    p.add_argument("--ort-level", choices=["basic", "extended", "layout", "all"], default="all",
                   help="ONNX Runtime optimization level saved (all/layout are specific to this CPU; "
                        "extended is portable)")
    p.add_argument("--hint", choices=["latency", "throughput"], default=None,
                   help="OpenVINO performance hint saved with the engine (default: latency)")
    p.add_argument("--streams", type=int, default=None, help="OpenVINO inference streams (default: the hint's)")
    p.add_argument("--frontend", choices=["onnx", "pytorch"], default=None,
                   help="OpenVINO: convert the ONNX export (default) or the PyTorch model itself (convert_model)")
    p.add_argument("--accuracy-control", action="store_const", const=True, default=None,
                   help="OpenVINO int8: nncf.quantize_with_accuracy_control on --data with labels y (max drop "
                        "1 point)")
    p.add_argument("--timeout", type=float, default=900.0, metavar="S", help="build time limit in seconds")
    p.add_argument("--data", help="NPZ with x (and y) for fidelity/accuracy (default: the sample's data or random)")
    timing_args(p)
    p.add_argument("--workspace", help="workspace folder (default: the model's own under ~/.workbench)")
    p.add_argument("--trust-pickle", action="store_true", help="allow a pickled full PyTorch module (runs its code)")
    add_input_shape_arg(p)
    p.add_argument("--backends", action="store_true", help="show which backends this machine can use, and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run)


def _show_backends(as_json: bool) -> int:
    from engines import registry
    from engines.build import backend_status

    status = backend_status()
    if as_json:
        json.dump({k: {"available": a.ok, "detail": a.detail, "missing": list(a.missing)} for k, a in status.items()},
                  sys.stdout, indent=1)
        print()
        return 0
    for key, a in status.items():
        cap_id, _, device = key.partition("-")
        cap = registry.get("engine", cap_id)
        label = f"{cap.label} ({device or cap.devices[0]})"
        why = a.detail + (": " + "; ".join(a.missing) if a.missing else "")
        print(f"{'yes' if a.ok else 'no ':3}  {label:30} {why}")
    return 0


def _source(args: argparse.Namespace) -> tuple[str, str | None]:
    """(model path, variant ref or None) from TARGET / --model / --variant."""
    from pathlib import Path

    from engines.errors import WorkbenchError

    if args.target and Path(args.target).expanduser().exists():
        return args.target, args.variant
    if args.target and args.model:
        return args.model, args.target
    if args.model:
        return args.model, args.variant
    if args.target:
        raise WorkbenchError(f"{args.target} is not a file: give a model path, or a variant id with --model MODEL")
    raise WorkbenchError("give a model (workbench build MODEL --backend ort) or a variant id with --model MODEL")


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The backend-specific options its registry entry names (``meta["options"]``) that were given."""
    from engines import registry

    names = registry.get("engine", args.backend).meta.get("options", ())
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def run(args: argparse.Namespace) -> int:
    from engines.build.builder import BuildOptions, build_for_model, describe
    from engines.errors import WorkbenchError
    from engines.tasks import TaskContext
    from workbench.commands.variants import Progress

    if args.backends:
        return _show_backends(args.json)
    check_timing(args)
    if not args.timeout > 0 or args.timeout == float("inf"):
        raise WorkbenchError("--timeout must be a positive number of seconds")
    model, variant = _source(args)
    device = args.device or ("cuda" if args.backend == "tensorrt" else "cpu")
    if args.backend == "tensorrt" and device != "cuda":
        raise WorkbenchError("TensorRT engines run on NVIDIA GPUs only: drop --device cpu")
    if args.backend == "tensorrt":
        from engines.build.tensorrt_settings import settings_from_choices

        settings_from_choices(args.precision, sparse=args.sparse, workspace_mb=args.workspace_mb,
                              min_batch=args.min_batch, opt_batch=args.opt_batch, max_batch=args.max_batch)
    opts = BuildOptions(device=device, ort_level=args.ort_level, workspace_mb=args.workspace_mb, sparse=args.sparse,
                        timeout_s=args.timeout, bench_iterations=args.iterations, bench_budget_s=args.seconds,
                        threads=args.threads, trust_pickle=args.trust_pickle,
                        engine_options=_engine_options(args))
    progress = Progress()
    try:
        v = build_for_model(model, args.backend, args.precision, variant=variant, data=args.data,
                            workspace=args.workspace, profile=(args.min_batch, args.opt_batch, args.max_batch),
                            options=opts, task=TaskContext(progress), input_shapes=args.input_shape)
    finally:
        progress.done()
    card = describe(v)
    if args.json:
        json.dump(card, sys.stdout, indent=1, default=str)
        print()
    else:
        print_card(card)
    return 0


def _ms(lat: Any) -> str:
    return f"{lat['p50']:.3f} ms" if isinstance(lat, dict) and lat.get("p50") is not None else "-"


def _x(ratio: Any) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def print_card(c: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    fid = c.get("fidelity") or {}
    src = c.get("source") or {}
    lines = [
        f"{c['name']} ({c['id'][:8]}) from {src.get('name')} ({(src.get('id') or '')[:8]})",
        f"  build      {c['build_s']:.1f} s, file {(c.get('size_bytes') or 0) / 1024:.1f} KB"
        if c.get("build_s") is not None else "  build      cached",
        f"  latency    p50 {_ms(c.get('latency_ms'))} (source on ONNX Runtime {_ms(src.get('latency_ms'))}, "
        f"speedup {_x(c.get('speedup_p50'))}, {c.get('threads')} threads, batch 1)",
    ]
    eager = c.get("eager") or {}
    if eager:
        lines.append(f"  vs eager   PyTorch eager p50 {eager['eager_p50_ms']:.3f} ms, package "
                     f"{eager['aoti_p50_ms']:.3f} ms ({_x(eager.get('speedup_vs_eager'))})")
    tp = c.get("throughput") or {}
    if tp:
        lines.append(f"  throughput {tp.get('ips', 0):.0f} samples/s at batch {tp.get('batch')}")
    agree = fid.get("top1_agreement")
    lines.append(f"  fidelity   top-1 agreement {agree:.2%}, cosine {fid.get('cosine', 0):.6f}, "
                 f"max abs err {fid.get('max_abs_err', 0):.3g}" if agree is not None else
                 f"  fidelity   cosine {fid.get('cosine', 0):.6f}, max abs err {fid.get('max_abs_err', 0):.3g}")
    parent = c.get("fidelity_vs_parent") or {}
    if parent:   # the figure above is against the original model; this one against the variant built from
        pa = parent.get("top1_agreement")
        lines.append(f"  (above: vs the original {c.get('fidelity_reference')}); vs parent "
                     + (f"top-1 {pa:.2%}, " if pa is not None else "") + f"cosine {parent.get('cosine', 0):.6f}")
    if c.get("speedup_interval"):
        lo, hi = c["speedup_interval"]
        lines.append(f"  speedup    {_x(c.get('speedup_p50'))} [{lo:.2f}-{hi:.2f}] over rounds timed interleaved"
                     + (", within noise" if c.get("speedup_within_noise") else ""))
    if c.get("accuracy") is not None:
        lines.append(f"  accuracy   {c['accuracy']:.2%}")
    if c.get("nodes"):
        lines.append(f"  graph      {c['nodes'][0]} → {c['nodes'][1]} nodes; fusions: "
                     + (", ".join(f"{f['fusion']} ×{f['count']}" for f in c.get("fusions") or []) or "none"))
    if c.get("layers") is not None:
        lines.append(f"  engine     {c['layers']} layers; precisions {c.get('precisions')}")
    lines += [f"  note: {n}" for n in c.get("notes") or []]
    print("\n".join(lines), file=out)
