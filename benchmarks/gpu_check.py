"""The GPU check: one bounded run on a machine with an NVIDIA GPU, JSON into ``--out`` (default ``$OUT``).

Sections (each one ``ok``, ``skipped`` with the reason, or ``failed`` with the error; nothing estimated):

* ``nvml``: the metrics sampler on the real GPU: which fields came back filled and which ``n/a``;
* ``sweep_cuda``: a batch sweep (1..64) of ResNet-18 through the workbench's PyTorch CUDA runner, with the
  sampler recording GPU utilization and memory during each point;
* ``engines``: PyTorch CUDA FP32/FP16/BF16 and AOTInductor CUDA packages on ResNet-18 and ResNet-50
  (``benchmarks/gpu_engines.py``'s paths), batch 1 and 32;
* ``serving``: the dynamic-batching server on CUDA (PyTorch runner), concurrency 32, batching on then off,
  with the same requests; the on/off throughput ratio.

Assumes only PyTorch with CUDA, numpy, onnx, psutil and nvidia-ml-py; the server needs starlette, uvicorn,
h11 and httpx (small wheels, see benchmarks/gpu_check.sh). ``--device cpu --quick`` runs the same code on a
CPU in a few seconds per section, to check the script itself where no GPU is lent.

Run: python3 benchmarks/gpu_check.py [--out DIR] [--device cuda|cpu] [--quick] [--budget-s 420]
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

from gpu_engines import aoti_cuda, attempt, torch_eager  # noqa: E402


def _script(arch: str, work: Path, image: int) -> Path:
    import torch

    from engines.models import zoo
    from engines.models.torch_load import save_torchscript

    path = work / f"{arch.lower()}.pt"
    if not path.exists():
        model = zoo.build(arch, {"image_size": image})
        save_torchscript(model, path, (torch.randn(2, 3, image, image),), arch=zoo.arch_ref(arch),
                         config={"image_size": image})
    return path


def nvml_section(seconds: float) -> dict:
    from engines.measure.metrics import Sampler, is_na

    sampler = Sampler(deterministic=False)
    snaps = []
    for _ in range(max(2, int(seconds * 2))):
        snaps.append(sampler.poll())
        time.sleep(0.5)
    last = snaps[-1]
    if not last.gpus:
        from engines.errors import UnsupportedError

        raise UnsupportedError(f"no GPU seen by NVML: {getattr(sampler, 'gpu_status', '') or 'n/a'}")
    g = last.gpus[0]
    fields = {k: v for k, v in vars(g).items() if not k.startswith("_")} if hasattr(g, "__dict__") else {}
    if not fields and hasattr(g, "__dataclass_fields__"):
        fields = {k: getattr(g, k) for k in g.__dataclass_fields__}
    filled = sorted(k for k, v in fields.items() if not is_na(v))
    missing = sorted(k for k, v in fields.items() if is_na(v))
    return {"gpus": len(last.gpus), "filled": filled, "na": missing,
            "sample": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in fields.items()}}


def sweep_section(pt: Path, device: str, batches: list[int], iters: int) -> dict:
    from engines.measure.harness import benchmark
    from engines.measure.metrics import MetricsRecorder, Sampler
    from engines.measure.torch_runner import TorchRunner

    runner = TorchRunner(pt, device=device)
    name, shape = runner.inputs[0].name, runner.inputs[0].shape
    rng = np.random.default_rng(0)
    points = []
    sampler = Sampler(deterministic=False)
    for b in batches:
        x = rng.standard_normal((b, *[int(d) for d in shape[1:]])).astype(np.float32)
        rec = MetricsRecorder(sampler)
        res = benchmark(runner, {name: x}, warmup=5, iterations=iters, budget_s=10.0, recorder=rec)
        d = res.to_dict() if hasattr(res, "to_dict") else dict(vars(res))
        points.append({"batch": b, "latency_ms": d.get("latency_ms"), "ips": round(b * 1000 / d["latency_ms"]["p50"], 1),
                       "run_metrics": d.get("run_metrics")})
    return {"device": runner.device, "points": points, "includes_copies": True}


def serving_section(pt: Path, device: str, concurrency: int, requests: int, duration_s: float) -> dict:
    from engines.measure.torch_runner import TorchRunner
    from engines.serving.app import start_server, stop_server
    from engines.serving.loadgen import example_payload, run_concurrency

    runner = TorchRunner(pt, device=device)
    out: dict[str, Any] = {"device": runner.device, "concurrency": concurrency}
    for label, max_batch in (("on", 32), ("off", 1)):
        srv = start_server(runner, "127.0.0.1", 0, max_batch=max_batch, max_delay_ms=2.0)
        try:
            body, ctype = example_payload(srv.url)
            run_concurrency(srv.url, body, ctype, concurrency, requests=min(64, requests), duration_s=5)  # warm
            r = run_concurrency(srv.url, body, ctype, concurrency, requests=requests, duration_s=duration_s)
            out[label] = r.to_dict() if hasattr(r, "to_dict") else vars(r)
        finally:
            stop_server(srv)
    on, off = out["on"].get("throughput_rps") or 0, out["off"].get("throughput_rps") or 0
    out["on_vs_off"] = round(on / off, 2) if off else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and counts (to check the script itself)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop starting new sections after this")
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    import torch

    cuda = torch.cuda.is_available()
    result: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None, "device": args.device,
        "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(), "sections": {}}
    if args.device == "cuda" and not cuda:
        result["sections"]["all"] = {"status": "skipped", "reason": "no CUDA GPU visible to PyTorch"}
        (out_dir / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
        print("no CUDA GPU: nothing measured (see gpu_check.json)")
        return 0
    quick = args.quick
    image = 64 if quick else 224
    iters = 10 if quick else 100
    sec = result["sections"]

    def budget_left() -> bool:
        return time.monotonic() - t_start < args.budget_s

    with tempfile.TemporaryDirectory(prefix="workbench-gpu-check-") as tmp:
        work = Path(tmp)
        r18 = _script("ResNet18", work, image)
        attempt(sec, "nvml", lambda: nvml_section(1.0 if quick else 3.0))
        attempt(sec, "sweep_cuda", lambda: sweep_section(r18, args.device, [1, 2, 4] if quick else
                                                         [1, 2, 4, 8, 16, 32, 64], iters))
        engines: dict[str, Any] = {}
        sec["engines"] = {"status": "ok", "models": engines}
        for arch in ("ResNet18",) if quick else ("ResNet18", "ResNet50"):
            if not budget_left():
                engines[arch] = {"status": "skipped", "reason": "time budget spent"}
                continue
            pt = _script(arch, work, image)
            x = np.random.default_rng(0).standard_normal((1, 3, image, image)).astype(np.float32)
            paths: dict[str, Any] = {}
            engines[arch] = paths
            if args.device == "cuda":
                for dt in ("float32", "float16", "bfloat16"):
                    attempt(paths, f"torch_{dt}", lambda dt=dt: torch_eager(pt, x, dt, iters))
                for prec in ("fp32", "fp16"):
                    if budget_left():
                        attempt(paths, f"aoti_cuda_{prec}", lambda prec=prec: aoti_cuda(pt, x, prec, work, iters))
            else:
                paths["note"] = "CPU check run: the CUDA engine paths are exercised only on a GPU"
        if budget_left():
            attempt(sec, "serving", lambda: serving_section(r18, args.device, 32, 200 if quick else 3000,
                                                            5.0 if quick else 20.0))
    result["seconds"] = round(time.monotonic() - t_start, 1)
    (out_dir / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {out_dir / 'gpu_check.json'} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
