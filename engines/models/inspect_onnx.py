"""Inspect an ONNX model with the ``onnx`` package only (no onnxruntime, no weights read).

The protobuf is loaded without external data; parameter counts come from
tensor dims, so a huge model inspects as fast as a small one. External data
must live inside the model's folder.
"""

from __future__ import annotations

from collections import Counter
from math import prod
from pathlib import Path
from typing import Any

from engines.errors import ModelLoadError, first_line
from engines.models.macs import estimate_macs
from engines.models.dtypes import onnx_dtype
from engines.models.shapes import onnx_vocab, with_vocab
from engines.models.model_info import ModelInfo, TensorSpec

MAX_LAYERS = 2000

# Constant-node tensors of these types are weights; int64/int32 constants are shapes and indices.
WEIGHT_DTYPES = {1, 2, 3, 10, 11, 16, 17, 18, 19, 20, 21, 22}  # int32 left out: Constant int32 are indices


def load_onnx_proto(path: Path) -> Any:
    """Parse the graph (no external weights); one-line errors for corrupt or truncated files."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except DecodeError as exc:
        raise ModelLoadError(f"{path.name} is not a valid ONNX file (protobuf decode failed: the file is "
                             "truncated or corrupt)") from exc
    except Exception as exc:
        msg = first_line(exc)
        raise ModelLoadError(f"{path.name} is not a valid ONNX file: {msg}") from exc
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.output:
        raise ModelLoadError(f"{path.name} is not a valid ONNX model (no IR version or graph outputs): "
                             "the file is corrupt or not ONNX")
    return model


def external_data_files(model: Any, path: Path) -> list[Path]:
    """External data files the model references; refuse any that leave the model's folder."""
    base = path.parent.resolve()
    files: list[Path] = []
    for tensor in _all_tensors(model):
        if tensor.data_location != 1:  # TensorProto.EXTERNAL
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (base / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(base):
            raise ModelLoadError(f"{path.name}: external data location {location!r} escapes the model's folder; "
                                 "refusing to read it (keep the .data file next to the .onnx)")
        if not target.is_file():
            raise ModelLoadError(f"{path.name}: external data file {location!r} is missing: copy it next to "
                                 "the .onnx file")
        if target not in files:
            files.append(target)
    return files


def _all_tensors(model: Any):
    yield from model.graph.initializer
    for node in model.graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t


def _spec(vi: Any) -> TensorSpec:
    t = vi.type.tensor_type
    dims: list[int | str] = []
    if t.HasField("shape"):
        for d in t.shape.dim:
            dims.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?"))
    return TensorSpec(vi.name, tuple(dims), onnx_dtype(t.elem_type))


def inspect_onnx(path: Path, *, trust_pickle: bool = False) -> ModelInfo:
    import onnx

    model = load_onnx_proto(path)
    ext_files = external_data_files(model, path)
    g = model.graph
    init_names = {i.name for i in g.initializer}
    # int64/bool initializers are shapes and indices, not weights
    params = sum(prod(i.dims) for i in g.initializer if i.data_type not in (7, 9))
    notes: list[str] = []

    const_params = 0
    const_nodes = 0
    for node in g.node:
        if node.op_type != "Constant":
            continue
        for a in node.attribute:
            if a.name == "value" and a.HasField("t") and a.t.data_type in WEIGHT_DTYPES and prod(a.t.dims) > 1:
                const_params += prod(a.t.dims)
                const_nodes += 1
    if const_params:
        params += const_params
        notes.append(f"{const_params:,} parameters are stored in {const_nodes} Constant nodes rather than "
                     "initializers (counted); quantizers and pruners treat only initializers as weights")

    made, made_nodes = _runtime_weights(g)
    if made:
        params += made
        notes.append(f"{made:,} parameters are computed at run time by {made_nodes} ConstantOfShape nodes "
                     "(counted; not stored in the file, so quantized or exported copies can be much larger)")
    dup = [i.name for i in g.input if i.name in init_names]
    if dup:
        notes.append(f"{len(dup)} initializers are also listed as graph inputs (ONNX IR {model.ir_version} style); "
                     "quantization drops them from the inputs first")

    histogram = Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.op_type} ({n.domain})" for n in g.node)
    est = estimate_macs(model)
    macs: int | None = est.total
    if est.dynamic_dims:
        others = [d for d in est.dynamic_dims if d not in ("batch", "N", "batch_size", "?")]
        notes.append("MACs assume 1 for dynamic input dims (" + ", ".join(est.dynamic_dims[:8]) + "): batch 1"
                     + ("; pass --input-shape NAME=1x128 (or --data) to count them at the real size" if others else ""))
    if est.inner_unknown:
        notes.append(f"shape inference left {est.inner_unknown} intermediate dims open (taken as 1): "
                     "the MAC estimate may be low")
    if est.unknown_nodes:
        notes.append(f"MACs leave out {len(est.unknown_nodes)} Conv/MatMul nodes whose shapes could not be inferred")
        if est.total == 0:
            macs = None

    sizes = {i.name: prod(i.dims) for i in g.initializer}
    layers = []
    for i, node in enumerate(g.node[:MAX_LAYERS]):
        name = node.name or f"{node.op_type}_{i}"
        layers.append({"name": name, "op": node.op_type, "inputs": list(node.input)[:4],
                       "outputs": list(node.output)[:2], "macs": est.per_node.get(name, 0),
                       "params": sum(sizes.get(x, 0) for x in node.input)})
    if len(g.node) > MAX_LAYERS:
        notes.append(f"layer table shows the first {MAX_LAYERS} of {len(g.node)} nodes")
    if ext_files:
        notes.append("weights in external data: " + ", ".join(f.name for f in ext_files))

    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError and C++ errors: ORT may still run it
        first = first_line(exc)
        notes.append(f"onnx.checker: {first[:160]}")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    producer = f"{model.producer_name} {model.producer_version}".strip()
    framework = f"onnx {onnx.__version__} (IR v{model.ir_version}, opset {opset})"
    if producer:
        framework += f", produced by {producer}"
    size = path.stat().st_size + sum(f.stat().st_size for f in ext_files)
    return ModelInfo(
        format="onnx", path=str(path), name=path.stem, size_bytes=size, param_count=int(params),
        macs=macs, op_histogram=dict(histogram.most_common()),
        inputs=with_vocab([_spec(i) for i in g.input if i.name not in init_names], onnx_vocab(model)),
        outputs=[_spec(o) for o in g.output], framework=framework, opset=opset,
        layers=layers, notes=notes, arch=_arch(model),
    )


def _runtime_weights(g: Any) -> tuple[int, int]:
    """Values made by ConstantOfShape from a constant shape (a legacy way to store zero/constant weights)."""
    from onnx import numpy_helper

    shapes = {i.name: i for i in g.initializer if i.data_type == 7}
    total = nodes = 0
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input and node.input[0] in shapes:
            dims = numpy_helper.to_array(shapes[node.input[0]]).reshape(-1)
            if dims.size >= 1 and prod(int(d) for d in dims) > 1:
                total += prod(int(d) for d in dims)
                nodes += 1
    return total, nodes


def _arch(model: Any) -> str | None:
    for p in model.metadata_props:
        if p.key == "workbench_arch":
            return p.value
    return None
