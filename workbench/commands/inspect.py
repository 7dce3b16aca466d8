"""``workbench inspect MODEL [--json] [--trust-pickle] [--data FILE.npz]``: the model summary, headless."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    from workbench.commands import add_input_shape_arg

    p = subparsers.add_parser("inspect", help="print a model's summary (format, size, params, MACs, ops, IO)",
                              description="Print a model's summary: format, size on disk, parameters, MACs/FLOPs, "
                                          "op histogram, inputs and outputs (dynamic dims shown), framework "
                                          "and what the format supports here.")
    p.add_argument("model", help="model file or folder (.onnx, .pt, .pt2, .keras, SavedModel, .tflite)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow a pickled full PyTorch module (runs code from the file: only for files you trust)")
    p.add_argument("--data", metavar="FILE.npz", help="also check an .npz (x, optional y) against the model inputs")
    p.add_argument("--layers", action="store_true", help="also list every layer/node (JSON always has them)")
    add_input_shape_arg(p)
    p.set_defaults(handler=run)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_count(n: int | None) -> str:
    if n is None:
        return "unknown"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f} {suffix} ({n:,})"
    return f"{n:,}"


def summary_lines(info: Any, data_notes: list[str] | None = None, layers: bool = False) -> list[str]:
    lines = [
        f"Model      {info.name}",
        f"Path       {info.path}",
        f"Format     {info.format}",
        f"Framework  {info.framework}",
        f"Size       {human_size(info.size_bytes)} on disk ({info.size_bytes:,} bytes)",
        f"Params     {human_count(info.param_count)}",
        f"MACs       {human_count(info.macs)}" + (" per sample" if info.macs is not None else ""),
        f"FLOPs      {human_count(info.flops)}" + (" (2 x MACs)" if info.flops is not None else ""),
    ]
    if info.arch:
        lines.append(f"Arch       {info.arch}")
    lines.append("Inputs")
    lines += [f"  {s.name:<24} {s.shape_text():<22} {s.dtype}" for s in info.inputs] or ["  (none declared)"]
    lines.append("Outputs")
    lines += [f"  {s.name:<24} {s.shape_text():<22} {s.dtype}" for s in info.outputs] or ["  (unknown)"]
    lines.append("Ops")
    lines += [f"  {op:<24} {n}" for op, n in list(info.op_histogram.items())[:25]]
    if len(info.op_histogram) > 25:
        lines.append(f"  ... {len(info.op_histogram) - 25} more op types")
    if layers and info.layers:
        lines.append("Layers")
        for layer in info.layers:
            extra = "".join(f"  {k}={layer[k]:,}" for k in ("params", "macs") if layer.get(k))
            lines.append(f"  {layer['name']:<32} {layer['op']:<20}{extra}")
    lines.append(f"Supports   {info.support}")
    for note in list(info.notes) + list(data_notes or []):
        lines.append(f"Note       {note}")
    return lines


def run(args: argparse.Namespace) -> int:
    from engines.models.loader import inspect_model

    from engines.models.data import load_data, validate_data
    from engines.models.shapes import info_at_shapes, parse_input_shapes

    overrides = parse_input_shapes(args.input_shape)
    raw = load_data(args.data) if args.data else None
    info = inspect_model(args.model, trust_pickle=args.trust_pickle)
    info = info_at_shapes(info, overrides, None if raw is None else raw.x, trust_pickle=args.trust_pickle)
    data_notes: list[str] = []
    data_summary = None
    if raw is not None:
        ds = validate_data(raw, info)
        data_summary = {"path": ds.path, "samples": len(ds), "x_shape": list(ds.x.shape), "x_dtype": str(ds.x.dtype),
                        "labels": ds.y is not None, "notes": ds.notes}
        data_notes = [f"data {args.data}: {len(ds)} samples, x {list(ds.x.shape)} {ds.x.dtype}, "
                      f"{'labels' if ds.y is not None else 'no labels'} - matches the model input"] + ds.notes
    if args.json:
        out = info.to_dict()
        if data_summary is not None:
            out["data"] = data_summary
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        try:
            print("\n".join(summary_lines(info, data_notes, layers=args.layers)))
        except BrokenPipeError:  # `workbench inspect m.onnx | head`
            sys.stdout = open(os.devnull, "w")
    return 0
