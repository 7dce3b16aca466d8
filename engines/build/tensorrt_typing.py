"""How a precision choice becomes a TensorRT build, on TensorRT 10.x and 11.x (pure Python, no TensorRT needed).

TensorRT 11 removed weak typing: ``BuilderFlag.FP16/INT8/BF16/FP8``, the
precision-constraint flags, the INT8 calibrators and
``IBuilder.platform_has_fast_fp16/int8`` are gone, and every network is
strongly typed (the ``STRONGLY_TYPED`` creation flag is accepted and ignored).
Precision then comes from the graph itself:

* ``fp32``: the ONNX model as it is (TF32 stays TensorRT's default on Ampere+);
* ``fp16``: the ONNX model converted to float16 with float32 inputs/outputs
  (``onnxconverter_common.float16``, ``keep_io_types=True``) before parsing;
* ``int8``: a model carrying QuantizeLinear/DequantizeLinear pairs (the QDQ
  variants of the Optimize lab); layers outside the pairs run in the graph's
  own float type.

TensorRT 10.12+ offers the same strongly typed mode (opt-in), so the workbench
uses it there too: one behaviour on both. Older 10.x releases, without the
``STRONGLY_TYPED`` flag, get the weakly typed flags they understand. Only the
flags a release still has are ever named (``SPARSE_WEIGHTS`` is in both).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from engines.errors import UnsupportedError

WEAK_TYPING_FLAGS = frozenset({"FP16", "INT8", "BF16", "FP8", "INT4", "FP4", "OBEY_PRECISION_CONSTRAINTS",
                               "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO"})
STRONG_TYPING_FROM = (10, 12)     # first 10.x with the STRONGLY_TYPED network flag as used here


@dataclass(frozen=True)
class TypingPlan:
    """What the builder does for one precision on one TensorRT version."""

    version: tuple[int, int]
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    convert_to_fp16: bool          # convert the ONNX graph to float16 (float32 I/O) before parsing
    needs_qdq: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["version"] = ".".join(map(str, self.version))
        return d

    def describe(self) -> str:
        """One line for the Engine screen: what this TensorRT does with the chosen precision."""
        v = ".".join(map(str, self.version))
        if not self.strongly_typed:
            return (f"TensorRT {v} (weakly typed): precision through builder flags "
                    f"{', '.join(self.builder_flags) or 'none (FP32)'}")
        how = "the FP16 graph (float32 I/O)" if self.convert_to_fp16 else (
            "the model's Q/DQ nodes" if self.needs_qdq else "the FP32 graph")
        return f"TensorRT {v} (strongly typed): precision from {how}"


def parse_version(text: str | None) -> tuple[int, int]:
    m = re.match(r"\s*(\d+)\.(\d+)", text or "")
    if not m:
        raise UnsupportedError(f"cannot read the TensorRT version {text!r}: expected e.g. 10.13.0 or 11.4.0")
    return int(m.group(1)), int(m.group(2))


def typing_plan(version: str | tuple[int, int], precision: str, *, sparse: bool = False,
                has_strongly_typed: bool | None = None,
                available_flags: Iterable[str] | None = None) -> TypingPlan:
    """The plan for ``precision`` on TensorRT ``version``.

    ``has_strongly_typed``: whether ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` exists (None: from the
    version). ``available_flags``: the names ``BuilderFlag`` has (None: from the version); a flag the release
    lacks is never set.
    """
    ver = parse_version(version) if isinstance(version, str) else tuple(version)[:2]
    if ver[0] < 10:
        raise UnsupportedError(f"TensorRT {ver[0]}.{ver[1]} is not supported: install TensorRT 10.x or 11.x")
    strong = has_strongly_typed if has_strongly_typed is not None else (ver[0] >= 11 or ver >= STRONG_TYPING_FROM)
    if ver[0] >= 11:
        strong = True                  # weak typing no longer exists
    precision = precision.lower()
    notes: list[str] = []
    flags: list[str] = []
    if strong:
        if precision == "int8":
            notes.append("INT8 comes from the model's Q/DQ nodes; layers outside them run in the graph's float "
                         "type (no FP16 fallback flag under strong typing)")
        elif precision == "fp16":
            notes.append("FP16 comes from a float16 copy of the graph with float32 inputs and outputs")
    else:
        if precision == "fp16":
            flags.append("FP16")
        elif precision == "int8":
            flags += ["INT8", "FP16"]  # layers outside the Q/DQ pairs may use half precision
    if sparse:
        flags.append("SPARSE_WEIGHTS")
    if available_flags is not None:
        have = set(available_flags)
        missing = [f for f in flags if f not in have]
        if missing:
            raise UnsupportedError(f"TensorRT {ver[0]}.{ver[1]} has no builder flag {', '.join(missing)}: "
                                   "update the workbench's TensorRT support or use another precision")
    return TypingPlan(version=ver, strongly_typed=strong, builder_flags=tuple(flags),
                      convert_to_fp16=strong and precision == "fp16", needs_qdq=precision == "int8",
                      notes=tuple(notes))


def plan_for_module(trt: Any, precision: str, *, sparse: bool = False) -> TypingPlan:
    """The plan for the installed ``tensorrt`` module (reads its version and the flags it really has)."""
    flags = {n for n in dir(trt.BuilderFlag) if n.isupper()}
    strong = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    return typing_plan(trt.__version__, precision, sparse=sparse, has_strongly_typed=strong, available_flags=flags)


def network_flags(trt: Any, plan: TypingPlan) -> int:
    """The ``create_network`` flags: STRONGLY_TYPED when the plan is strongly typed and the release names it."""
    if plan.strongly_typed and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0


# -- engine inspector JSON, both schemas ----------------------------------------------------------------

def io_tensors(info: dict[str, Any]) -> list[dict[str, Any]]:
    """I/O tensors of the inspector's engine JSON: 11.x "I/O Tensors" objects, or 10.x "Bindings" names."""
    if isinstance(info.get("I/O Tensors"), list):
        out = []
        for t in info["I/O Tensors"]:
            if isinstance(t, dict):
                out.append({"name": t.get("Name"), "mode": t.get("IOMode"), "dtype": t.get("DataType"),
                            "shape": t.get("Dimensions")})
        return out
    return [{"name": str(n), "mode": None, "dtype": None, "shape": None} for n in info.get("Bindings") or []]


def layer_output_types(layer: dict[str, Any]) -> str:
    """The output format/type text of one layer: 10.x "Format/Datatype", or 11.x's separate fields."""
    parts = []
    for o in layer.get("Outputs", []) or []:
        if not isinstance(o, dict):
            continue
        if "Format/Datatype" in o:
            parts.append(str(o["Format/Datatype"]))
        else:
            parts.append(" ".join(str(o.get(k, "")) for k in ("DataType", "Format")))
    return " ".join(parts)
