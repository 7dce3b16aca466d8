"""Recipes: the exact, hashable description of how a variant is made.

A :class:`Recipe` names a pruning step (mode, amount, recovery epochs) and a
quantization step (mode, format, granularity, types, calibration). Fields
that do not apply to the chosen modes are reset by :meth:`Recipe.normalized`,
so two recipes that build the same model have the same workspace key.
:meth:`Recipe.to_dict` adds the hash of the source model and, where data
shapes the result (calibration, recovery), the hash of that data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from engines import formats as F
from engines import registry
from engines.errors import WorkbenchError

# The modes come from the capability registry; "none" means the step is skipped.
PRUNE_MODES = (registry.NO_MODE, *registry.ids("prune"))
QUANT_MODES = (registry.NO_MODE, *registry.ids("quantize"))
ORT_QUANT_MODES = tuple(c.id for c in registry.by_kind("quantize") if c.output_format == F.ONNX)
TFLITE_QUANT_MODES = tuple(c.id for c in registry.by_kind("quantize") if c.output_format == F.TFLITE)
CALIBRATED_MODES = tuple(c.id for c in registry.by_kind("quantize") if c.needs_calibration)
FORMATS = ("qdq", "qoperator")
INT_TYPES = ("u8", "s8")
CALIBRATIONS = ("minmax", "entropy", "percentile")
SCOPES = ("global", "layer")
SCHEDULES = ("one-shot", "iterative", "regularized")   # structured pruning (engines/optimize/prune_schedule.py)
# Fields added after the first workspaces were written: left out of the key at their defaults, so every
# recipe made before them keeps its workspace key (and its stored variant).
LATER_FIELDS = {"prune_schedule": "one-shot", "prune_steps": 3, "reg_epochs": 2, "prune_reg": 1e-3,
                "qat_epochs": 2, "prune_blocks": 0}
BLOCKS = "blocks"   # layer/block removal (engines/optimize/remove_blocks.py)

# Short names accepted on the command line and in the UI.
QUANT_ALIASES = registry.aliases("quantize")


@dataclass(frozen=True)
class Recipe:
    prune_mode: str = "none"
    prune_amount: float = 0.0
    prune_scope: str = "global"          # unstructured only
    recover_epochs: int = 0
    quant: str = "none"
    quant_format: str = "qdq"            # int8-static
    per_channel: bool = True             # int8-static / int8-dynamic
    activation_type: str = "u8"          # int8-static
    weight_type: str = "s8"              # int8-static / int8-dynamic
    calibration: str = "minmax"          # int8-static
    calib_samples: int = 128             # int8-static / tflite-int8
    block_size: int = 32                 # int4
    prune_schedule: str = "one-shot"     # structured: one-shot | iterative (N prune+recover steps) | regularized
    prune_steps: int = 3                 # iterative: prune steps, the recovery epochs shared between them
    reg_epochs: int = 2                  # regularized: sparsity-regularized epochs before pruning
    prune_reg: float = 1e-3              # regularized: group regularization strength
    qat_epochs: int = 2                  # int8-qat: quantization-aware fine-tune epochs
    prune_blocks: int = 0                # blocks: how many blocks to remove (0: prune_amount of the removable)

    def __post_init__(self) -> None:
        quant = QUANT_ALIASES.get(self.quant, self.quant)
        object.__setattr__(self, "quant", quant)
        checks = [("prune mode", self.prune_mode, PRUNE_MODES), ("quantization", quant, QUANT_MODES),
                  ("format", self.quant_format, FORMATS), ("activation type", self.activation_type, INT_TYPES),
                  ("weight type", self.weight_type, INT_TYPES), ("calibration", self.calibration, CALIBRATIONS),
                  ("pruning scope", self.prune_scope, SCOPES), ("pruning schedule", self.prune_schedule, SCHEDULES)]
        for what, value, allowed in checks:
            if value not in allowed:
                raise WorkbenchError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
        if not 0.0 <= float(self.prune_amount) <= 0.95:
            raise WorkbenchError(f"pruning amount {self.prune_amount} is out of range: give 0 to 0.95")
        if self.recover_epochs < 0 or self.calib_samples < 1:
            raise WorkbenchError("recovery epochs must be >= 0 and calibration samples >= 1")
        if self.block_size not in (16, 32, 64, 128, 256):
            raise WorkbenchError(f"INT4 block size {self.block_size} unsupported: use 16, 32, 64, 128 or 256")
        if int(self.prune_blocks) != self.prune_blocks or self.prune_blocks < 0:
            raise WorkbenchError(f"the number of blocks to remove must be a whole number >= 1 (got "
                                 f"{self.prune_blocks})")
        if not 1 <= self.prune_steps <= 20 or self.reg_epochs < 0 or self.qat_epochs < 0 or \
                not 0 < float(self.prune_reg) <= 1:
            raise WorkbenchError("pruning steps must be 1..20, regularized and QAT epochs >= 0, and the "
                                 "regularization strength in (0, 1]")

    # -- derived ---------------------------------------------------------
    @property
    def prunes(self) -> bool:
        return self.prune_mode != "none" and (self.prune_mode == "2:4" or self.prune_amount > 0 or
                                              (self.prune_mode == BLOCKS and self.prune_blocks > 0))

    @property
    def quantizes(self) -> bool:
        return self.quant != "none"

    @property
    def is_baseline(self) -> bool:
        return not self.prunes and not self.quantizes

    @property
    def uses_calibration(self) -> bool:
        return self.quant in CALIBRATED_MODES

    def normalized(self) -> "Recipe":
        """The same recipe with every field that does not apply reset to its default."""
        d = Recipe()
        kw: dict[str, Any] = {}
        if not self.prunes:
            kw.update(prune_mode="none", prune_amount=0.0, prune_scope=d.prune_scope, recover_epochs=0)
        elif self.prune_mode == "2:4":
            kw.update(prune_amount=0.5, prune_scope=d.prune_scope)
        elif self.prune_mode in ("structured", BLOCKS):
            kw.update(prune_scope=d.prune_scope)
        if self.prune_mode != BLOCKS or not self.prunes:
            kw["prune_blocks"] = d.prune_blocks
        elif self.prune_blocks:
            kw["prune_amount"] = 0.0      # an exact count: the fraction does not apply
        if not self.prunes or self.prune_mode != "structured" or self.prune_schedule == "one-shot":
            kw.update(prune_schedule=d.prune_schedule, prune_steps=d.prune_steps, reg_epochs=d.reg_epochs,
                      prune_reg=d.prune_reg)
        elif self.prune_schedule == "iterative":
            kw.update(reg_epochs=d.reg_epochs, prune_reg=d.prune_reg)
        else:
            kw.update(prune_steps=d.prune_steps)
        if self.quant != "int8-qat":
            kw["qat_epochs"] = d.qat_epochs
        if self.prunes:
            kw["prune_amount"] = round(float(kw.get("prune_amount", self.prune_amount)), 4)
        if self.quant != "int8-static":
            kw.update(quant_format=d.quant_format, activation_type=d.activation_type, calibration=d.calibration)
        if self.quant not in ("int8-static", "int8-dynamic"):
            kw.update(per_channel=d.per_channel, weight_type=d.weight_type)
        if not self.uses_calibration:
            kw["calib_samples"] = d.calib_samples
        if self.quant != "int4":
            kw["block_size"] = d.block_size
        return replace(self, **kw)

    def prune_stage(self) -> "Recipe":
        """Only the pruning (and recovery) part: the parent of the quantized variant."""
        return replace(Recipe(), prune_mode=self.prune_mode, prune_amount=self.prune_amount,
                       prune_scope=self.prune_scope, recover_epochs=self.recover_epochs,
                       prune_schedule=self.prune_schedule, prune_steps=self.prune_steps,
                       reg_epochs=self.reg_epochs, prune_reg=self.prune_reg,
                       prune_blocks=self.prune_blocks).normalized()

    def kind(self) -> str:
        if self.is_baseline:
            return "baseline"
        return "quantized" if self.quantizes else "pruned"

    def label(self) -> str:
        """Short human name, e.g. ``prune structured 50% +3ep | int8 static qdq u8/s8 pc minmax``."""
        r = self.normalized()
        parts: list[str] = []
        if r.prunes and r.prune_mode == BLOCKS:
            n = r.prune_blocks
            p = (f"remove {n} block{'s' if n > 1 else ''}" if n else
                 f"remove {round(r.prune_amount * 100)}% of blocks") + (f" +{r.recover_epochs}ep" if r.recover_epochs
                                                                        else "")
            parts.append(p)
        elif r.prunes:
            p = f"prune {r.prune_mode}" + ("" if r.prune_mode == "2:4" else f" {round(r.prune_amount * 100)}%")
            if r.prune_mode == "unstructured" and r.prune_scope == "layer":
                p += " per-layer"
            if r.prune_schedule == "iterative":
                p += f" iterative x{r.prune_steps}"
            elif r.prune_schedule == "regularized":
                p += f" regularized {r.reg_epochs}ep reg {r.prune_reg:g}"
            if r.recover_epochs:
                p += f" +{r.recover_epochs}ep"
            parts.append(p)
        if r.quant == "int8-static":
            parts.append(f"int8 static {r.quant_format} {r.activation_type}/{r.weight_type} "
                         f"{'pc' if r.per_channel else 'pt'} {r.calibration}")
        elif r.quant == "int8-dynamic":
            parts.append(f"int8 dynamic {r.weight_type} {'pc' if r.per_channel else 'pt'}")
        elif r.quant == "int8-qat":
            parts.append(f"int8 QAT {r.qat_epochs}ep qdq u8/s8 pc")
        elif r.quant == "int4":
            parts.append(f"int4 weight-only b{r.block_size}")
        elif r.quantizes:
            parts.append(r.quant)
        return " | ".join(parts) or "baseline"

    def to_dict(self, source_hash: str = "", data_hash: str | None = None) -> dict[str, Any]:
        """The workspace key material: the normalized fields plus the input hashes."""
        r = self.normalized()
        d = asdict(r)
        for name, default in LATER_FIELDS.items():
            if d[name] == default:
                del d[name]
        d["source"] = source_hash
        uses_data = r.uses_calibration or (r.prunes and (r.recover_epochs > 0 or r.prune_schedule == "regularized"
                                                         or r.prune_mode == BLOCKS))  # blocks chosen on the data
        d["data"] = data_hash if uses_data else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Recipe":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
