"""Optimization-depth targets (issue 17) on the labs' sample; JSON to benchmarks/results/depth_targets.json.

On ``sample_models/digits32_resnet.pt`` (held-out ``digits32_test.npz``, training split ``digits32_train.npz``,
found by the pipeline), every variant is built and measured through the variant pipeline in a temporary
workspace (accuracy on the 450 held-out digits; speed paired with the FP32 baseline):

- ``--part qat``: post-training INT8 (static QDQ U8/S8 per-channel, min/max) and QAT INT8 (``--qat-epochs`` of
  fake-quant fine-tuning, then the same ORT quantizer); target: QAT accuracy >= post-training accuracy. The
  baseline and both INT8 variants are then timed side by side in one interleaved run.
- ``--part prune``: 70 % structured pruning, one-shot + ``--recover`` epochs, iterative (``--steps`` steps, the
  same recovery epochs shared between them), regularized (``--reg-epochs`` of group regularization before
  pruning + the same recovery epochs) and, for the regularized run's extra training, one-shot + (recover +
  reg-epochs); target: iterative or regularized loses >= 1 point less than one-shot + the same recovery.
- ``--part curve``: the pruning curve (``--amounts``, each + 1 recovery epoch), largest amount within 1 point.

Each part merges its section into the JSON with the date, the command, the machine load before/after and the
threads. Run each part under the CPU lock:
  flock /tmp/cpu.lock .venv/bin/python benchmarks/depth_targets.py --part qat
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from side_by_side import load_average  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "depth_targets.json"
MODEL = ROOT / "sample_models" / "digits32_resnet.pt"


def _ctx(work: Path, threads: int, subset: int | None):
    from engines.optimize.context import MeasureOptions, open_context

    ctx = open_context(MODEL, workspace=work / "ws", threads=threads,
                       measure=MeasureOptions(iterations=100, budget_s=2.0, warmup=5, throughput_batch=32))
    if subset:
        ctx.train_x, ctx.train_y = ctx.train_x[:subset], ctx.train_y[:subset]
    return ctx


def _row(v, base) -> dict:
    m = v.metrics or {}
    sp = (m.get("paired") or {}).get("speedup") or {}
    acc, b = m.get("accuracy"), base.metrics.get("accuracy")
    return {"name": v.name, "status": v.status, "error": v.error, "accuracy": acc,
            "drop_points": None if acc is None or b is None else round((b - acc) * 100, 3),
            "speedup_vs_fp32": sp.get("value"), "speedup_interval": sp.get("interval"),
            "p50_ms": (m.get("latency_ms") or {}).get("p50"), "macs": m.get("macs"), "size_bytes": m.get("size_bytes")}


def qat_part(ctx, args) -> dict:
    from engines.optimize.qat_variant import qat_beside_ptq
    from engines.optimize.recipes import Recipe
    from engines.optimize.tune import race

    t0 = time.perf_counter()
    cmp = qat_beside_ptq(ctx, Recipe(quant="int8-qat", qat_epochs=args.qat_epochs))
    build_s = time.perf_counter() - t0
    out = {"baseline": _row(cmp.baseline, cmp.baseline), "ptq_int8": _row(cmp.ptq, cmp.baseline),
           "qat_int8": _row(cmp.qat, cmp.baseline), "qat_epochs": args.qat_epochs, "build_seconds": round(build_s, 1),
           "qat_extra": (cmp.qat.extra or {}).get("quant", {}).get("qat")}
    if cmp.qat.status == "ok" and cmp.ptq.status == "ok":
        timed = race(ctx, [cmp.baseline, cmp.ptq, cmp.qat], rounds=args.rounds, iters=args.iters)
        out["side_by_side"] = {"rounds": args.rounds, "iterations": args.iters, "p50_ms": {
            "fp32": timed.latency_ms[cmp.baseline.id]["p50"], "ptq_int8": timed.latency_ms[cmp.ptq.id]["p50"],
            "qat_int8": timed.latency_ms[cmp.qat.id]["p50"]},
            "speedup_vs_fp32": {"ptq_int8": timed.ratios[cmp.ptq.id].to_dict(),
                                "qat_int8": timed.ratios[cmp.qat.id].to_dict()}}
        out["control_float_finetune_then_ptq"] = _control(ctx, args)
        q, p = out["qat_int8"]["accuracy"], out["ptq_int8"]["accuracy"]
        out["target"] = {"qat_accuracy_ge_ptq": q >= p, "qat_minus_ptq_points": round((q - p) * 100, 3)}
    return out


def _control(ctx, args) -> dict:
    """The same fine-tune without fake quantization (float, same lr, epochs, seed), then the same PTQ:
    separates what QAT buys from what more training buys."""
    import numpy as np

    from engines.measure.runners import OnnxRunner
    from engines.models.export import export_to_onnx
    from engines.models.torch_load import load_torch_module
    from engines.optimize.finetune import finetune
    from engines.optimize.qat import QAT_LR
    from engines.optimize.quantize_ort import quantize_int8_static

    work = ctx.workspace.root / "control"
    work.mkdir(parents=True, exist_ok=True)
    module = load_torch_module(MODEL)
    ft = finetune(module, ctx.train_x, ctx.train_y, epochs=args.qat_epochs, lr=QAT_LR, checkpoint_dir=work)
    export_to_onnx(module, work / "float.onnx", (__import__("torch").from_numpy(ctx.x[:2]),),
                   input_spec=ctx.model_info().inputs)
    quantize_int8_static(work / "float.onnx", work / "int8.onnx", ctx.calib_x, samples=128)
    out = {}
    for name in ("float", "int8"):
        r = OnnxRunner(work / f"{name}.onnx", threads=args.threads)
        logits = r.run({r.inputs[0].name: ctx.x})[0]
        out[f"{name}_accuracy"] = float(np.mean(logits.argmax(1) == ctx.y))
    out["finetune_heldout_accuracy"] = ft.final_accuracy
    return out


def prune_part(ctx, args) -> dict:
    from engines.optimize.pipeline import apply_recipe
    from engines.optimize.recipes import Recipe

    amount, r, reg = args.amount, args.recover, args.reg_epochs
    recipes = {
        "one_shot": Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=r),
        "iterative": Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=r,
                            prune_schedule="iterative", prune_steps=args.steps),
        "regularized": Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=r,
                              prune_schedule="regularized", reg_epochs=reg, prune_reg=args.reg),
        "one_shot_same_total_epochs": Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=r + reg),
    }
    out: dict = {"amount": amount, "recover_epochs": r, "steps": args.steps, "reg_epochs": reg, "reg": args.reg}
    base = None
    for key, recipe in recipes.items():
        t0 = time.perf_counter()
        res = apply_recipe(ctx, recipe)
        base = res.baseline
        out[key] = {**_row(res.variant, base), "seconds": round(time.perf_counter() - t0, 1)}
        print(key, out[key]["accuracy"], out[key]["seconds"], flush=True)
    out["baseline"] = _row(base, base)
    one = out["one_shot"]["drop_points"]
    best = min((out[k]["drop_points"] for k in ("iterative", "regularized") if out[k]["drop_points"] is not None),
               default=None)
    if one is not None and best is not None:
        out["target"] = {"one_shot_drop": one, "best_schedule_drop": best,
                         "points_less_than_one_shot": round(one - best, 3), "met_1_point": one - best >= 1.0}
    return out


def curve_part(ctx, args) -> dict:
    from engines.optimize.prune_curve import parse_amounts, prune_curve

    curve = prune_curve(ctx, parse_amounts(args.amounts), recover_epochs=1, max_drop=1.0)
    return curve.to_dict()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["qat", "prune", "curve"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--subset", type=int, help="use only the first N training samples (short runs)")
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--amount", type=float, default=0.7)
    ap.add_argument("--recover", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--reg-epochs", type=int, default=2)
    ap.add_argument("--reg", type=float, default=1e-3)
    ap.add_argument("--amounts", default="0,0.3,0.5,0.7,0.9")
    ap.add_argument("--tag", help="store the section as PART:TAG (a second configuration beside the default)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    load_before = load_average()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="depth-") as work:
        ctx = _ctx(Path(work), args.threads, args.subset)
        section = {"qat": qat_part, "prune": prune_part, "curve": curve_part}[args.part](ctx, args)
    section["meta"] = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
                       "command": "python benchmarks/depth_targets.py " + " ".join(sys.argv[1:]),
                       "load_before": load_before, "load_after": load_average(), "threads": args.threads,
                       "train_samples": None if ctx.train_y is None else int(len(ctx.train_y)),
                       "held_out_samples": int(len(ctx.x)), "seconds": round(time.perf_counter() - t0, 1),
                       "cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data[args.part + (f":{args.tag}" if args.tag else "")] = section
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(RESULTS)
    print(json.dumps(section, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
