"""The Optimize fixture workspace with paired speedups (and the pruned variant's MACs) added.

``tests/snapshots/fixtures/optimize_ws`` predates paired timing; other areas' snapshots read it as it is, so
the Optimize tests add the figures to a copy: each speedup is the baseline's p50 over the variant's, with a
fixed ±6 % interval (fixed numbers, nothing measured).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURE_WS = Path(__file__).parent / "snapshots" / "fixtures" / "optimize_ws"


def paired_workspace(dst: Path) -> Path:
    shutil.copytree(FIXTURE_WS, dst)
    manifest = dst / "manifest.json"
    data = json.loads(manifest.read_text())
    base = next(v for v in data["variants"] if v["kind"] == "baseline")
    base_p50 = base["metrics"]["latency_ms"]["p50"]
    for v in data["variants"]:
        m = v.get("metrics") or {}
        if v["kind"] == "baseline" or v.get("status") != "ok" or not m.get("latency_ms"):
            continue
        value = base_p50 / m["latency_ms"]["p50"]
        low, high = value * 0.94, value * 1.06
        m["paired"] = {"reference": base["id"], "speedup": {"value": round(value, 4),
                       "interval": [round(low, 4), round(high, 4)], "rounds": 15,
                       "within_noise": low <= 1.0 <= high}}
        if v["kind"] == "pruned":
            m["macs"] = 92_544
    manifest.write_text(json.dumps(data, indent=1))
    return dst
