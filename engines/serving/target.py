"""What to serve or sweep: a runnable model file, or a variant of a model's workspace."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engines.errors import UnsupportedError, WorkbenchError

RUNNABLE_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}


@dataclass(frozen=True)
class Target:
    path: Path
    format: str
    name: str
    variant_id: str | None = None


def resolve_target(ref: str, model: str | os.PathLike | None = None,
                   workspace: str | os.PathLike | None = None) -> Target:
    """``ref`` is a model file (.onnx, .tflite) or a variant id/name of ``model``'s workspace."""
    p = Path(ref).expanduser()
    if p.is_file():
        fmt = RUNNABLE_SUFFIXES.get(p.suffix.lower())
        if fmt is None:
            raise UnsupportedError(f"{p.name} cannot be run directly: serve or sweep an .onnx or .tflite file, "
                                   "or a variant id with --model (optimize the model first to get an ONNX variant)")
        return Target(p.resolve(), fmt, p.stem)
    if workspace is None and model is None:
        raise WorkbenchError(f"{ref!r} is not a file; to use a variant id, name its model with --model MODEL")
    from engines.workspace import Workspace

    if workspace is not None:
        ws = Workspace(workspace)
    else:
        src = Path(model).expanduser()  # type: ignore[arg-type]
        if not src.is_file():
            raise WorkbenchError(f"--model {src} does not exist")
        ws = Workspace.for_model(src)
    v = ws.resolve(ref)
    if v.status != "ok":
        raise WorkbenchError(f"variant {v.id} failed to build ({v.error}): pick another")
    return Target(ws.model_path(v), v.format, v.name or v.id, v.id)


def runnable_target(model_path: str | os.PathLike | None, workspace: object = None,
                    selected_id: str | None = None) -> Target | None:
    """The model the Batching screen serves by default: the selected variant if runnable, else the open
    model if it is ONNX/TFLite, else the newest runnable variant; None when there is none."""
    candidates = []
    if workspace is not None:
        variants = [v for v in workspace.variants() if v.status == "ok"]  # type: ignore[attr-defined]
        chosen = [v for v in variants if v.id == selected_id]
        rest = [v for v in reversed(variants) if v.id != selected_id]
        for v in chosen:
            candidates.append(Target(workspace.model_path(v), v.format, v.name or v.id, v.id))  # type: ignore
        if model_path is not None:
            p = Path(model_path)
            if p.suffix.lower() in RUNNABLE_SUFFIXES:
                candidates.append(Target(p, RUNNABLE_SUFFIXES[p.suffix.lower()], p.stem))
        for v in rest:
            candidates.append(Target(workspace.model_path(v), v.format, v.name or v.id, v.id))  # type: ignore
    elif model_path is not None:
        p = Path(model_path)
        if p.suffix.lower() in RUNNABLE_SUFFIXES:
            candidates.append(Target(p, RUNNABLE_SUFFIXES[p.suffix.lower()], p.stem))
    for t in candidates:
        if t.format in RUNNABLE_SUFFIXES.values() and Path(t.path).is_file():
            return t
    return None
