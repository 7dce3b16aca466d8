"""ONNX element types as numpy dtype names, from ``onnx.helper`` (no hand-written tables)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=64)
def onnx_dtype(elem_type: int) -> str:
    """``TensorProto`` element type -> numpy dtype name ("float32", "bfloat16", ...); unknown -> the number."""
    import numpy as np
    from onnx import TensorProto, helper

    if elem_type == TensorProto.STRING:
        return "string"
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(int(elem_type))).name
    except (KeyError, TypeError, ValueError):
        return str(elem_type)


@lru_cache(maxsize=64)
def ort_dtype(type_str: str) -> str:
    """An ONNX Runtime type string ("tensor(float)") -> numpy dtype name; anything else comes back unchanged."""
    from onnx import TensorProto

    if not (type_str.startswith("tensor(") and type_str.endswith(")")):
        return type_str
    name = type_str[len("tensor("):-1].upper()
    try:
        return onnx_dtype(TensorProto.DataType.Value(name))
    except ValueError:
        return type_str
