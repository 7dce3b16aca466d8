"""What a command works on: a model file, or a variant of a model's workspace.

``resolve_target(ref, model=..., workspace=..., formats=...)`` accepts a model
path or a variant reference (id, id prefix or name). Serve/sweep, cost and
deploy each pass the suffixes they can run; anything else gets one line that
says what to do instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError

RUNNABLE_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite", ".xml": "openvino"}
ENGINE_SUFFIXES = {**RUNNABLE_SUFFIXES, ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt",
                   ".pt2": "aoti"}


@dataclass
class Target:
    name: str
    path: Path
    format: str
    variant: Any = None          # engines.workspace.Variant, or None for a plain file
    workspace: Any = None        # engines.workspace.Workspace holding ``variant``

    @property
    def variant_id(self) -> str | None:
        return self.variant.id if self.variant is not None else None

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.variant.metrics) if self.variant is not None else {}

    @property
    def size_bytes(self) -> int:
        from engines.fsutil import size_on_disk

        return size_on_disk(self.path)

    @classmethod
    def of_variant(cls, workspace: Any, variant: Any) -> "Target":
        return cls(variant.name or variant.id, workspace.model_path(variant), variant.format, variant, workspace)


def resolve_target(ref: str, *, model: str | os.PathLike | None = None,
                   workspace: str | os.PathLike | None = None,
                   formats: dict[str, str] = RUNNABLE_SUFFIXES, purpose: str = "run") -> Target:
    path = Path(ref).expanduser()
    if path.exists():
        fmt = formats.get(path.suffix.lower())
        if fmt is None:
            kinds = ", ".join(sorted(formats))
            raise UnsupportedError(f"{path.name} cannot be {purpose} directly: give a {kinds} file or a variant id "
                                   "with --model MODEL (optimize the model first to get an ONNX variant)")
        return Target(path.stem, path.resolve(), fmt)
    from engines.workspace import Workspace

    if workspace is not None:
        ws = Workspace(workspace)
    elif model is not None:
        src = Path(model).expanduser()
        if not src.exists():
            raise WorkbenchError(f"--model {src} does not exist")
        ws = Workspace.for_model(src)
    else:
        raise WorkbenchError(f"{ref!r} is neither a file nor a variant: give a model path, or --model PATH / "
                             "--workspace DIR to look the variant up")
    v = ws.resolve(ref)
    if v.status != "ok":
        raise WorkbenchError(f"variant {v.name!r} failed to build ({v.error}); pick another")
    return Target.of_variant(ws, v)
