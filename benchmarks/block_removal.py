"""Layer/block removal figures (issue 17); JSON to benchmarks/results/block_removal.json.

- ``--part lab``: the labs' sample ``digits32_resnet.pt`` (held-out ``digits32_test.npz``, training split
  ``digits32_train.npz``, found by the pipeline). Its only identity-shortcut block (``layer1``) removed, without
  recovery and with ``--recover`` epochs (and, for comparison, 50 % structured pruning with the same recovery);
  accuracy against the original on the 450 held-out digits.
- ``--part resnet18``: ResNet-18 with seeded random weights (``workbench samples generate resnet18``), 1, 2 and
  3 blocks removed (of its 5 identity-shortcut blocks), chosen on 64 random inputs; quality is top-1 agreement
  with the original on those inputs (random weights: it says what changed, not how good it is).

Every variant is built through the variant pipeline in a temporary workspace, then the baseline and every
variant are timed side by side in one interleaved run (rotating order, batch 1), so each speedup is paired and
has its 95 % interval. Run under the CPU lock:
  flock /tmp/cpu.lock .venv/bin/python benchmarks/block_removal.py --part lab
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

RESULTS = ROOT / "benchmarks" / "results" / "block_removal.json"
LAB = ROOT / "sample_models" / "digits32_resnet.pt"


def _row(v, base) -> dict:
    m = v.metrics or {}
    acc, b = m.get("accuracy"), base.metrics.get("accuracy")
    blocks = ((v.extra or {}).get("prune") or {}).get("blocks") or {}
    return {"name": v.name, "status": v.status, "error": v.error, "accuracy": acc,
            "drop_points": None if acc is None or b is None else round((b - acc) * 100, 3),
            "top1_agreement": (m.get("fidelity") or {}).get("top1_agreement"),
            "cosine": (m.get("fidelity") or {}).get("cosine"), "macs": m.get("macs"),
            "size_bytes": m.get("size_bytes"), "removed": blocks.get("removed"),
            "change_alone": blocks.get("change_alone"), "output_change": blocks.get("output_change"),
            "finetune_epochs": ((v.extra or {}).get("finetune") or {}).get("epochs_done")}


def run(model: Path, recipes: dict, args, work: Path) -> dict:
    from engines.optimize.context import MeasureOptions, open_context
    from engines.optimize.pipeline import apply_recipe
    from engines.optimize.tune import race

    ctx = open_context(model, workspace=work / "ws", threads=args.threads,
                       measure=MeasureOptions(iterations=50, budget_s=1.0, warmup=5, throughput_batch=8))
    out: dict = {"model": model.name, "data": ctx.data_source, "notes": list(ctx.notes), "variants": {}}
    built = []
    base = None
    for key, recipe in recipes.items():
        t0 = time.perf_counter()
        res = apply_recipe(ctx, recipe)
        base = res.baseline
        out["variants"][key] = {**_row(res.variant, base), "build_seconds": round(time.perf_counter() - t0, 1)}
        print(key, out["variants"][key]["accuracy"], out["variants"][key]["top1_agreement"], flush=True)
        if res.variant.status == "ok":
            built.append((key, res.variant))
    out["baseline"] = {**_row(base, base), "macs": ctx.model_info().macs}
    timed = race(ctx, [base] + [v for _, v in built], rounds=args.rounds, iters=args.iters)
    out["side_by_side"] = {"rounds": args.rounds, "iterations": args.iters, "batch": 1,
                           "baseline_p50_ms": timed.latency_ms[base.id]["p50"],
                           "variants": {k: {"p50_ms": timed.latency_ms[v.id]["p50"],
                                            "speedup": timed.ratios[v.id].to_dict()} for k, v in built}}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["lab", "resnet18"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recover", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    import torch

    from engines.optimize.recipes import Recipe

    torch.set_num_threads(args.threads)
    load_before = load_average()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="blocks-") as tmp:
        work = Path(tmp)
        if args.part == "lab":
            r = args.recover
            recipes = {"remove_1": Recipe(prune_mode="blocks", prune_blocks=1),
                       f"remove_1_recover_{r}": Recipe(prune_mode="blocks", prune_blocks=1, recover_epochs=r),
                       f"structured_50_recover_{r}": Recipe(prune_mode="structured", prune_amount=0.5,
                                                            recover_epochs=r)}
            section = run(LAB, recipes, args, work)
        else:
            from engines.models.samples import generate_resnet18

            generate_resnet18(work / "model")
            recipes = {f"remove_{n}": Recipe(prune_mode="blocks", prune_blocks=n) for n in (1, 2, 3)}
            section = run(work / "model" / "resnet18.pt", recipes, args, work)
    section["meta"] = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
                       "command": "python benchmarks/block_removal.py " + " ".join(sys.argv[1:]),
                       "load_before": load_before, "load_after": load_average(), "threads": args.threads,
                       "seconds": round(time.perf_counter() - t0, 1),
                       "cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data[args.part] = section
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = RESULTS.with_suffix(".json.tmp")
    tmp_file.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp_file.replace(RESULTS)
    print(json.dumps(section, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
