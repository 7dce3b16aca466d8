"""Inspect Keras (.keras) models and TensorFlow SavedModel folders.

Loading goes through Keras with ``safe_mode=True`` (no Lambda-layer code is
deserialized). TensorFlow is imported only here, when such a file is opened.
"""

from __future__ import annotations

import os
from collections import Counter
from math import prod
from pathlib import Path
from typing import Any

from engines.errors import ModelLoadError, first_line
from engines.models.model_info import ModelInfo, TensorSpec

TRIVIAL_TF_OPS = {"Identity", "NoOp", "Const", "Placeholder", "ReadVariableOp", "VarHandleOp",
                  "StatefulPartitionedCall", "PartitionedCall", "_Arg", "_Retval"}


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _dims(shape: Any) -> tuple[int | str, ...]:
    dims: list[int | str] = []
    for i, d in enumerate(tuple(shape) if shape is not None else ()):
        dims.append(int(d) if d is not None else ("batch" if i == 0 else "?"))
    return tuple(dims)


def _dtype(dt: Any) -> str:
    name = getattr(dt, "name", None) or str(dt)
    return name.replace("tf.", "")


def _flat_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            out.extend(_flat_layers(layer))
        else:
            out.append(layer)
    return out


def layer_macs(layer: Any) -> int:
    """MACs of one Keras layer for one sample (Conv, DepthwiseConv, Dense); 0 for others."""
    kind = type(layer).__name__
    try:
        out_shape = [d for d in layer.output.shape[1:]]
        in_shape = [d for d in layer.input.shape[1:]]
    except (AttributeError, ValueError):
        return 0
    if any(d is None for d in out_shape + in_shape):
        return 0
    out_elems = prod(out_shape)
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        groups = getattr(layer, "groups", 1) or 1
        return out_elems * prod(layer.kernel_size) * in_shape[-1] // groups
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return out_elems * prod(layer.kernel_size)
    if kind in ("Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose"):
        return prod(in_shape) * prod(layer.kernel_size) * out_shape[-1]
    if kind == "Dense":
        return out_elems * in_shape[-1]
    return 0


def inspect_keras(path: Path, *, trust_pickle: bool = False) -> ModelInfo:
    _quiet_tf()
    import keras

    try:
        model = keras.models.load_model(str(path), compile=False, safe_mode=True)
    except ValueError as exc:
        msg = first_line(exc)
        raise ModelLoadError(f"cannot load {path.name} as a Keras model: {msg}") from exc
    layers = _flat_layers(model)
    hist = Counter(type(layer).__name__ for layer in layers)
    table = []
    macs = 0
    for layer in layers:
        m = layer_macs(layer)
        macs += m
        table.append({"name": layer.name, "op": type(layer).__name__, "params": int(layer.count_params()),
                      "macs": m})
    inputs = [TensorSpec(t.name, _dims(t.shape), _dtype(t.dtype)) for t in model.inputs]
    names = list(getattr(model, "output_names", None) or [])
    outputs = [TensorSpec(names[i] if i < len(names) else getattr(t, "name", f"output_{i}"), _dims(t.shape),
                          _dtype(t.dtype)) for i, t in enumerate(model.outputs)]
    notes = ["MACs count Conv, DepthwiseConv and Dense layers at batch 1"]
    if any(d != "batch" and not isinstance(d, int) for s in inputs for d in s.shape):
        notes.append("some input dims are dynamic: MACs of layers after them are left out")
    return ModelInfo(format="keras", path=str(path), name=path.stem, size_bytes=path.stat().st_size,
                     param_count=int(model.count_params()), macs=macs, op_histogram=dict(hist.most_common()),
                     inputs=inputs, outputs=outputs, framework=f"keras {keras.__version__} ({keras.backend.backend()})",
                     layers=table, notes=notes)


def inspect_savedmodel(path: Path, *, trust_pickle: bool = False) -> ModelInfo:
    _quiet_tf()
    import tensorflow as tf

    from engines.fsutil import size_on_disk

    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if sig is None:
        raise ModelLoadError(f"{path.name} has no serving_default signature: export it with model.export(path) "
                             "or tf.saved_model.save(..., signatures=...)")
    in_sig = sig.structured_input_signature[1]
    inputs = [TensorSpec(name, _dims(spec.shape.as_list() if spec.shape.rank is not None else ()),
                         _dtype(spec.dtype)) for name, spec in sorted(in_sig.items())]
    outputs = [TensorSpec(name, _dims(spec.shape.as_list() if spec.shape.rank is not None else ()),
                          _dtype(spec.dtype)) for name, spec in sorted(sig.structured_outputs.items())]
    params = sum(int(prod(v.shape)) for v in sig.variables)
    hist: Counter[str] = Counter()
    graph_def = sig.graph.as_graph_def()
    for fn in graph_def.library.function:
        hist.update(n.op for n in fn.node_def if n.op not in TRIVIAL_TF_OPS)
    hist.update(n.op for n in graph_def.node if n.op not in TRIVIAL_TF_OPS)
    return ModelInfo(format="savedmodel", path=str(path), name=path.name, size_bytes=size_on_disk(path),
                     param_count=params, macs=None, op_histogram=dict(hist.most_common()), inputs=inputs,
                     outputs=outputs, framework=f"tensorflow {tf.__version__} (SavedModel)",
                     notes=["MACs are not estimated for SavedModel graphs: convert to TFLite to see them"])
