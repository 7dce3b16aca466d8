"""Performance-lab targets, measured side by side in one run; JSON to benchmarks/results/perf_targets.json.

1. Harness overhead: the workbench's p50 (``engines.measure.harness.benchmark`` on an ``open_runner`` runner) over a
   bare ONNX Runtime loop (same session options, ``perf_counter_ns`` around ``session.run``) on the same
   model, in interleaved rounds. Target: ratio <= 1.05. Digits CNN (tiny: overhead shows most) and ResNet-18.
2. Dynamic batching, ResNet-18 (224x224, seeded random weights) on CPU at concurrency 32: the same server
   (``workbench serve`` in a subprocess, 127.0.0.1) with batching on (max batch 32, 5 ms), then off;
   closed-loop load from this process. Target: throughput on >= 3x off; p99 reported for both.
3. The metrics sampler at 2 Hz for 20 s: CPU time of the process (main thread asleep) as % of one core.
   Target: < 1%.
4. Key latency while a batch sweep runs in the Batching screen, measured with Pilot. Target: < 100 ms.

Run: .venv/bin/python benchmarks/perf_targets.py [--resnet DIR] [--sampler-seconds 20] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.side_by_side import stop_server  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "perf_targets.json"


def harness_overhead(model: Path, rounds: int, iters: int, threads: int = 2) -> dict:
    """Bare ORT loop vs the workbench harness, alternating rounds on the same feeds."""
    import onnxruntime as ort

    from engines.measure.harness import benchmark, percentiles
    from engines.measure.runners import example_feeds, open_runner

    runner = open_runner(model, "onnx", threads=threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    bare = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in bare.get_outputs()]
    feeds = example_feeds(runner.inputs, batch=1, seed=0)

    def bare_loop(n: int) -> np.ndarray:
        out = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter_ns()
            bare.run(names, feeds)
            out[i] = time.perf_counter_ns() - t0
        return out / 1e6

    bare_loop(20)
    benchmark(runner, feeds, warmup=20, iterations=10, budget_s=None)
    bare_s, wb_s, ratios = [], [], []
    for r in range(rounds):
        for k in (("bare", "wb") if r % 2 == 0 else ("wb", "bare")):     # alternate who goes first
            if k == "bare":
                b = bare_loop(iters)
            else:
                p50 = benchmark(runner, feeds, warmup=2, iterations=iters, budget_s=None).latency_ms["p50"]
        bare_s.append(b)
        wb_s.append(p50)
        ratios.append(p50 / float(np.median(b)))
    bare_p50 = percentiles(np.concatenate(bare_s))["p50"]
    wb_p50 = float(np.median(wb_s))
    return {"model": model.name, "threads": threads, "rounds": rounds, "iters_per_round": iters,
            "bare_p50_ms": round(bare_p50, 4), "workbench_p50_ms": round(wb_p50, 4),
            "ratio_of_medians": round(wb_p50 / bare_p50, 4),
            "ratio_paired_median": round(float(np.median(ratios)), 4), "target": "<= 1.05",
            "met": bool(np.median(ratios) <= 1.05)}


def _serve(model: Path, port: int, batching: bool, max_batch: int, delay_ms: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "workbench", "serve", str(model), "--port", str(port), "--max-batch",
           str(max_batch), "--max-delay-ms", str(delay_ms), "--max-queue", "1024"]
    if not batching:
        cmd.append("--no-batching")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dynamic_batching(model: Path, concurrency: int, requests: int, duration_s: float, max_batch: int,
                     delay_ms: float) -> dict:
    import httpx

    from engines.serving.loadgen import example_payload, run_concurrency

    out: dict = {"model": model.name, "concurrency": concurrency, "max_batch": max_batch, "max_delay_ms": delay_ms,
                 "requests_cap": requests, "duration_cap_s": duration_s}
    for key, batching in (("on", True), ("off", False)):
        port = _free_port()
        proc = _serve(model, port, batching, max_batch, delay_ms)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while True:
                try:
                    if httpx.get(url + "/ping", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.2)
            body, ctype = example_payload(url)
            run_concurrency(url, body, ctype, concurrency, requests=2 * concurrency, duration_s=30)   # warm-up
            before = httpx.get(url + "/stats").json()
            res = run_concurrency(url, body, ctype, concurrency, requests=requests, duration_s=duration_s)
            stats = httpx.get(url + "/stats").json()
        finally:
            stop_server(proc)
        runs = stats["runs"] - before["runs"]
        rows = sum(int(k) * v for k, v in stats["batch_sizes"].items()) - sum(
            int(k) * v for k, v in before["batch_sizes"].items())
        out[key] = {"throughput_rps": round(res.throughput_rps, 2), "sent": res.sent, "ok": res.ok,
                    "errors": res.errors, "duration_s": res.duration_s,
                    "latency_ms": {k: round(v, 2) for k, v in res.latency_ms.items()},
                    "model_runs": runs, "mean_batch": round(rows / runs, 2) if runs else None}
        print(f"  batching {key}: {res.throughput_rps:.1f} req/s, p99 {res.latency_ms['p99']:.1f} ms, "
              f"mean batch {out[key]['mean_batch']}", flush=True)
    ratio = out["on"]["throughput_rps"] / out["off"]["throughput_rps"] if out["off"]["throughput_rps"] else None
    out["throughput_ratio"] = round(ratio, 3) if ratio else None
    out["target"] = ">= 3x"
    out["met"] = bool(ratio and ratio >= 3)
    return out


def offline_batch_gain(model: Path) -> dict:
    """Context for (2): the model's own items/s at batch 1 vs 32, no server (what batching can give at most)."""
    from engines.measure.sweep import batch_sweep

    r = batch_sweep(model, batches=[1, 32], iterations=20, budget_s_per_point=8, warmup=3)
    pts = {p.batch: p for p in r.points}
    return {"ips_batch1": round(pts[1].throughput_ips, 2), "ips_batch32": round(pts[32].throughput_ips, 2),
            "gain": round(pts[32].throughput_ips / pts[1].throughput_ips, 3),
            "p50_ms_batch1": round(pts[1].latency_ms["p50"], 2), "p50_ms_batch32": round(pts[32].latency_ms["p50"], 2)}


def sampler_cost(seconds: float) -> dict:
    """Run the sampler alone in a fresh process; its CPU time over wall time = share of one core."""
    code = (
        "import time, json\n"
        "from engines.measure.metrics import Sampler\n"
        "s = Sampler(hz=2.0, deterministic=False)\n"
        "c0, w0 = time.process_time(), time.perf_counter()\n"
        "s.start()\n"
        f"time.sleep({seconds})\n"
        "s.stop()\n"
        "c1, w1 = time.process_time(), time.perf_counter()\n"
        "print(json.dumps({'cpu_s': c1 - c0, 'wall_s': w1 - w0, 'polls': len(s.history()),\n"
        "                  'poll_thread_cpu_s': s.cpu_time_s, 'gpu_status': s.gpu_status,\n"
        "                  'mean_poll_ms': sum(h.poll_ms for h in s.history()) / max(1, len(s.history()))}))\n"
    )
    env = {**os.environ, "WORKBENCH_DETERMINISTIC": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=seconds + 60)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    pct = 100.0 * d["cpu_s"] / d["wall_s"]
    return {"hz": 2.0, "seconds": round(d["wall_s"], 2), "polls": d["polls"], "process_cpu_s": round(d["cpu_s"], 4),
            "pct_of_one_core": round(pct, 3), "poll_thread_cpu_s": round(d["poll_thread_cpu_s"], 4),
            "mean_poll_ms": round(d["mean_poll_ms"], 3), "gpu_status": d["gpu_status"], "target": "< 1%",
            "met": pct < 1.0}


def key_latency(presses: int) -> dict:
    """Pilot: the Batching screen runs a batch sweep on a dense 4096x4096 model; time Tab presses."""
    from textual import events

    from screens.batching import BatchingScreen
    from screens.widgets.task_panel import TaskPanel
    from tests.perf_fixtures import tiny_onnx
    from workbench.app import make_app

    tmp = Path(tempfile.mkdtemp(prefix="perf-keys-"))
    heavy = tiny_onnx(tmp / "dense4k.onnx", in_features=4096, out_features=4096)  # sweep lasts seconds

    async def go() -> list[float]:
        app = make_app(str(ROOT / "sample_models" / "digits_cnn.onnx"))
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("5")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BatchingScreen)
            screen.query_one("#bt-model").value = str(heavy)
            screen.query_one("#bt-max-batch").value = "64"
            await pilot.press("w")
            panel = screen.query_one("#bt-task", TaskPanel)
            await pilot.pause(0.5)
            timings = []
            for _ in range(presses):
                if not panel.running:
                    break
                before = app.focused
                key = events.Key("tab", None)
                key.set_sender(app)
                t0 = time.perf_counter()
                app.post_message(key)
                while app.focused is before and time.perf_counter() - t0 < 5:
                    await asyncio.sleep(0.001)
                timings.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.1)
            panel.cancel()
            while panel.running:
                await pilot.pause(0.05)
            return timings

    t = asyncio.run(go())
    if not t:
        return {"presses": 0, "target": "< 100 ms", "met": False, "note": "the sweep ended before a key was timed"}
    a = np.asarray(t)
    return {"presses": len(t), "p50_ms": round(float(np.median(a)), 2), "p90_ms": round(float(np.percentile(a, 90)), 2),
            "max_ms": round(float(a.max()), 2), "all_ms": [round(x, 1) for x in t], "target": "< 100 ms",
            "met": bool(a.max() < 100)}


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import onnxruntime

    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
            "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "load_avg_start": list(os.getloadavg())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resnet", help="folder holding resnet18.onnx (generated there if missing)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=400, help="requests per batching level (cap)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per batching level (cap)")
    ap.add_argument("--sampler-seconds", type=float, default=20.0)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--only", nargs="*", choices=["overhead", "batching", "sampler", "keys"])
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    only = set(args.only or ["overhead", "batching", "sampler", "keys"])

    out_path = Path(args.out)
    results: dict = json.loads(out_path.read_text()) if out_path.exists() and args.only else {}
    results["machine"] = machine()
    resnet_dir = Path(args.resnet) if args.resnet else Path(tempfile.gettempdir()) / "workbench-perf"
    resnet = resnet_dir / "resnet18.onnx"
    if ({"overhead", "batching"} & only) and not resnet.exists():
        from engines.models.samples import generate_resnet18

        print(f"generating ResNet-18 into {resnet_dir}", flush=True)
        generate_resnet18(resnet_dir)
    if "overhead" in only:
        print("harness overhead", flush=True)
        results["harness_overhead"] = [
            harness_overhead(ROOT / "sample_models" / "digits_cnn.onnx", args.rounds, 300),
            harness_overhead(resnet, args.rounds, 20)]
        for r in results["harness_overhead"]:
            print(f"  {r['model']}: bare {r['bare_p50_ms']} ms, workbench {r['workbench_p50_ms']} ms, "
                  f"ratio {r['ratio_paired_median']}", flush=True)
    if "batching" in only:
        print("dynamic batching, ResNet-18 CPU, concurrency 32", flush=True)
        results["dynamic_batching"] = dynamic_batching(resnet, 32, args.requests, args.duration, 32, 5.0)
        results["dynamic_batching"]["offline_batch_gain"] = offline_batch_gain(resnet)
        print(f"  ratio {results['dynamic_batching']['throughput_ratio']}; offline batch-32 gain "
              f"{results['dynamic_batching']['offline_batch_gain']['gain']}", flush=True)
    if "sampler" in only:
        print(f"sampler at 2 Hz for {args.sampler_seconds:g} s", flush=True)
        results["sampler"] = sampler_cost(args.sampler_seconds)
        print(f"  {results['sampler']['pct_of_one_core']}% of one core", flush=True)
    if "keys" in only:
        print("key latency during a sweep (Pilot)", flush=True)
        results["key_latency"] = key_latency(args.presses)
        print(f"  p50 {results['key_latency']['p50_ms']} ms, max {results['key_latency']['max_ms']} ms", flush=True)
    results["machine"]["load_avg_end"] = list(os.getloadavg())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=1))
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
