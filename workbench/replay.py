"""Replay a prepared workspace: open its stored variants and figures at once, marked as recorded.

A teacher prepares a workspace before class (``workbench tune MODEL --workspace demo/``) and opens it with
``workbench --presenter --replay demo/``: every area shows the stored variants with their figures, nothing
is re-measured, and a banner on every screen says that the figures are recorded, when and on which
machine. A recipe asked for again is found in the workspace, so the demo never waits on a long tune.

The model is the one the workspace was made from: given as MODEL, or found among the bundled samples by
the source hash its baseline recipe records.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from workbench.formatting import REPO_ROOT

SAMPLES = REPO_ROOT / "sample_models"
SAMPLE_SUFFIXES = (".pt", ".onnx", ".keras", ".tflite")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Replay:
    workspace: Path
    model: Path
    variants: int                                   # stored variants that were built (status ok)
    first: str | None = None                        # earliest "when" of a recorded measurement (UTC)
    last: str | None = None
    machines: tuple[str, ...] = ()                  # "CPU model, N cores" of each machine that measured
    here: bool = False                              # every recorded figure was measured on this machine
    unrecorded: int = 0                             # variants with figures but no record of where/when
    notes: tuple[str, ...] = field(default_factory=tuple)

    def banner(self) -> str:
        """One line for the banner every screen shows during a replay."""
        head = f"RECORDED · replay of {self.workspace.name}: {self.variants} variant{'s' * (self.variants != 1)}"
        if self.first is None:
            return f"{head}, no record of when or where they were measured · not re-measured"
        machines = "; ".join(self.machines) or "unknown machine"
        where = "this machine" if self.here else "another machine"
        text = f"{head} measured {_span(self.first, self.last)} on {machines} ({where})"
        if self.unrecorded:
            text += f", {self.unrecorded} without a record"
        return f"{text} · not re-measured"


def _span(first: str, last: str | None) -> str:
    """'2026-12-01 10:02:00 UTC', '2026-12-01 10:07:30 UTC' -> '2026-12-01 10:02–10:07 UTC'."""
    def short(t: str) -> str:
        return t[:16] if len(t) >= 16 and t[13] == ":" else t

    if last is None or short(last) == short(first):
        return f"{short(first)} UTC" if short(first) != first else first
    end = short(last)[11:] if first[:10] == last[:10] else short(last)
    return f"{short(first)}–{end} UTC"


def _provenance(metrics: dict[str, Any]) -> dict[str, Any] | None:
    if "machine" in metrics:
        return metrics
    for key in ("measured", "paired"):
        sub = metrics.get(key)
        if isinstance(sub, dict):
            found = _provenance(sub)
            if found is not None:
                return found
    return None


def summarize(workspace: Path, model: Path, entries: Iterable[dict[str, Any]], this_machine: str) -> Replay:
    built = [e for e in entries if e.get("status", "ok") == "ok"]
    provs = [_provenance(e.get("metrics") or {}) for e in built]
    recorded = [p for p in provs if p is not None]
    whens = sorted(str(p["when"]) for p in recorded if p.get("when"))
    machines: list[str] = []
    for p in recorded:
        label = f"{p.get('cpu') or 'unknown CPU'}, {p.get('cores') or '?'} cores"
        if label not in machines:
            machines.append(label)
    measured = [e for e in built if (e.get("metrics") or {}).get("latency_ms") or (e.get("metrics") or {}).get("accuracy") is not None]
    unrecorded = sum(1 for e, p in zip(built, provs) if p is None and e in measured)
    return Replay(workspace=workspace, model=model, variants=len(built), first=whens[0] if whens else None,
                  last=whens[-1] if whens else None, machines=tuple(machines),
                  here=bool(recorded) and all(p.get("machine") == this_machine for p in recorded),
                  unrecorded=unrecorded)


def prepare(workspace: str | os.PathLike, model: str | os.PathLike | None = None) -> Replay:
    """Check ``workspace`` and find its model; a :class:`WorkbenchError` says what is wrong in one line."""
    from engines.errors import WorkbenchError
    from engines.manifest import read_manifest
    from engines.measure.paired import machine_id

    root = Path(workspace).expanduser()
    if not root.is_dir():
        raise WorkbenchError(f"no such workspace folder to replay: {workspace}")
    entries = read_manifest(root)
    if not any(e.get("status", "ok") == "ok" for e in entries):
        raise WorkbenchError(f"{root} holds no variants to replay: make them first, e.g. "
                             f"workbench tune MODEL --workspace {root}")
    sources = {str(e["recipe"].get("source")) for e in entries if e.get("kind") == "baseline"} or \
        {str(e["recipe"].get("source")) for e in entries}
    path = Path(model).expanduser() if model is not None else _find_model(sources, root)
    if not path.exists():
        raise WorkbenchError(f"no such file or folder: {model}")
    hashes = {s for s in sources if _SHA256.match(s)}
    if hashes:
        from engines.fsutil import sha256_file

        digest = sha256_file(path)
        if digest not in hashes:
            raise WorkbenchError(f"{root} was made from another model (source {sorted(hashes)[0][:12]}…, "
                                 f"{path.name} is {digest[:12]}…): its figures would not describe {path.name}")
    return summarize(root, path, entries, machine_id())


def _find_model(sources: set[str], root: Path) -> Path:
    from engines.errors import WorkbenchError
    from engines.fsutil import sha256_file

    for candidate in sorted(SAMPLES.iterdir()) if SAMPLES.is_dir() else []:
        if candidate.suffix in SAMPLE_SUFFIXES and candidate.is_file() and sha256_file(candidate) in sources:
            return candidate
    raise WorkbenchError(f"cannot tell which model {root} was made from (it is none of the bundled samples): "
                         f"give it, e.g. workbench MODEL --replay {root}")
