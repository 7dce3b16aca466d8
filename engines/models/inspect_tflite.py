"""Inspect a TFLite flatbuffer with the LiteRT interpreter (no TensorFlow import, no allocation)."""

from __future__ import annotations

from collections import Counter
from math import prod
from pathlib import Path
from typing import Any

from engines.errors import ModelLoadError, first_line
from engines.models.model_info import ModelInfo, TensorSpec

WEIGHT_KINDS = ("float", "int8", "uint8", "int16", "int4")
CONV_LIKE = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D", "BATCH_MATMUL"}


def check_tflite_header(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelLoadError(f"{path.name} is not a TFLite flatbuffer (no TFL3 identifier): the file is corrupt "
                             "or has the wrong extension")


def open_interpreter(path: Path, threads: int | None = None) -> Any:
    check_tflite_header(path)
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        msg = first_line(exc)
        raise ModelLoadError(f"LiteRT cannot load {path.name}: {msg}") from exc


def tflite_dtype(dt: Any) -> str:
    name = getattr(dt, "__name__", None) or str(dt)
    return name.replace("numpy.", "")


def tflite_specs(details: list[dict[str, Any]]) -> list[TensorSpec]:
    specs = []
    for d in details:
        sig = d.get("shape_signature")
        shape = list(sig) if sig is not None and len(sig) else list(d["shape"])
        dims = tuple(("batch" if i == 0 else "?") if int(v) < 0 else int(v) for i, v in enumerate(shape))
        specs.append(TensorSpec(d["name"], dims, tflite_dtype(d["dtype"])))
    return specs


def _macs(op: dict[str, Any], shapes: dict[int, list[int]]) -> int:
    name = op["op_name"]
    ins, outs = list(op["inputs"]), list(op["outputs"])
    if name not in CONV_LIKE or len(ins) < 2 or not outs:
        return 0
    out = shapes.get(outs[0])
    w = shapes.get(ins[1])
    if not out or not w:
        return 0
    per_sample = prod(out[1:]) if len(out) > 1 else prod(out)
    if name == "CONV_2D":        # filter [O, kh, kw, I]
        return per_sample * prod(w[1:])
    if name == "CONV_3D":        # filter [kd, kh, kw, I, O]
        return per_sample * prod(w[:-1])
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, O]
        return per_sample * w[1] * w[2]
    if name == "FULLY_CONNECTED":    # weights [O, I]
        return per_sample * w[-1]
    if name == "TRANSPOSE_CONV":     # input 1 is the filter [O, kh, kw, I]; input 2 the activations
        x = shapes.get(ins[2]) if len(ins) > 2 else None
        return prod(x[1:]) * w[0] * w[1] * w[2] if x else 0
    a = shapes.get(ins[0])  # BATCH_MATMUL
    return per_sample * a[-1] if a else 0


def inspect_tflite(path: Path, *, trust_pickle: bool = False) -> ModelInfo:
    import ai_edge_litert

    interp = open_interpreter(path)
    tensors = interp.get_tensor_details()
    ops = interp._get_ops_details()  # op_name, inputs, outputs per node (no public equivalent)
    shapes = {t["index"]: [int(v) for v in t["shape"]] for t in tensors}
    inputs = tflite_specs(interp.get_input_details())
    outputs = tflite_specs(interp.get_output_details())
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    produced = {o for op in ops for o in op["outputs"]}
    bias_inputs = {op["inputs"][2] for op in ops if op["op_name"] in CONV_LIKE and len(op["inputs"]) > 2}
    by_index = {t["index"]: t for t in tensors}
    params = 0
    consumed = {i for op in ops for i in op["inputs"] if i >= 0}
    for idx in consumed - produced - graph_inputs:
        t = by_index.get(idx)
        if t is None:
            continue
        kind = tflite_dtype(t["dtype"])
        if kind.startswith(WEIGHT_KINDS) or (kind == "int32" and idx in bias_inputs):
            params += prod(shapes[idx]) if shapes[idx] else 1
    hist = Counter(op["op_name"] for op in ops)
    layers = []
    macs = 0
    for op in ops:
        m = _macs(op, shapes)
        macs += m
        layers.append({"name": f"{op['op_name'].lower()}_{op['index']}", "op": op["op_name"], "macs": m,
                       "outputs": [by_index[o]["name"] for o in op["outputs"] if o in by_index][:2]})
    quantized = any(tflite_dtype(t["dtype"]) in ("int8", "uint8") for t in tensors)
    notes = ["MACs count CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL at batch 1"]
    if quantized:
        notes.append("integer-quantized tensors present")
    version = getattr(ai_edge_litert, "__version__", "")
    return ModelInfo(format="tflite", path=str(path), name=path.stem, size_bytes=path.stat().st_size,
                     param_count=int(params), macs=macs, op_histogram=dict(hist.most_common()), inputs=inputs,
                     outputs=outputs, framework=f"TFLite flatbuffer (LiteRT {version})".replace(" )", ")"),
                     layers=layers, notes=notes)
