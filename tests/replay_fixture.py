"""A prepared workspace for replay tests: the optimize snapshot fixture with a record of when and where."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURE_WS = Path(__file__).parent / "snapshots" / "fixtures" / "optimize_ws"
RECORD = {"at": 1764583320.0, "when": "2026-12-01 10:02:00 UTC", "machine": "fixture0machine",
          "cpu": "Example Xeon", "cores": 2, "available_cores": 2, "threads": 2, "device": "cpu"}


def replay_workspace(dst: Path) -> Path:
    """Copy the fixture to ``dst`` and stamp each measured variant with a record (minutes apart)."""
    shutil.copytree(FIXTURE_WS, dst)
    manifest = dst / "manifest.json"
    data = json.loads(manifest.read_text())
    for i, v in enumerate(data["variants"]):
        if v.get("status", "ok") == "ok":
            at = RECORD["at"] + 60 * i
            v["metrics"]["measured"] = {**RECORD, "at": at, "when": f"2026-12-01 10:{2 + i:02d}:00 UTC"}
    manifest.write_text(json.dumps(data, indent=1))
    return dst
