"""Time several ONNX models side by side in one process: short rounds, rotating order, paired ratios.

Each session keeps ONNX Runtime's default spin-waiting (as in production), and
before a model's turn the loop pauses ``settle_s`` so the idle threads of the
model timed just before have stopped spinning and do not steal its cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def time_side_by_side(paths: dict[str, Path], x: np.ndarray, *, threads: int, rounds: int, iters: int,
                      settle_s: float = 0.05, progress_every: int = 5,
                      runners: dict | None = None) -> dict[str, dict]:
    """Per model: pooled percentiles, sample count, and per-round medians and minimums (for paired ratios).

    ``runners`` (name -> an opened runner of any runtime, e.g. OpenVINO) are timed with the ONNX files.
    """
    from engines.measure.harness import percentiles, time_calls
    from engines.measure.runners import OnnxRunner

    runners = {**{k: OnnxRunner(p, threads=threads) for k, p in paths.items()}, **(runners or {})}
    feeds = {k: {r.inputs[0].name: x} for k, r in runners.items()}
    names = list(runners)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for k in names:   # warm every session before any timing
        time_calls(lambda k=k: runners[k].run(feeds[k]), warmup=10, iterations=1, budget_s=None, min_iterations=1)
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(settle_s)
            samples[k].append(time_calls(lambda k=k: runners[k].run(feeds[k]), warmup=2, iterations=iters,
                                         budget_s=None, min_iterations=1))
        if (r + 1) % max(1, rounds // progress_every) == 0:
            print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {np.median(samples[k][-1]):.2f} ms" for k in names),
                  flush=True)
    return {k: {**{m: round(v, 4) for m, v in percentiles(np.concatenate(s)).items()},
                "samples": int(sum(len(a) for a in s)),
                "round_medians": [round(float(np.median(a)), 3) for a in s],
                "round_mins": [round(float(np.min(a)), 3) for a in s]} for k, s in samples.items()}


def paired_ratio(lat: dict[str, dict], base: str, other: str) -> float:
    """Median over rounds of base's median / other's median in the same round."""
    return float(np.median([b / o for b, o in zip(lat[base]["round_medians"], lat[other]["round_medians"])]))


def paired_interval(lat: dict[str, dict], base: str, other: str) -> dict:
    """The same per-round ratio with the engine's bootstrap 95 % interval of its median (``Ratio.to_dict``)."""
    from engines.measure.paired import ratio_interval

    return ratio_interval([b / o for b, o in zip(lat[base]["round_medians"],
                                                 lat[other]["round_medians"])]).to_dict()


def load_average() -> list[float]:
    """The 1/5/15-minute load averages, rounded, for the 'load before/after' every benchmark records."""
    return [round(v, 2) for v in os.getloadavg()]


def stop_server(proc) -> None:
    """Stop a ``workbench serve`` subprocess as Ctrl+C does (a graceful drain), killed after 60 s."""
    import signal
    import subprocess

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
