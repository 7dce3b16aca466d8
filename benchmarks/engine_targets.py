"""Engine targets, measured side by side in one run; JSON to benchmarks/results/engine_targets.json.

1. ONNX Runtime offline-optimized engine (level "all", saved with optimized_model_filepath) against the same
   model with graph optimizations off, both opened with optimizations disabled so each runs exactly the graph
   in its file (intra-op spinning off in every session: see ``QuietSession``). ONNX Runtime's usual online optimization of the source ("online all") is timed in the same
   rounds: the offline file should match it while skipping the optimization at load (load times recorded).
2. PyTorch AOTInductor package (.pt2, CPU) against eager PyTorch on the same module, same threads.

Both on the sample CNN (8x8 digits) and on ResNet-18 224x224 (random weights, generated on the fly), batch 1
(latency) and batch 8 (throughput). Models are timed in short interleaved rounds in rotating order; the
ratio reported is the median over rounds of the per-round ratio of medians (a paired measurement).

Run: .venv/bin/python benchmarks/engine_targets.py [--rounds 12 --iters 20 --threads 2 --skip-resnet]
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
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "engine_targets.json"
SAMPLES = ROOT / "sample_models"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def side_by_side(calls: dict[str, Callable[[], Any]], rounds: int, iters: int) -> dict[str, dict]:
    """Time every call in each round, rotating the order; per-round medians kept for paired ratios."""
    from engines.measure.harness import percentiles, time_calls

    names = list(calls)
    for k in names:  # warm everything before timing anything
        time_calls(calls[k], warmup=5, iterations=1, budget_s=None, min_iterations=1)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            samples[k].append(time_calls(calls[k], warmup=1, iterations=iters, budget_s=None, min_iterations=1))
    return {k: {**{m: round(v, 4) for m, v in percentiles(np.concatenate(v)).items()},
                "samples": int(sum(len(a) for a in v)),
                "round_medians": [round(float(np.median(a)), 4) for a in v]} for k, v in samples.items()}


def paired(lat: dict[str, dict], slow: str, fast: str) -> float:
    return round(float(np.median([s / f for s, f in zip(lat[slow]["round_medians"], lat[fast]["round_medians"])])), 3)


class QuietSession:
    """An ONNX Runtime session whose idle intra-op threads sleep instead of spinning.

    Three sessions live side by side here; with ORT's default spin-waiting, the threads of the session
    that ran last keep burning both cores while the next one runs, which inflated ResNet-18 from 19 ms
    to 36 ms in a check on this 2-core machine. Every session gets the same setting, so the ratios compare
    graphs, not thread pools.
    """

    def __init__(self, path: Path, threads: int, level: str) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.graph_optimization_level = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                       "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)


def ort_section(name: str, onnx_path: Path, x1: np.ndarray, work: Path, args: argparse.Namespace) -> dict:
    from engines.build.ort_optimize import optimize_onnx

    engine = work / f"{name}.ort-all.onnx"
    t0 = time.perf_counter()
    report = optimize_onnx(onnx_path, engine, level="all")
    build_s = time.perf_counter() - t0
    variants = {"unoptimized": (onnx_path, "none"), "ort_engine": (engine, "none"), "online_all": (onnx_path, "all")}
    runners, load_ms = {}, {}
    for key, (path, level) in variants.items():
        t = time.perf_counter()
        runners[key] = QuietSession(path, args.threads, level)
        load_ms[key] = round((time.perf_counter() - t) * 1000, 2)
    out: dict[str, Any] = {"build_s": round(build_s, 3), "load_ms": load_ms,
                           "nodes": [report["nodes_before"], report["nodes_after"]],
                           "fusions": report["fusions"], "hardware_specific": report["hardware_specific"]}
    ref = runners["unoptimized"].run({runners["unoptimized"].name: x1})[0]
    got = runners["ort_engine"].run({runners["ort_engine"].name: x1})[0]
    out["max_abs_err_vs_unoptimized"] = float(np.max(np.abs(ref - got)))
    for batch in (1, 8):
        x = np.repeat(x1, batch, axis=0)
        calls = {k: (lambda r=r: r.run({r.name: x})) for k, r in runners.items()}
        lat = side_by_side(calls, args.rounds, args.iters)
        out[f"batch{batch}"] = {"latency_ms": lat,
                                "speedup_engine_vs_unoptimized": paired(lat, "unoptimized", "ort_engine"),
                                "ratio_engine_vs_online_all": paired(lat, "online_all", "ort_engine")}
        print(f"  {name} ORT batch {batch}: engine {lat['ort_engine']['p50']:.3f} ms, unoptimized "
              f"{lat['unoptimized']['p50']:.3f} ms -> {out[f'batch{batch}']['speedup_engine_vs_unoptimized']}x",
              flush=True)
    return out


def aoti_section(name: str, pt_path: Path, x1: np.ndarray, work: Path, args: argparse.Namespace) -> dict:
    import torch

    from engines.build.aoti import AotiRunner, build_aoti
    from engines.models.loader import inspect_model
    from engines.models.torch_load import load_torch_module

    torch.set_num_threads(args.threads)
    inputs = inspect_model(pt_path).inputs
    pkg = work / f"{name}.pt2"
    t0 = time.perf_counter()
    meta = build_aoti(pt_path, pkg, inputs=inputs, profile=(1, 8, 32), timeout_s=args.aoti_timeout)
    build_s = time.perf_counter() - t0
    eager = load_torch_module(pt_path).eval()
    runner = AotiRunner(pkg, threads=args.threads)
    out: dict[str, Any] = {"build_s": round(build_s, 2), "compile_s": meta["compile_s"], "export_s": meta["export_s"],
                           "package_bytes": pkg.stat().st_size, "cpu_isa": meta["cpu_isa"]}
    with torch.no_grad():
        want = eager(torch.from_numpy(x1)).numpy()
    out["max_abs_err_vs_eager"] = float(np.max(np.abs(runner.run({inputs[0].name: x1})[0] - want)))
    for batch in (1, 8):
        xt = torch.from_numpy(np.repeat(x1, batch, axis=0))

        def eager_call(xt=xt):
            with torch.no_grad():
                return eager(xt)

        def aoti_call(xt=xt):
            with torch.no_grad():
                return runner.model(xt)

        lat = side_by_side({"eager": eager_call, "aoti": aoti_call}, args.rounds, args.iters)
        out[f"batch{batch}"] = {"latency_ms": lat, "speedup_aoti_vs_eager": paired(lat, "eager", "aoti")}
        print(f"  {name} AOTI batch {batch}: aoti {lat['aoti']['p50']:.3f} ms, eager {lat['eager']['p50']:.3f} ms "
              f"-> {out[f'batch{batch}']['speedup_aoti_vs_eager']}x", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--aoti-timeout", type=float, default=1800)
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    import onnxruntime
    import torch

    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": _cpu_name(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "threads": args.threads, "rounds": args.rounds, "iters_per_round": args.iters, "models": {},
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="engine-targets-") as tmp:
        work = Path(tmp)
        models = [("digits_cnn", SAMPLES / "digits_cnn.onnx", SAMPLES / "digits_cnn.pt",
                   np.load(SAMPLES / "digits_test.npz")["x"][:1].astype(np.float32))]
        if not args.skip_resnet:
            from engines.models.samples import generate_resnet18

            print("generating ResNet-18 (random weights)…", flush=True)
            gen = generate_resnet18(work)
            x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
            models.append(("resnet18", Path(gen["onnx"]), Path(gen["torchscript"]), x))
        for name, onnx_path, pt_path, x1 in models:
            print(f"{name}:", flush=True)
            result["models"][name] = {"ort": ort_section(name, onnx_path, x1, work, args),
                                      "aoti": aoti_section(name, pt_path, x1, work, args)}
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
