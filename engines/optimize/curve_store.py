"""Stored pruning curves: what ``workbench curve`` (or the Optimize screen) measured, kept in the workspace.

A curve's points are variants (so a re-run rebuilds nothing), but the side-by-side timing of all points
in one run, which gives every speedup on the curve its interval from the same rounds, is only in the
curve itself. :func:`save_curve` writes it to ``<workspace>/curves/<settings>.json`` (temp then rename),
one file per schedule and recovery setting, a re-run replacing it; :func:`load_curves` reads them back,
newest first, skipping files it cannot read.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from engines.fsutil import write_text_atomic

FOLDER = "curves"


def curve_settings(schedule: str, recover_epochs: int, steps: int = 3, reg_epochs: int = 2) -> dict[str, Any]:
    """What makes two curves different (the amounts are not: a re-run with other amounts replaces)."""
    d: dict[str, Any] = {"schedule": schedule, "recover_epochs": int(recover_epochs)}
    if schedule == "iterative":
        d["steps"] = int(steps)
    elif schedule == "regularized":
        d["reg_epochs"] = int(reg_epochs)
    return d


def _name(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12] + ".json"


def save_curve(root: str | Path, curve: Any, settings: dict[str, Any]) -> Path:
    """Write ``curve`` (a :class:`~engines.optimize.prune_curve.PruneCurve`) under the workspace ``root``."""
    target = Path(root) / FOLDER / _name(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"settings": settings, "saved": time.time(), "curve": curve.to_dict()}
    write_text_atomic(target, json.dumps(payload, indent=1, default=str))
    return target


def load_curves(root: str | Path) -> list[tuple[dict[str, Any], Any]]:
    """(settings, PruneCurve) of every stored curve, newest first."""
    from engines.optimize.prune_curve import PruneCurve

    folder = Path(root) / FOLDER
    found: list[tuple[float, dict[str, Any], Any]] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            found.append((float(payload.get("saved", 0)), dict(payload["settings"]),
                          PruneCurve.from_dict(payload["curve"])))
        except (OSError, ValueError, KeyError, TypeError):   # a damaged or foreign file: not a curve
            continue
    found.sort(key=lambda t: -t[0])
    return [(s, c) for _, s, c in found]
