"""``workbench samples build`` and ``workbench samples generate resnet18|tiny-bert --out DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("samples", help="rebuild the bundled sample models or generate larger ones",
                              description="Rebuild sample_models/ from scikit-learn's bundled digits data "
                                          "(deterministic), or generate ResNet-18 / a tiny BERT-like encoder with "
                                          "seeded random weights for benchmarking.")
    sub = p.add_subparsers(dest="samples_command", metavar="ACTION")
    b = sub.add_parser("build", help="train and write the sample models (PyTorch, ONNX, Keras, TFLite)")
    b.add_argument("--out", help="folder to write (default: the bundled sample_models/)")
    b.add_argument("--no-keras", action="store_true", help="skip the Keras/TFLite models (no TensorFlow needed)")
    b.add_argument("--lab", action="store_true",
                   help="build only the labs' sample (a small ResNet on the digits at 32x32, about a minute)")
    b.add_argument("--json", action="store_true", help="print the manifest as JSON")
    b.set_defaults(handler=run_build)
    g = sub.add_parser("generate", help="write ResNet-18 or a tiny BERT-like model (TorchScript + ONNX)")
    g.add_argument("model", choices=["resnet18", "tiny-bert"])
    g.add_argument("--out", required=True, help="folder to write the files into")
    g.add_argument("--image-size", type=int, default=224, help="ResNet-18 input size (default 224)")
    g.add_argument("--seq-len", type=int, default=128, help="tiny-bert sequence length (default 128)")
    g.add_argument("--json", action="store_true", help="print the result as JSON")
    g.set_defaults(handler=run_generate)
    p.set_defaults(handler=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _progress(quiet: bool) -> Any:
    from engines.tasks import TaskContext

    def show(ev: Any) -> None:
        if not quiet:
            pct = "" if ev.fraction is None else f"{ev.fraction * 100:3.0f}% "
            print(f"{pct}{ev.message}", file=sys.stderr, flush=True)

    return TaskContext(show)


def run_build(args: argparse.Namespace) -> int:
    from engines.models.samples import SAMPLES_DIR, build_samples

    out = args.out or SAMPLES_DIR
    if args.lab:
        from engines.models.lab_sample import build_lab_sample

        manifest = build_lab_sample(out, task=_progress(args.json))
    else:
        manifest = build_samples(out, keras=not args.no_keras, task=_progress(args.json))
    if args.json:
        print(json.dumps(manifest, indent=2))
        return 0
    print(f"sample models written to {out}")
    for name, m in manifest["models"].items():
        print(f"  {name:<22} held-out accuracy {m['held_out_accuracy'] * 100:.2f}%")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from engines.errors import WorkbenchError
    from engines.models.samples import generate_resnet18, generate_tiny_bert

    if args.image_size < 32 or args.seq_len < 1:
        raise WorkbenchError("--image-size must be at least 32 and --seq-len at least 1")
    task = _progress(args.json)
    if args.model == "resnet18":
        result = generate_resnet18(args.out, image_size=args.image_size, task=task)
    else:
        result = generate_tiny_bert(args.out, seq_len=args.seq_len, task=task)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    exp = result["export"]
    print(f"wrote {result['torchscript']} and {result['onnx']}")
    print(f"  ONNX export: {exp['exporter']} exporter, opset {exp['opset']}, checker "
          f"{'ok' if exp['checker_ok'] else 'FAILED'}, max abs err {exp['max_abs_err']:.2e}, cosine {exp['cosine']:.6f}")
    return 0
