"""The report every pruning engine returns, and small shared helpers.

A :class:`PruneReport` carries what a pruning step measurably did: MACs and
parameters before/after (structured), per-layer sparsity and compressed size
(unstructured, 2:4), and a plain note on what the change buys on which hardware.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engines.errors import WorkbenchError

MAX_AMOUNT = 0.95

NOTE_STRUCTURED = ("channels physically removed: the smaller dense model needs fewer MACs and runs "
                   "faster on any hardware; accuracy usually needs a recovery fine-tune")
NOTE_UNSTRUCTURED = ("masking only zeroes weights: dense kernels still multiply the zeros, so latency and "
                     "file size do not change; the gain is a smaller compressed file (zip/zlib), or speed "
                     "only with sparse kernels, which on a CPU beat dense only for large Linear layers at high "
                     "sparsity and never for convolutions (`workbench sparse MODEL` measures the crossover here)")
NOTE_24 = ("2:4 semi-structured sparsity: needs sparse-capable GPU kernels (e.g. NVIDIA Ampere+ sparse "
           "tensor cores / TensorRT sparse weights) for any speedup; on CPU and dense kernels it runs at the "
           "dense speed")


@dataclass
class PruneReport:
    mode: str                                   # "structured" | "unstructured" | "2:4" | "blocks"
    amount: float                               # requested fraction (channels or weights)
    framework: str                              # "torch" | "onnx"
    scope: str | None = None                    # "global" | "layer" (unstructured)
    macs_before: int | None = None
    macs_after: int | None = None
    params_before: int | None = None
    params_after: int | None = None
    layer_sparsity: dict[str, float] = field(default_factory=dict)   # layer -> fraction of zero weights
    sparsity: float | None = None               # zero fraction over all pruned weights
    compressed_size_bytes: int | None = None    # zlib size after pruning
    compressed_size_before_bytes: int | None = None
    size_bytes_before: int | None = None        # raw size (file for ONNX, weight bytes for torch)
    size_bytes_after: int | None = None
    channels: dict[str, int] = field(default_factory=dict)           # structured: layer -> out channels after
    channels_before: dict[str, int] = field(default_factory=dict)
    ignored_layers: list[str] = field(default_factory=list)
    skipped_layers: dict[str, str] = field(default_factory=dict)     # layer -> why it was left dense
    blocks: dict[str, Any] = field(default_factory=dict)             # block removal: removable, removed, scores
    output_path: str | None = None
    elapsed_s: float = 0.0
    note: str = ""
    module: Any = field(default=None, repr=False, compare=False)     # the pruned torch module (not serialised)

    @property
    def macs_ratio(self) -> float | None:
        if not self.macs_before or not self.macs_after:
            return None
        return self.macs_before / self.macs_after

    @property
    def compression_gain(self) -> float | None:
        if not self.compressed_size_before_bytes or not self.compressed_size_bytes:
            return None
        return self.compressed_size_before_bytes / self.compressed_size_bytes

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(_without_module(self)).items() if k != "module"}
        d["macs_ratio"] = self.macs_ratio
        d["compression_gain"] = self.compression_gain
        return d


def _without_module(report: PruneReport) -> PruneReport:
    # asdict deep-copies every field; never let it touch the torch module
    from dataclasses import replace

    return replace(report, module=None)


def check_amount(amount: float, *, allow_zero: bool = True) -> float:
    """A fraction in [0, 0.95]; a percentage or a negative number is refused with the fix."""
    try:
        amount = float(amount)
    except (TypeError, ValueError):
        raise WorkbenchError(f"pruning amount {amount!r} is not a number: give a fraction such as 0.5") from None
    if not np.isfinite(amount) or amount < 0 or amount > MAX_AMOUNT or (amount == 0 and not allow_zero):
        raise WorkbenchError(f"pruning amount {amount:g} is out of range: give a fraction between 0 and "
                             f"{MAX_AMOUNT} (0.5 means 50%)")
    return amount


def check_scope(scope: str) -> str:
    if scope not in ("global", "layer"):
        raise WorkbenchError(f"pruning scope {scope!r} is unknown: use 'global' or 'layer'")
    return scope


def zlib_size(data: bytes | bytearray | memoryview, level: int = 6) -> int:
    """Bytes after zlib compression: what a zip of the file would roughly weigh."""
    comp = zlib.compressobj(level)
    view = memoryview(data)
    total = 0
    step = 1 << 22
    for start in range(0, len(view), step):
        total += len(comp.compress(view[start:start + step]))
    return total + len(comp.flush())


def zero_fraction(arr: np.ndarray) -> float:
    return float(np.count_nonzero(arr == 0)) / max(1, arr.size)
