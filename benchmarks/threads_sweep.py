"""Threads and streams sweep on real models; JSON to benchmarks/results/threads_sweep.json.

ResNet-18 (224x224, random weights, exported to ONNX) and the bundled digits32 ResNet sample: latency
against intra-op threads 1, 2, 4, ... up to the cores this process may run on, and throughput against
concurrent ONNX Runtime sessions and OpenVINO streams sharing those cores, all interleaved in the same
rounds (engines.measure.threads.sweep_threads), with the recommendation.

Run: flock /tmp/cpu.lock .venv/bin/python benchmarks/threads_sweep.py [--rounds 9 --iters 10 --batch 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "threads_sweep.json"


def _resnet18(work: Path) -> Path:
    from engines.models import zoo
    from engines.models.export import export_to_onnx

    model = zoo.build("ResNet18").eval()
    path = work / "resnet18.onnx"
    export_to_onnx(model, path, zoo.example_inputs("ResNet18"), input_spec=zoo.input_specs("ResNet18"))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--skip-resnet18", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    from engines.fsutil import write_text_atomic
    from engines.measure.threads import sweep_threads

    t0 = time.perf_counter()
    load_before = os.getloadavg()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="threads_sweep_") as tmp:
        models = {"digits32_resnet": ROOT / "sample_models" / "digits32_resnet.onnx"}
        if not args.skip_resnet18:
            models["resnet18"] = _resnet18(Path(tmp))
        for name, path in models.items():
            r = sweep_threads(path, batch=args.batch, rounds=args.rounds, iterations=args.iters)
            runs[name] = r.to_dict()
            print(f"{name}: cores {r.cores}")
            for lp in r.latency:
                sp = f"{lp.speedup['value']:.2f}x [{lp.speedup['interval'][0]:.2f}-{lp.speedup['interval'][1]:.2f}]" \
                    if lp.speedup else "reference"
                print(f"  {lp.threads} threads: p50 {lp.p50_ms:.3f} ms, {sp}")
            for tp in r.throughput:
                v = tp.vs_reference
                vs = f"{v['value']:.2f}x [{v['interval'][0]:.2f}-{v['interval'][1]:.2f}]" if v else "reference"
                print(f"  {tp.runtime} {tp.streams}x{tp.threads_per_stream}: {tp.items_per_s:,.0f} items/s, "
                      f"req p99 {tp.request_p99_ms:.2f} ms, {vs}")
            print(f"  latency: {r.recommendation.latency}\n  throughput: {r.recommendation.throughput}")
    result = {"benchmark": "threads_sweep",
              "command": ("python benchmarks/threads_sweep.py " + " ".join(argv or sys.argv[1:])).strip(),
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
              "runs": runs, "seconds": round(time.perf_counter() - t0, 1)}
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
