"""Figures a user can trust (issue 10); JSON to benchmarks/results/trust_targets.json.

1. ResNet-18 224x224 (seeded random weights) INT8 static (U8/S8 QDQ) vs FP32 through the optimize pipeline
   (``apply_recipe``: the variant is timed interleaved with the baseline), in N fresh workspaces on an idle
   machine and N with a background process busy on one core. Reference: the idle paired ratio of a longer
   side-by-side run. Targets: every reported ratio within +-15 % of it, none on the wrong side of 1.0, each
   with its interval.
2. The same auto-tune (digits CNN sample, quantization recipes) in N fresh workspaces: the same recommendation
   every time.
3. A model with NaN outputs fails (with the count); one with constant outputs gets the "meaningless" warning.

Run: flock /tmp/cpu.lock .venv/bin/python benchmarks/trust_targets.py [--runs 5 --samples 16 --budget 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "trust_targets.json"
TOLERANCE = 0.15


def _busy_core() -> subprocess.Popen:
    """A background process spinning on one core (a neighbour)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def resnet_section(work: Path, args: argparse.Namespace) -> dict:
    from engines.measure.paired import check_load, runner_calls, time_paired
    from engines.measure.runners import example_feeds
    from engines.measure.speed import open_timing_runner
    from engines.models.samples import generate_resnet18
    from engines.optimize.context import MeasureOptions
    from engines.optimize.pipeline import apply_recipe, open_context
    from engines.optimize.recipes import Recipe

    model = work / "resnet18.onnx"
    if not model.exists():
        print("generating ResNet-18 (seeded random weights)", flush=True)
        generate_resnet18(work)
    x = np.random.default_rng(1).standard_normal((args.samples, 3, 224, 224)).astype(np.float32)
    recipe = Recipe(quant="int8-static", calib_samples=args.samples)
    measure = MeasureOptions(iterations=args.iterations, budget_s=args.seconds, warmup=3, throughput_batch=4,
                             eval_batch=8)
    runs = []
    ref_paths = None
    for phase in ("idle", "busy"):
        for i in range(args.runs):
            neighbour = _busy_core() if phase == "busy" else None
            try:
                time.sleep(0.5 if neighbour else 0.0)
                ctx = open_context(model, data=(x, None), workspace=work / f"ws-{phase}-{i}", measure=measure)
                t0 = time.perf_counter()
                res = apply_recipe(ctx, recipe)
                m = res.variant.metrics
                sp = (m.get("paired") or {}).get("speedup") or {}
                runs.append({"phase": phase, "run": i, "status": res.variant.status, "error": res.variant.error,
                             "speedup": sp.get("value"), "interval": sp.get("interval"),
                             "within_noise": sp.get("within_noise"), "rounds": sp.get("rounds"),
                             "load": {k: m.get("measured", {}).get(k) for k in ("load1", "steal_pct", "busy")},
                             "threads": m.get("threads"), "seconds": round(time.perf_counter() - t0, 1)})
                print(f"  {phase} {i}: {runs[-1]['speedup']} {runs[-1]['interval']} rounds {runs[-1]['rounds']}",
                      flush=True)
                if ref_paths is None:
                    ref_paths = {"fp32": ctx.workspace.model_path(res.baseline),
                                 "int8": ctx.workspace.model_path(res.variant)}
            finally:
                if neighbour is not None:
                    neighbour.terminate()
                    neighbour.wait()
    print(f"idle reference: side by side, {args.ref_rounds} rounds", flush=True)
    load = check_load()
    runners = {k: open_timing_runner(p, "onnx", None) for k, p in ref_paths.items()}
    feeds = {k: example_feeds(r.inputs, batch=1, data=x[:1]) for k, r in runners.items()}
    ref = time_paired(runner_calls(runners, feeds), "fp32", rounds=args.ref_rounds, iterations=5, load=load)
    idle = ref.ratios["int8"]
    ok = [r for r in runs if r["speedup"] is not None]
    within = [abs(r["speedup"] / idle.value - 1.0) <= TOLERANCE for r in ok]
    side = [(r["speedup"] > 1.0) == (idle.value > 1.0) or r["within_noise"] for r in ok]
    return {
        "model": "ResNet-18 (engines.models.zoo, seeded random weights), 224x224, batch 1, ONNX Runtime CPU",
        "recipe": recipe.label(), "samples": args.samples,
        "measure": {"iterations": args.iterations, "seconds": args.seconds},
        "idle_paired_reference": {**idle.to_dict(), "load": load.to_dict(), "p50_ms": {
            k: round(v["p50"], 3) for k, v in ref.latency_ms.items()}},
        "runs": runs,
        "targets": {"all_within_15pct_of_idle_paired": bool(ok) and len(ok) == len(runs) and all(within),
                    "none_on_wrong_side_of_1": all(side), "each_has_interval": all(r["interval"] for r in ok)},
        "within_15pct": within,
    }


def tune_section(work: Path, args: argparse.Namespace) -> dict:
    from engines.optimize.context import MeasureOptions
    from engines.optimize.pipeline import open_context
    from engines.optimize.tune import tune

    model = ROOT / "sample_models" / "digits_cnn.onnx"
    picks = []
    for i in range(args.runs):
        ctx = open_context(model, workspace=work / f"tune-{i}",
                           measure=MeasureOptions(iterations=60, budget_s=0.5, warmup=3, throughput_batch=8))
        res = tune(ctx, max_drop=1.0, budget_s=args.budget, pruning=False)
        picks.append({"recommended": res.recommended.name, "raced_p50_ms": res.raced,
                      "notes": [n for n in res.notes if "race" in n or "interval" in n or "busy" in n]})
        print(f"  tune {i}: {res.recommended.name}", flush=True)
    names = [p["recommended"] for p in picks]
    return {"model": "digits_cnn.onnx (sample), quantization recipes, max drop 1 point", "runs": picks,
            "targets": {"same_recommendation_every_run": len(set(names)) == 1}}


def degenerate_section(work: Path) -> dict:
    from engines.errors import WorkbenchError
    from engines.optimize.context import MeasureOptions
    from engines.optimize.pipeline import apply_recipe, open_context
    from engines.optimize.recipes import Recipe
    from tests.unit.optimize_helpers import digits_x
    from tests.unit.test_paired import _onnx

    fast = MeasureOptions(iterations=10, budget_s=0.1, warmup=1, throughput_batch=4)
    out: dict = {}
    nan = _onnx(work / "nan.onnx", nan=True)
    try:
        apply_recipe(open_context(nan, data=(digits_x(16), None), workspace=work / "nan-ws", measure=fast), Recipe())
        out["nan"] = {"failed": False}
    except WorkbenchError as exc:
        out["nan"] = {"failed": True, "message": str(exc)}
    const = _onnx(work / "const.onnx", weight_scale=0.0)
    res = apply_recipe(open_context(const, data=(digits_x(16), None), workspace=work / "const-ws", measure=fast),
                       Recipe())
    out["constant"] = {"warned": any("meaningless" in n for n in res.notes), "notes": res.notes}
    out["targets"] = {"nan_failed": out["nan"]["failed"], "constant_warned": out["constant"]["warned"]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=16, help="evaluation/calibration samples for ResNet-18")
    ap.add_argument("--iterations", type=int, default=35, help="timed calls per model in the optimize pipeline")
    ap.add_argument("--seconds", type=float, default=2.0, help="time cap per model in the optimize pipeline")
    ap.add_argument("--ref-rounds", type=int, default=15)
    ap.add_argument("--budget", type=float, default=60.0, help="auto-tune budget per run (s)")
    ap.add_argument("--work", help="folder for models and workspaces (default: a temp folder)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="trust-"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_before = [round(v, 2) for v in os.getloadavg()]
    from engines.measure.cpu_features import cpu_features
    from engines.measure.paired import available_cores

    print("degenerate outputs", flush=True)
    degen = degenerate_section(work)
    print("ResNet-18 INT8 vs FP32 through the pipeline", flush=True)
    resnet = resnet_section(work, args)
    print("auto-tune repeatability", flush=True)
    tuned = tune_section(work, args)
    result = {"started": started, "cpu": cpu_features().summary(), "available_cores": available_cores(),
              "load_average": {"before": load_before, "after": [round(v, 2) for v in os.getloadavg()]},
              "resnet18_int8_paired": resnet, "tune_repeatability": tuned, "degenerate": degen,
              "command": "flock /tmp/cpu.lock .venv/bin/python benchmarks/trust_targets.py " + " ".join(sys.argv[1:])}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
    tmp.replace(RESULTS)
    targets = {f"{k}.{t}": v for k, sec in (("resnet", resnet), ("tune", tuned), ("degenerate", degen))
               for t, v in sec["targets"].items()}
    print(json.dumps(targets, indent=1))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
