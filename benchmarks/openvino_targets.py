"""OpenVINO on CPU, side by side with ONNX Runtime; JSON to benchmarks/results/openvino_targets.json.

ResNet-18 224x224 (seeded random weights), batch 1, the same threads for all, timed in interleaved rounds in
one process (``side_by_side.time_side_by_side``): ONNX Runtime FP32; OpenVINO FP32 IR (f32 math, as built by
``workbench build --backend openvino``); the same IR with the plugin's default math (bf16 on CPUs with bf16
units: what a bare ``compile_model`` gives); the FP16 IR (plugin's math); OpenVINO INT8 (NNCF, 64 calibration
inputs; the layers left in float computed in f32, as built, and with the default math); the workbench's ORT INT8 (``quantize_int8_static``: QDQ U8/S8 per-channel after pre-processing, 64 inputs).
Top-1 agreement of each against ORT FP32 on 32 inputs. Ratios are paired per round (ORT FP32 / other).

Run: flock /tmp/cpu.lock .venv/bin/python benchmarks/openvino_targets.py [--threads 2 --rounds 15 --iters 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from side_by_side import paired_interval, paired_ratio, time_side_by_side  # noqa: E402  (benchmarks/ is on sys.path)

RESULTS = ROOT / "benchmarks" / "results" / "openvino_targets.json"
CALIBRATION = 64
AGREEMENT = 32


def _build(work: Path) -> dict[str, Path]:
    from engines.build.openvino import build_openvino
    from engines.models.samples import generate_resnet18
    from engines.optimize.quantize_ort import quantize_int8_static

    model = work / "resnet18.onnx"
    if not model.exists():
        print("generating ResNet-18 (seeded random weights)", flush=True)
        generate_resnet18(work)
    calib = np.random.default_rng(0).standard_normal((CALIBRATION, 3, 224, 224)).astype(np.float32)
    out = {"ort_fp32": model}
    for name, precision, data in (("ov_fp32", "fp32", None), ("ov_fp16", "fp16", None), ("ov_int8", "int8", calib)):
        folder = work / name
        folder.mkdir(exist_ok=True)
        print(f"building {name}", flush=True)
        build_openvino(model, folder / "model.xml", precision=precision, data=data)
        out[name] = folder / "model.xml"
    print("building ort_int8 (QDQ U8/S8 per-channel)", flush=True)
    quantize_int8_static(model, work / "ort_int8.onnx", calib, samples=CALIBRATION)
    out["ort_int8"] = work / "ort_int8.onnx"
    return out


def _top1(runner, x: np.ndarray) -> np.ndarray:
    name = runner.inputs[0].name
    return np.concatenate([np.argmax(runner.run({name: x[i:i + 1]})[0], axis=1) for i in range(len(x))])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    from engines.build.openvino import open_openvino_runner
    from engines.measure.runners import OnnxRunner

    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="wb-ov-bench-") as tmp:
        paths = _build(Path(tmp))
        runners = {"ov_fp32": open_openvino_runner(paths["ov_fp32"], threads=args.threads),
                   "ov_fp32_default_math": open_openvino_runner(paths["ov_fp32"], threads=args.threads,
                                                                inference_precision="default"),
                   "ov_fp16": open_openvino_runner(paths["ov_fp16"], threads=args.threads),
                   "ov_int8": open_openvino_runner(paths["ov_int8"], threads=args.threads),
                   "ov_int8_default_math": open_openvino_runner(paths["ov_int8"], threads=args.threads,
                                                                inference_precision="default")}
        math = {k: r.inference_precision for k, r in runners.items()}
        onnx_paths = {"ort_fp32": paths["ort_fp32"], "ort_int8": paths["ort_int8"]}
        x1 = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
        print(f"timing side by side ({args.rounds} rounds x {args.iters} calls, {args.threads} threads)", flush=True)
        lat = time_side_by_side(onnx_paths, x1, threads=args.threads, rounds=args.rounds, iters=args.iters,
                                runners=runners)
        xa = np.random.default_rng(2).standard_normal((AGREEMENT, 3, 224, 224)).astype(np.float32)
        ref = _top1(OnnxRunner(paths["ort_fp32"], threads=args.threads), xa)
        agree = {"ort_int8": float(np.mean(_top1(OnnxRunner(paths["ort_int8"], threads=args.threads), xa) == ref))}
        agree.update({k: float(np.mean(_top1(r, xa) == ref)) for k, r in runners.items()})
        sizes = {k: sum(f.stat().st_size for f in (p, p.with_suffix(".bin")) if f.is_file()) for k, p in paths.items()}
    speedup = {k: round(paired_ratio(lat, "ort_fp32", k), 3) for k in lat if k != "ort_fp32"}
    intervals = {k: paired_interval(lat, "ort_fp32", k) for k in lat if k != "ort_fp32"}
    import openvino
    import onnxruntime

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "flock /tmp/cpu.lock .venv/bin/python benchmarks/openvino_targets.py " + " ".join(sys.argv[1:]),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "openvino": openvino.__version__, "onnxruntime": onnxruntime.__version__},
        "load_average": {"before": load_before, "after": [round(v, 2) for v in os.getloadavg()]},
        "model": "ResNet-18 224x224, seeded random weights, batch 1",
        "threads": args.threads, "rounds": args.rounds, "iters": args.iters,
        "calibration_inputs": CALIBRATION, "agreement_inputs": AGREEMENT,
        "openvino_inference_precision": math,
        "latency_ms": lat, "speedup_vs_ort_fp32_paired": speedup,
        "speedup_interval_95": intervals, "top1_agreement_vs_ort_fp32": agree,
        "size_bytes": sizes,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({"p50_ms": {k: v["p50"] for k, v in lat.items()}, "speedup": speedup, "agreement": agree,
                      "math": math}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
