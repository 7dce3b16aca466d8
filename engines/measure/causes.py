"""Why a variant is slower than its baseline, read from the model itself and this CPU.

The notes are evidence, not a fixed phrase: for an ONNX variant the graph is
read (quantize/dequantize nodes, ops left in float between them, MACs), for a
TFLite variant the interpreter's op list (ops still in float, QUANTIZE /
DEQUANTIZE), and the CPU's instruction set decides what low precision can
gain here. Each note names its mode (INT4 says INT4, FP16 says FP16).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

QDQ = {"QuantizeLinear", "DequantizeLinear"}
QOPERATOR = {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
             "MatMulIntegerToFloat", "QGemm", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearGlobalAveragePool",
             "MatMulNBits"}
# ops that move or reshape data: no arithmetic worth quantizing
PLUMBING = {"Reshape", "Flatten", "Transpose", "Shape", "Gather", "Concat", "Squeeze", "Unsqueeze", "Identity",
            "Constant", "Slice", "Split", "Cast", "Expand", "Range", "ConstantOfShape", "Pad", "Tile"}
MODE_NAMES = {"int8-static": "INT8 static", "int8-dynamic": "INT8 dynamic", "int4": "INT4 weight-only",
              "fp16": "FP16", "tflite-int8": "TFLite full-integer INT8", "tflite-dynamic": "TFLite dynamic-range",
              "tflite-fp16": "TFLite FP16", "tflite-float": "TFLite float"}
SMALL_MACS = 2_000_000   # below this, per-op overhead (not arithmetic) dominates a CPU inference


@dataclass
class GraphFacts:
    fmt: str
    nodes: int = 0
    qdq_nodes: int = 0
    qoperator_nodes: int = 0
    float_between_qdq: Counter = field(default_factory=Counter)   # op type -> count left in float
    float_ops: Counter = field(default_factory=Counter)           # TFLite: float ops in a quantized model
    macs: int | None = None

    def float_text(self, limit: int = 4) -> str:
        c = self.float_between_qdq or self.float_ops
        return ", ".join(f"{n} {op}" for op, n in c.most_common(limit))


def onnx_facts(path: str | os.PathLike) -> GraphFacts:
    """Q/DQ and QOperator counts, compute ops left in float between Q/DQ nodes, MACs of an ONNX file."""
    import onnx

    from engines.models.macs import estimate_macs

    model = onnx.load(str(path), load_external_data=False)
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    facts = GraphFacts(fmt="onnx", nodes=len(g.node))
    facts.qdq_nodes = sum(n.op_type in QDQ for n in g.node)
    facts.qoperator_nodes = sum(n.op_type in QOPERATOR for n in g.node)
    if facts.qdq_nodes:
        inits = {i.name for i in g.initializer}
        for n in g.node:
            if n.op_type in QDQ | QOPERATOR | PLUMBING:
                continue
            ins = [i for i in n.input if i and i not in inits]
            from_dq = bool(ins) and all(getattr(producer.get(i), "op_type", "") == "DequantizeLinear" for i in ins)
            to_q = all(c.op_type == "QuantizeLinear" for o in n.output for c in consumers.get(o, [])) and \
                any(consumers.get(o) for o in n.output)
            if not (from_dq and to_q):
                facts.float_between_qdq[n.op_type] += 1
    try:
        facts.macs = estimate_macs(model).total or None
    except Exception:  # noqa: BLE001 - MACs are a best effort on odd graphs
        facts.macs = None
    return facts


def tflite_facts(path: str | os.PathLike) -> GraphFacts:
    """Op counts of a TFLite file: ops computing in float in a quantized model, QUANTIZE/DEQUANTIZE."""
    from pathlib import Path

    import numpy as np

    from engines.models.inspect_tflite import open_interpreter

    interp = open_interpreter(Path(path), threads=1)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    facts = GraphFacts(fmt="tflite")
    try:
        ops = interp._get_ops_details()   # noqa: SLF001 - the only op list LiteRT offers
    except Exception:  # noqa: BLE001
        return facts
    facts.nodes = len(ops)
    quantized = any(np.dtype(t["dtype"]) in (np.int8, np.uint8) for t in tensors.values())
    for op in ops:
        name = op.get("op_name", "?")
        if name in ("QUANTIZE", "DEQUANTIZE"):
            facts.qdq_nodes += 1
            continue
        outs = [tensors[i] for i in op.get("outputs", []) if i in tensors]
        if quantized and outs and all(np.dtype(t["dtype"]) == np.float32 for t in outs):
            facts.float_ops[name] += 1
    return facts


def graph_facts(path: str | os.PathLike, fmt: str) -> GraphFacts | None:
    try:
        return onnx_facts(path) if fmt == "onnx" else tflite_facts(path) if fmt == "tflite" else None
    except Exception:  # noqa: BLE001 - a note must never break a report
        return None


def slowdown_causes(mode: str, facts: GraphFacts | None, *, recipe: dict[str, Any] | None = None,
                    cpu: Any = None) -> list[str]:
    """The reasons, from the graph and the CPU, that a ``mode`` variant is slower than its float baseline."""
    from engines.measure.cpu_features import cpu_features, explain_int8_slowdown

    cpu = cpu or cpu_features()
    name = MODE_NAMES.get(mode, mode)
    out: list[str] = []
    if facts is not None and (facts.float_between_qdq or facts.float_ops):
        where = "between the Q/DQ nodes" if facts.float_between_qdq else "in the quantized model"
        n = sum((facts.float_between_qdq or facts.float_ops).values())
        out.append(f"{n} op(s) left in float {where} ({facts.float_text()}): each costs a dequantize/"
                   "quantize round trip")
    if facts is not None and facts.qdq_nodes and mode in ("int8-static", "tflite-int8"):
        out.append(f"{facts.qdq_nodes} quantize/dequantize nodes in {facts.nodes}")
    if mode in ("int8-static", "int8-dynamic", "tflite-int8", "tflite-dynamic"):
        if not cpu.int8_dot:
            out.append(f"this CPU ({cpu.model}) has no 8-bit dot-product instructions (no VNNI/AMX/dotprod), so "
                       f"{name} kernels cannot beat FP32 SIMD")
        if recipe and mode.startswith("int8"):
            specific = explain_int8_slowdown(recipe, cpu)
            for part in specific.split("; "):
                if "dot-product" not in part and "too small" not in part and part not in out:
                    out.append(part)
    elif mode == "int4":
        out.append("INT4 weight-only keeps activations in float: weights are unpacked (MatMulNBits) on every "
                   "call, which pays off for large memory-bound MatMuls, not for compute-bound or small layers")
        if facts is not None and facts.qoperator_nodes == 0:
            out.append("no MatMul was converted to INT4 (MatMulNBits), so only overhead was added")
    elif mode in ("fp16", "tflite-fp16"):
        if not cpu.fp16_compute:
            out.append(f"no FP16 arithmetic on this CPU ({cpu.model}): FP16 ops run through casts to float32; "
                       "FP16 pays off on GPUs (and ARM CPUs with FP16)")
    if facts is not None and facts.macs is not None and facts.macs < SMALL_MACS:
        out.append(f"{facts.macs / 1e6:.2g} M MACs per sample: per-op overhead, not arithmetic, dominates "
                   "the latency of a model this small")
    if not out:
        out.append(f"no cause found in the graph ({facts.nodes if facts else '?'} nodes) or the CPU flags; the "
                   f"{name} kernels are simply slower for these layer shapes on {cpu.model}")
    return out
