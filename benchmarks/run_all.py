"""Run every benchmark script in turn; each writes its JSON into benchmarks/results/.

    .venv/bin/python benchmarks/run_all.py [--only startup quant ...]

Run it on a quiet machine: the targets are ratios measured side by side in one
run, but a loaded machine still widens their spread.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "startup": "startup.py",
    "quant": "quant_targets.py",
    "prune": "prune_targets.py",
    "perf": "perf_targets.py",
    "engine": "engine_targets.py",
    "gpu": "gpu_engines.py",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(SCRIPTS), help="run only these")
    args = ap.parse_args()
    failed = []
    for name in args.only or list(SCRIPTS):
        t0 = time.perf_counter()
        print(f"== {name}: {SCRIPTS[name]}", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / SCRIPTS[name])], cwd=HERE.parent)
        print(f"== {name}: exit {rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
