"""GPU engine figures for a machine with an NVIDIA GPU; JSON to benchmarks/results/gpu_engines.json.

Paths, each on the sample CNN and ResNet-18 224x224 (random weights), batch 1 and batch 32:

* PyTorch eager on CUDA in FP32, FP16 and BF16 (device tensors, ``torch.cuda.synchronize`` after each call);
* AOTInductor packages compiled for CUDA (FP32 and FP16), device tensors;
* ONNX Runtime's CUDA execution provider, when ``onnxruntime-gpu`` is installed (numpy in and out, so the
  figure includes host<->device copies);
* TensorRT FP32 and FP16 engines built with the workbench's builder, when ``tensorrt`` is installed:
  end-to-end ``run`` (copies included) and device-only ``execute_async_v3`` time from CUDA events, plus the
  output comparison against ONNX Runtime on CPU.

Every path that cannot run here is recorded as skipped with the reason; without a CUDA GPU the script writes
that and exits 0. Nothing is estimated: each number is a measurement on this machine.

Run: .venv/bin/python benchmarks/gpu_engines.py [--iters 100 --skip-resnet --out PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gpu_engines.json"
SAMPLES = ROOT / "sample_models"
BATCHES = (1, 32)


def timed(call: Callable[[], Any], iters: int, sync: Callable[[], None] | None) -> dict[str, float]:
    from engines.measure.harness import percentiles, time_calls

    lat = percentiles(time_calls(call, warmup=10, iterations=iters, budget_s=30, sync=sync))
    return {k: round(v, 4) for k, v in lat.items()}


def attempt(section: dict, key: str, fn: Callable[[], dict]) -> None:
    """Run one path; a missing piece is 'skipped' with its reason, anything else 'failed' with the error."""
    from engines.errors import UnsupportedError

    t0 = time.perf_counter()
    try:
        section[key] = {"status": "ok", **fn()}
    except UnsupportedError as exc:
        section[key] = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # recorded, never hidden
        section[key] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500],
                        "trace": traceback.format_exc(limit=3)[-1500:]}
    section[key]["seconds"] = round(time.perf_counter() - t0, 2)
    print(f"  {key}: {section[key]['status']}", flush=True)


def torch_eager(pt: Path, x: np.ndarray, dtype_name: str, iters: int) -> dict:
    import torch

    from engines.models.torch_load import load_torch_module

    dtype = getattr(torch, dtype_name)
    model = load_torch_module(pt).eval().cuda().to(dtype)
    out = {}
    for b in BATCHES:
        xt = torch.from_numpy(np.repeat(x, b, axis=0)).cuda().to(dtype)

        def call(xt=xt):
            with torch.no_grad():
                return model(xt)

        lat = timed(call, iters, torch.cuda.synchronize)
        out[f"batch{b}"] = {"latency_ms": lat, "ips": round(b * 1000 / lat["p50"], 1)}
    return out


def aoti_cuda(pt: Path, x: np.ndarray, precision: str, work: Path, iters: int) -> dict:
    import torch

    from engines.build.aoti import AotiRunner, build_aoti
    from engines.models.loader import inspect_model

    pkg = work / f"{pt.stem}-{precision}.pt2"
    meta = build_aoti(pt, pkg, inputs=inspect_model(pt).inputs, profile=(1, 8, 32), device="cuda",
                      precision=precision, timeout_s=1800)
    runner = AotiRunner(pkg, device="cuda")
    out: dict[str, Any] = {"compile_s": meta["compile_s"], "package_bytes": pkg.stat().st_size}
    dtype = torch.float16 if precision == "fp16" else torch.float32
    for b in BATCHES:
        xt = torch.from_numpy(np.repeat(x, b, axis=0)).cuda().to(dtype)

        def call(xt=xt):
            with torch.no_grad():
                return runner.model(xt)

        lat = timed(call, iters, torch.cuda.synchronize)
        out[f"batch{b}"] = {"latency_ms": lat, "ips": round(b * 1000 / lat["p50"], 1)}
    return out


def ort_cuda(onnx_path: Path, x: np.ndarray, iters: int) -> dict:
    from engines.build.ort_cuda import open_cuda_runner

    runner = open_cuda_runner(onnx_path)
    out: dict[str, Any] = {"providers": runner.session.get_providers()}
    for b in BATCHES:
        feeds = {runner.inputs[0].name: np.repeat(x, b, axis=0)}
        lat = timed(lambda feeds=feeds: runner.run(feeds), iters, None)
        out[f"batch{b}"] = {"latency_ms": lat, "ips": round(b * 1000 / lat["p50"], 1), "includes_copies": True}
    return out


def tensorrt(onnx_path: Path, x: np.ndarray, precision: str, work: Path, iters: int) -> dict:
    from engines.build.tensorrt_engine import build_tensorrt_engine, compare_with_ort, open_tensorrt_runner
    from engines.build.tensorrt_settings import settings_from_choices

    engine = work / f"{onnx_path.stem}-{precision}.plan"
    settings = settings_from_choices(precision, min_batch=1, opt_batch=8, max_batch=32)
    report = build_tensorrt_engine(onnx_path, engine, settings, timing_cache=work / "timing.cache", timeout_s=1800)
    runner = open_tensorrt_runner(engine)
    name = runner.inputs[0].name
    out: dict[str, Any] = {"build_s": report["build_s"], "layers": report["layers"],
                           "precisions": report["precisions"], "engine_bytes": engine.stat().st_size,
                           "fidelity_vs_ort_cpu": compare_with_ort(onnx_path, engine, {name: np.repeat(x, 8, 0)})}
    for b in BATCHES:
        feeds = {name: np.repeat(x, b, axis=0)}
        lat = timed(lambda feeds=feeds: runner.run(feeds), iters, None)
        out[f"batch{b}"] = {"latency_ms": lat, "ips": round(b * 1000 / lat["p50"], 1), "includes_copies": True,
                            "device_ms": round(runner.device_time_ms(feeds, iterations=iters), 4)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "platform": platform.platform(), "python": platform.python_version()}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        from engines.build.tensorrt_env import local_facts

        facts = local_facts()
        why = "no CUDA GPU visible to PyTorch" + (f" (torch {torch.__version__})" if torch else " (torch missing)")
        result.update(skipped=why, gpu=facts.gpu_name)
        if out_path.is_file() and "models" in json.loads(out_path.read_text() or "{}"):
            print(f"skipped: {why}; kept the GPU results already in {out_path}")
            return 0
        out_path.write_text(json.dumps(result, indent=1))
        print(f"skipped: {why}; wrote {out_path}")
        return 0
    from engines.build.tensorrt_env import local_facts

    facts = local_facts()
    result.update(gpu=torch.cuda.get_device_name(0), compute_capability=facts.compute_capability,
                  torch=torch.__version__, cuda=torch.version.cuda, tensorrt=facts.tensorrt_version,
                  iters=args.iters, models={})
    try:
        import onnxruntime

        result["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        result["onnxruntime"] = None
    with tempfile.TemporaryDirectory(prefix="gpu-engines-") as tmp:
        work = Path(tmp)
        models = [("digits_cnn", SAMPLES / "digits_cnn.onnx", SAMPLES / "digits_cnn.pt",
                   np.load(SAMPLES / "digits_test.npz")["x"][:1].astype(np.float32))]
        if not args.skip_resnet:
            from engines.models.samples import generate_resnet18

            gen = generate_resnet18(work)
            models.append(("resnet18", Path(gen["onnx"]), Path(gen["torchscript"]),
                           np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)))
        for name, onnx_path, pt, x in models:
            print(f"{name}:", flush=True)
            sec: dict[str, Any] = {}
            for dt in ("float32", "float16", "bfloat16"):
                attempt(sec, f"torch_cuda_{dt}", lambda dt=dt: torch_eager(pt, x, dt, args.iters))
            for prec in ("fp32", "fp16"):
                attempt(sec, f"aoti_cuda_{prec}", lambda prec=prec: aoti_cuda(pt, x, prec, work, args.iters))
            attempt(sec, "ort_cuda_fp32", lambda: ort_cuda(onnx_path, x, args.iters))
            for prec in ("fp32", "fp16"):
                attempt(sec, f"tensorrt_{prec}", lambda prec=prec: tensorrt(onnx_path, x, prec, work, args.iters))
            result["models"][name] = sec
            out_path.write_text(json.dumps(result, indent=1))  # partial results survive a later failure
    out_path.write_text(json.dumps(result, indent=1))
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
