"""Startup speed: ``workbench --help`` and the TUI's first frame with the sample model.

Both are measured on the real console script in fresh processes. The TUI runs
under a pseudo-terminal (120x40) exactly as a user starts it; the clock stops
when the terminal output first contains the header ("first frame", the model
still loading in its worker) and when the overview shows the model's
parameters ("model shown"). Then ``q`` is sent and the exit is timed.

    .venv/bin/python benchmarks/startup.py [--runs 5]

Writes ``benchmarks/results/startup.json``. Targets: help < 0.5 s, first frame < 2 s.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "startup.json"
TARGETS = {"help_s": 0.5, "first_frame_s": 2.0}
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*(\x07|\x1b\\)|\x1b[@-Z\\-_]")


def workbench_cmd() -> list[str]:
    script = Path(sys.executable).with_name("workbench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "workbench"]


def stats(xs: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3), "max": round(max(xs), 3),
            "runs": [round(x, 3) for x in xs]}


def time_help(runs: int, env: dict[str, str]) -> list[float]:
    cmd = workbench_cmd() + ["--help"]
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the file cache
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def time_tui(env: dict[str, str], model: str | None = None, size: tuple[int, int] = (120, 40),
             timeout: float = 60.0) -> dict[str, float]:
    """One TUI start under a pty: seconds to first frame, to the model shown, and to exit after ``q``."""
    master, slave = pty.openpty()
    cols, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(workbench_cmd() + ([model] if model else []), stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True, start_new_session=True)
    os.close(slave)
    raw = b""
    marks: dict[str, float] = {}
    try:
        while "model_shown_s" not in marks:
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"TUI did not show the model within {timeout:.0f} s")
            ready, _, _ = select.select([master], [], [], 0.01)
            if not ready:
                continue
            try:
                raw += os.read(master, 65536)
            except OSError:
                break
            now = time.perf_counter() - t0
            text = ANSI.sub(b"", raw)
            if "first_frame_s" not in marks and b"workbench" in text:
                marks["first_frame_s"] = now
            if b"Parameters" in text:
                marks["model_shown_s"] = now
        t_quit = time.perf_counter()
        os.write(master, b"q")
        while proc.poll() is None:  # keep draining so the app never blocks on a full pty
            if time.perf_counter() - t_quit > timeout:
                raise TimeoutError("TUI did not exit after q")
            if select.select([master], [], [], 0.01)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    pass
        marks["quit_s"] = time.perf_counter() - t_quit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return marks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", help="model to open (default: the bundled sample_models/digits_cnn.pt)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, WORKBENCH_HOME=home, TERM=os.environ.get("TERM") or "xterm-256color",
                   COLUMNS="120", LINES="40")
        env.pop("WORKBENCH_DETERMINISTIC", None)
        help_runs = time_help(args.runs, env)
        time_tui(env, args.model)  # warm-up: file cache, first workspace
        tui_runs = [time_tui(env, args.model) for _ in range(args.runs)]

    result = {
        "benchmark": "startup",
        "command": " ".join(["python", "benchmarks/startup.py"] + (argv if argv is not None else sys.argv[1:])),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "model": args.model or "sample_models/digits_cnn.pt",
        "terminal": "pty 120x40",
        "help_s": stats(help_runs),
        "first_frame_s": stats([r["first_frame_s"] for r in tui_runs]),
        "model_shown_s": stats([r["model_shown_s"] for r in tui_runs]),
        "quit_s": stats([r["quit_s"] for r in tui_runs]),
        "targets": TARGETS,
    }
    result["meets_targets"] = {k: result[k]["median"] < v for k, v in TARGETS.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key in ("help_s", "first_frame_s", "model_shown_s", "quit_s"):
        s = result[key]
        target = f" (target < {TARGETS[key]} s)" if key in TARGETS else ""
        print(f"{key:14s} median {s['median']:.3f} s  min {s['min']:.3f}  max {s['max']:.3f}{target}")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if all(result["meets_targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
