"""What the labs ran that no variant stores (benchmarks, sweeps, cost reports, deployments): ``<workspace>/labs.json``.

Written whole to a temp file and renamed, so a kill never leaves half a record.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from engines.fsutil import write_text_atomic

FILE = "labs.json"
_lock = threading.Lock()


def record_path(workspace_root: str | Path) -> Path:
    return Path(workspace_root) / FILE


def load(workspace_root: str | Path) -> dict[str, Any]:
    path = record_path(workspace_root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def put(workspace_root: str | Path, lab: int, key: str, value: dict[str, Any]) -> dict[str, Any]:
    """Store ``value`` (stamped with the time) under lab ``lab``'s ``key``; returns the stored entry."""
    entry = {**value, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with _lock:
        data = load(workspace_root)
        data.setdefault(f"lab{lab}", {})[key] = entry
        Path(workspace_root).mkdir(parents=True, exist_ok=True)
        write_text_atomic(record_path(workspace_root), json.dumps(data, indent=1, default=str))
    return entry


def get(data: dict[str, Any], lab: int, key: str) -> dict[str, Any] | None:
    entry = (data.get(f"lab{lab}") or {}).get(key)
    return entry if isinstance(entry, dict) else None
