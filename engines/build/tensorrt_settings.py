"""User choices for a TensorRT build → validated builder settings (pure Python, no TensorRT needed).

How a precision becomes a build on TensorRT 10.x and 11.x (strong typing,
FP16 graphs, Q/DQ INT8, the flags each release still has) is decided by
:mod:`engines.build.tensorrt_typing`. INT8 here always means *explicit*
quantization: the network must carry QuantizeLinear/DequantizeLinear pairs (the
QDQ variants of the Optimize lab); no calibrator is used (11.x removed them).
``sparse`` asks for ``SPARSE_WEIGHTS`` (2:4 structured sparsity, used by sparse
tensor cores on compute capability 8.0+ for weights that are already 2:4
sparse). The batch profile (min/opt/max) becomes one optimization profile over
dim 0 of every input; other dimensions must be static.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from engines.errors import WorkbenchError
from engines.models.model_info import TensorSpec

if TYPE_CHECKING:
    from engines.build.tensorrt_typing import TypingPlan

PRECISIONS = ("fp32", "fp16", "int8")
MIN_WORKSPACE_MB = 16
MAX_WORKSPACE_MB = 1 << 20   # 1 TiB: a typo guard, not a hardware limit
MAX_BATCH = 65536
SPARSE_MIN_CC = (8, 0)


@dataclass(frozen=True)
class TensorRTSettings:
    precision: str = "fp32"
    sparse_weights: bool = False
    workspace_mb: int = 1024
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 32
    builder_optimization_level: int = 3  # TensorRT's default; 0..5
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        validate(self)

    @property
    def profile(self) -> tuple[int, int, int]:
        return self.min_batch, self.opt_batch, self.max_batch

    @property
    def workspace_bytes(self) -> int:
        return int(self.workspace_mb) << 20

    def plan(self, tensorrt_version: str | tuple[int, int]) -> "TypingPlan":
        """What TensorRT ``tensorrt_version`` does with these settings (flags, strong typing, FP16 graph)."""
        from engines.build.tensorrt_typing import typing_plan

        return typing_plan(tensorrt_version, self.precision, sparse=self.sparse_weights)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["workspace_bytes"] = self.workspace_bytes
        d["notes"] = list(self.notes)
        return d


def validate(s: TensorRTSettings) -> None:
    if s.precision not in PRECISIONS:
        raise WorkbenchError(f"unknown TensorRT precision {s.precision!r}: choose {', '.join(PRECISIONS)}")
    for name in ("workspace_mb", "min_batch", "opt_batch", "max_batch", "builder_optimization_level"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise WorkbenchError(f"TensorRT {name.replace('_', ' ')} must be a whole number, got {value!r}")
    if not MIN_WORKSPACE_MB <= s.workspace_mb <= MAX_WORKSPACE_MB:
        raise WorkbenchError(f"TensorRT workspace {s.workspace_mb} MB is out of range: give "
                             f"{MIN_WORKSPACE_MB} to {MAX_WORKSPACE_MB} MB")
    if not 1 <= s.min_batch <= s.opt_batch <= s.max_batch:
        raise WorkbenchError(f"batch profile {s.min_batch}/{s.opt_batch}/{s.max_batch} is invalid: "
                             "need 1 <= min <= opt <= max")
    if s.max_batch > MAX_BATCH:
        raise WorkbenchError(f"max batch {s.max_batch} is too large: give at most {MAX_BATCH}")
    if not 0 <= s.builder_optimization_level <= 5:
        raise WorkbenchError("TensorRT builder optimization level must be 0 to 5")


def settings_from_choices(precision: str = "fp32", *, sparse: bool = False, workspace_mb: int = 1024,
                          min_batch: int = 1, opt_batch: int = 8, max_batch: int = 32,
                          model_has_qdq: bool | None = None, compute_capability: tuple[int, int] | None = None,
                          fast_fp16: bool | None = None) -> TensorRTSettings:
    """Settings for the user's choices, checked against what is known of the model and the GPU.

    ``model_has_qdq``: whether the ONNX model carries Q/DQ nodes (None: unknown).
    ``compute_capability`` / ``fast_fp16``: the GPU's, when known.
    """
    notes: list[str] = []
    precision = str(precision).lower()
    if precision == "int8" and model_has_qdq is False:
        raise WorkbenchError("TensorRT INT8 here uses explicit quantization and this model has no "
                             "QuantizeLinear/DequantizeLinear nodes: build from a QDQ variant "
                             "(Optimize → int8 static, QDQ format) or choose fp16")
    if precision != "int8" and model_has_qdq:
        notes.append("the model has Q/DQ nodes: TensorRT runs them in INT8 whatever the precision flag")
    if sparse:
        if compute_capability is not None and tuple(compute_capability) < SPARSE_MIN_CC:
            raise WorkbenchError(f"2:4 sparse weights need compute capability 8.0 or newer (Ampere+); this GPU "
                                 f"is {compute_capability[0]}.{compute_capability[1]}: turn sparsity off")
        notes.append("SPARSE_WEIGHTS only speeds up layers whose weights are already 2:4 sparse "
                     "(Optimize → prune 2:4)")
    if precision in ("fp16", "int8") and fast_fp16 is False:
        notes.append("this GPU has no fast FP16: expect little gain from reduced precision")
    return TensorRTSettings(precision=precision, sparse_weights=bool(sparse), workspace_mb=int(workspace_mb),
                            min_batch=int(min_batch), opt_batch=int(opt_batch), max_batch=int(max_batch),
                            notes=tuple(notes))


def profile_shapes(inputs: list[TensorSpec], settings: TensorRTSettings) -> dict[str, tuple[tuple[int, ...], ...]]:
    """(min, opt, max) shape of every input: dim 0 from the batch profile, the rest static."""
    shapes: dict[str, tuple[tuple[int, ...], ...]] = {}
    for spec in inputs:
        if not spec.shape:
            raise WorkbenchError(f"input {spec.name!r} is a scalar: TensorRT profiles need a batch dimension")
        rest = []
        for i, d in enumerate(spec.shape[1:], start=1):
            if not isinstance(d, int) or d < 0:
                raise WorkbenchError(f"input {spec.name!r} has a dynamic dimension {i} ({d}) besides the batch: "
                                     "export the model with that dimension fixed, then build again")
            rest.append(d)
        batch_dim = spec.shape[0]
        if isinstance(batch_dim, int) and batch_dim > 0 and (settings.min_batch, settings.max_batch) != (
                batch_dim, batch_dim):
            raise WorkbenchError(f"input {spec.name!r} has a fixed batch of {batch_dim}: set min=opt=max="
                                 f"{batch_dim} or export the model with a dynamic batch")
        shapes[spec.name] = tuple((b, *rest) for b in settings.profile)
    return shapes
