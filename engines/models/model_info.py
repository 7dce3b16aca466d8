"""The one model handle every part of the workbench talks about."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Dim = int | str  # a dynamic dimension is its symbolic name (or "?")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[Dim, ...]
    dtype: str  # numpy dtype name: "float32", "int64", ...
    vocab: int | None = field(default=None, compare=False)  # ids must be < vocab (embedding rows), if known

    @property
    def is_dynamic(self) -> bool:
        return any(not isinstance(d, int) or d < 0 for d in self.shape)

    def shape_text(self) -> str:
        return "[" + ", ".join(str(d) for d in self.shape) + "]"




@dataclass
class ModelInfo:
    format: str                       # a format id of engines.formats
    path: str                         # absolute path of the file or folder
    name: str                         # display name (file stem)
    size_bytes: int                   # on disk, external data included
    param_count: int
    macs: int | None                  # multiply-accumulates for one sample (batch 1); None if unknown
    op_histogram: dict[str, int]      # op/layer type -> count
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    framework: str                    # e.g. "onnx 1.23.2 (opset 17)", "torch 2.13.0"
    opset: int | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)  # name, op, shape/params per layer
    notes: list[str] = field(default_factory=list)              # warnings worth showing
    arch: str | None = None           # "module:Class" of a known PyTorch architecture, if any

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs

    @property
    def support(self) -> str:
        from engines.formats import FORMATS

        known = FORMATS.get(self.format)
        return known.support if known else ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flops"] = self.flops
        d["support"] = self.support
        for key in ("inputs", "outputs"):
            d[key] = [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in getattr(self, key)]
        return d
