"""Cold start of the exact SageMaker package, measured locally: JSON to benchmarks/results/coldstart.json.

For each bundled sample ONNX model: build ``model.tar.gz`` (engines.deploy.package), then RUNS fresh server
processes (engines.deploy.coldstart): time from spawn to the first ``GET /ping`` 200 and to the first
``POST /invocations`` 200, and one warm request. Medians and every run are written.

Run: .venv/bin/python benchmarks/coldstart.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from engines.deploy.coldstart import measure_cold_start
    from engines.deploy.package import build_package
    from engines.deploy.prepare import example_request
    from engines.measure.figures import resolve_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    out = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.platform(),
           "cpus": os.cpu_count(), "load_before": os.getloadavg(), "runs": args.runs, "models": {}}
    for name in ("digits_cnn.onnx", "digits32_resnet.onnx"):
        model = ROOT / "sample_models" / name
        if not model.is_file():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            pkg = build_package(model, Path(tmp) / "model.tar.gz")
            body = example_request(resolve_target(str(model)), "application/json")
            cold = measure_cold_start(pkg.path, body, runs=args.runs)
            out["models"][name] = {"package_bytes": pkg.size_bytes, **cold.to_dict()}
            print(f"{name}: {cold.line()}")
    out["load_after"] = os.getloadavg()
    dest = ROOT / "benchmarks" / "results" / "coldstart.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
