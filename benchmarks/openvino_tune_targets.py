"""OpenVINO through the auto-tuner; JSON to benchmarks/results/openvino_tune_targets.json (one section per run).

``--section resnet``: ResNet-18 224x224 (engines.models.zoo, seeded random weights, opened as the TorchScript
file so structured pruning can run), batch 1, the same threads for all. The auto-tuner (max drop 1 point of
top-1 agreement, no pruning: on random weights pruning cannot keep fidelity) recommends a variant; the
combined recipe (structured 50 % + OpenVINO NNCF INT8, and + ORT INT8 for reference; no recovery: speed does
not depend on it) is applied through the variant pipeline. Then ORT FP32, the recommended variant, both INT8
variants and both combined variants are timed side by side in one process (interleaved rotating rounds,
``side_by_side.time_side_by_side``). Targets: recommended >= 3.6x ORT FP32 at top-1 agreement >= 0.99;
combined OpenVINO >= 8x ORT FP32 of the unpruned model.

``--section digits``: the trained lab sample (sample_models/digits32_resnet.pt, labels in digits32_test.npz,
calibration and recovery on digits32_train.npz): the full tuner with pruning and 3 recovery epochs, max drop
1 point of accuracy. Target: the combined recipe is recommended whenever it is within the accuracy budget.

Run: flock /tmp/cpu.lock .venv/bin/python benchmarks/openvino_tune_targets.py --section resnet|digits
     [--threads 2 --rounds 15 --iters 20 --budget 150]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from side_by_side import paired_interval, paired_ratio, time_side_by_side  # noqa: E402  (benchmarks/ is on sys.path)

RESULTS = ROOT / "benchmarks" / "results" / "openvino_tune_targets.json"


def _row(ctx, v, base) -> dict:
    from engines.optimize.tune import quality_drop

    m = v.metrics or {}
    return {"name": v.name, "format": v.format, "status": v.status, "error": v.error,
            "p50_ms": (m.get("latency_ms") or {}).get("p50"), "p50_source": m.get("latency_source", "when built"),
            "paired_speedup": ((m.get("paired") or {}).get("speedup") or {}).get("value"),
            "accuracy": m.get("accuracy"), "top1_agreement": (m.get("fidelity") or {}).get("top1_agreement"),
            "drop_points": quality_drop(v, base, "accuracy" if ctx.has_labels else "fidelity"),
            "size_bytes": m.get("size_bytes")}


def _tune_record(ctx, res, seconds: float) -> dict:
    return {"seconds": round(seconds, 1), "recommended": res.recommended.name, "quality": res.quality_key,
            "qualifying": [v.name for v in res.qualifying], "skipped": res.skipped,
            "race_p50_ms": {ctx.workspace.get(k).name: round(t, 3) for k, t in res.raced.items()},
            "tried": [_row(ctx, v, res.baseline) for v in res.tried], "notes": res.notes}


def _top1(runner, x: np.ndarray) -> np.ndarray:
    name = runner.inputs[0].name
    return np.concatenate([np.argmax(runner.run({name: x[i:i + 1]})[0], axis=1) for i in range(len(x))])


def resnet_section(work: Path, args: argparse.Namespace) -> dict:
    from engines.measure.runners import OnnxRunner, open_runner
    from engines.models.samples import generate_resnet18
    from engines.optimize.context import MeasureOptions
    from engines.optimize.pipeline import apply_recipe, open_context
    from engines.optimize.recipes import Recipe
    from engines.optimize.tune import FAST_INT8, tune

    pt = work / "resnet18.pt"
    if not pt.exists():
        print("generating ResNet-18 (seeded random weights)", flush=True)
        generate_resnet18(work)
    ctx = open_context(pt, workspace=work / "ws", threads=args.threads,
                       measure=MeasureOptions(iterations=50, budget_s=2.0, throughput_batch=8))
    print(f"auto-tuning (budget {args.budget:g} s, max drop 1 point, no pruning)", flush=True)
    t0 = time.perf_counter()
    res = tune(ctx, max_drop=1.0, budget_s=args.budget, pruning=False)
    tune_s = time.perf_counter() - t0
    print(f"recommended: {res.recommended.name} ({tune_s:.0f} s)", flush=True)
    combined = {}
    for key, quant in (("combined_ov", "openvino-int8"), ("combined_ort", "int8-static")):
        print(f"applying structured 50% + {quant}", flush=True)
        r = apply_recipe(ctx, Recipe(prune_mode="structured", prune_amount=0.5, quant=quant))
        combined[key] = r.variant
    ov_int8 = apply_recipe(ctx, Recipe(quant="openvino-int8")).variant
    ort_int8 = apply_recipe(ctx, FAST_INT8).variant
    field = {"ort_fp32": res.baseline, "recommended": res.recommended, "ov_int8": ov_int8, "ort_int8": ort_int8,
             **combined}
    field = {k: v for k, v in field.items() if v.status == "ok" and (k == "recommended" or k == "ort_fp32"
                                                                    or v.id != res.recommended.id)}
    runners = {k: open_runner(ctx.workspace.model_path(v), v.format, threads=args.threads) for k, v in field.items()
               if k != "ort_fp32"}
    base_path = ctx.workspace.model_path(res.baseline)
    x1 = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    load_before = [round(v, 2) for v in os.getloadavg()]
    print(f"timing side by side ({args.rounds} rounds x {args.iters} calls, {args.threads} threads)", flush=True)
    lat = time_side_by_side({"ort_fp32": base_path}, x1, threads=args.threads, rounds=args.rounds, iters=args.iters,
                            runners=runners)
    load_after = [round(v, 2) for v in os.getloadavg()]
    xa = np.random.default_rng(2).standard_normal((32, 3, 224, 224)).astype(np.float32)
    ref = _top1(OnnxRunner(base_path, threads=args.threads), xa)
    agree = {k: float(np.mean(_top1(r, xa) == ref)) for k, r in runners.items()}
    speedup = {k: round(paired_ratio(lat, "ort_fp32", k), 3) for k in lat if k != "ort_fp32"}
    intervals = {k: paired_interval(lat, "ort_fp32", k) for k in lat if k != "ort_fp32"}
    rec_speed = speedup.get("recommended")
    rec_agree = agree.get("recommended")
    comb = speedup.get("combined_ov")
    return {
        "model": "ResNet-18 (engines.models.zoo, seeded random weights) 224x224 from resnet18.pt, batch 1, CPU",
        "threads": args.threads, "rounds": args.rounds, "iters": args.iters,
        "tune": _tune_record(ctx, res, tune_s),
        "variants": {k: {"name": v.name, "format": v.format, "size_bytes": v.metrics.get("size_bytes")}
                     for k, v in field.items()},
        "latency_ms": lat, "speedup_vs_ort_fp32_paired": speedup,
        "speedup_interval_95": intervals, "top1_agreement_vs_ort_fp32_32_inputs": agree,
        "load_average_timing": {"before": load_before, "after": load_after},
        "targets": {"recommended_ge_3_6x_at_agreement_ge_0_99": bool(rec_speed and rec_speed >= 3.6
                                                                      and rec_agree is not None and rec_agree >= 0.99),
                    "recommended_speedup": rec_speed, "recommended_agreement": rec_agree,
                    "combined_ov_ge_8x": bool(comb and comb >= 8.0), "combined_ov_speedup": comb},
    }


def digits_section(work: Path, args: argparse.Namespace) -> dict:
    from engines.optimize.context import MeasureOptions
    from engines.optimize.pipeline import open_context
    from engines.optimize.tune import quality_drop, tune

    model = ROOT / "sample_models" / "digits32_resnet.pt"
    ctx = open_context(model, workspace=work / "digits_ws", threads=args.threads,
                       measure=MeasureOptions(iterations=60, budget_s=1.0, throughput_batch=32))
    print(f"auto-tuning the lab sample (budget {args.budget:g} s, max drop 1 point, pruning + 3 recovery epochs)",
          flush=True)
    t0 = time.perf_counter()
    res = tune(ctx, max_drop=1.0, budget_s=args.budget, pruning=True, recover_epochs=3)
    tune_s = time.perf_counter() - t0
    combined = [v for v in res.tried if (v.recipe or {}).get("prune_mode") == "structured"
                and (v.recipe or {}).get("quant") not in (None, "none")]
    within = [v for v in combined if v.status == "ok" and (d := quality_drop(v, res.baseline, "accuracy")) is not None
              and d <= 1.0 + 1e-9]
    rec_is_combined = any(v.id == res.recommended.id for v in combined)
    return {"model": "sample_models/digits32_resnet.pt (trained), held-out digits32_test.npz (labels), "
                     "calibration and recovery on digits32_train.npz",
            "threads": args.threads, "baseline_accuracy": res.baseline.metrics.get("accuracy"),
            "tune": _tune_record(ctx, res, tune_s),
            "combined_within_budget": [v.name for v in within],
            "targets": {"combined_recommended_when_within_budget": (rec_is_combined if within else None),
                        "recommended": res.recommended.name, "recommended_is_combined": rec_is_combined}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--section", choices=("resnet", "digits"), required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--budget", type=float, default=150.0)
    ap.add_argument("--work", help="keep the models and workspaces in this folder (default: a temp folder)")
    args = ap.parse_args()
    import nncf
    import onnxruntime
    import openvino

    load_before = [round(v, 2) for v in os.getloadavg()]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wb-ov-tune-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        section = (resnet_section if args.section == "resnet" else digits_section)(work, args)
    section.update({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "flock /tmp/cpu.lock .venv/bin/python benchmarks/openvino_tune_targets.py " + " ".join(sys.argv[1:]),
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "openvino": openvino.__version__, "nncf": nncf.__version__, "onnxruntime": onnxruntime.__version__},
        "load_average": {"before": load_before, "after": [round(v, 2) for v in os.getloadavg()]},
    })
    got = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    got[args.section] = section
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(got, indent=1, default=str) + "\n")
    print(json.dumps(section["targets"], indent=1))
    print(json.dumps({k: section[k] for k in ("speedup_vs_ort_fp32_paired", "top1_agreement_vs_ort_fp32_32_inputs")
                      if k in section}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
