"""What to serve or sweep: a runnable model file, or a variant of a model's workspace."""

from __future__ import annotations

import os
from pathlib import Path

from engines.targets import RUNNABLE_SUFFIXES, Target
from engines.targets import resolve_target as _resolve



def resolve_target(ref: str, model: str | os.PathLike | None = None,
                   workspace: str | os.PathLike | None = None) -> Target:
    """``ref`` is a model file (.onnx, .tflite) or a variant id/name of ``model``'s workspace."""
    return _resolve(ref, model=model, workspace=workspace, formats=RUNNABLE_SUFFIXES, purpose="run")


def runnable_target(model_path: str | os.PathLike | None, workspace: object = None,
                    selected_id: str | None = None) -> Target | None:
    """The model the Batching screen serves by default: the selected variant if runnable, else the open
    model if it is ONNX/TFLite, else the newest runnable variant; None when there is none."""
    own = None
    if model_path is not None and Path(model_path).suffix.lower() in RUNNABLE_SUFFIXES:
        p = Path(model_path)
        own = Target(p.stem, p, RUNNABLE_SUFFIXES[p.suffix.lower()])
    variants = [v for v in workspace.variants() if v.status == "ok"] if workspace is not None else []  # type: ignore
    chosen = [Target.of_variant(workspace, v) for v in variants if v.id == selected_id]
    rest = [Target.of_variant(workspace, v) for v in reversed(variants) if v.id != selected_id]
    candidates = chosen + ([own] if own is not None else []) + rest
    for t in candidates:
        if t.format in RUNNABLE_SUFFIXES.values() and Path(t.path).is_file():
            return t
    return None
