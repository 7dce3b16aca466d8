"""CLI options shared by every command that measures, with one set of defaults, and their checks."""

from __future__ import annotations

import argparse
import math

ITERATIONS = 200          # timed runs per latency figure
SECONDS = 3.0             # time cap per latency figure


def timing_args(p: argparse.ArgumentParser, *, iterations: int = ITERATIONS, seconds: float = SECONDS,
                what: str = "latency figure") -> None:
    """--threads, --iterations, --seconds (the defaults may be shortened for a per-point sweep)."""
    p.add_argument("--threads", type=int,
                   help="inference threads for measurements (default: the cores available to this process)")
    p.add_argument("--iterations", type=int, default=iterations,
                   help=f"timed runs per {what} (default {iterations})")
    p.add_argument("--seconds", type=float, default=seconds, help=f"time cap per {what} (default {seconds:g} s)")


def check_timing(args: argparse.Namespace) -> None:
    """A one-line error (exit 2) for timing options that cannot be used."""
    from engines.errors import WorkbenchError

    threads = getattr(args, "threads", None)
    if args.iterations < 1 or not math.isfinite(args.seconds) or args.seconds <= 0 \
            or (threads is not None and threads < 1):
        raise WorkbenchError("--iterations and --threads must be >= 1 and --seconds a positive number")
