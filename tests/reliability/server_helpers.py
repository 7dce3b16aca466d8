"""Tiny ONNX models and runners for the server reliability tests (built in the test, no downloads)."""

from __future__ import annotations

from pathlib import Path


from engines.models.model_info import TensorSpec


def onnx_model(path: Path, op: str, features: int = 4, out_shape: list | None = None, **attrs) -> Path:
    """x float32 [N, features] -> op(x); ``out_shape`` None means a scalar output."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], **attrs)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape if out_shape is not None else [])
    graph = helper.make_graph([node], op.lower(), [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  ["N", features])], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def scalar_model(path: Path) -> Path:
    """ReduceSum over every axis, keepdims=0: a valid model whose output is one scalar."""
    return onnx_model(path, "ReduceSum", keepdims=0)


class ScriptedRunner:
    """Answers x.sum(axis=1); raises when the first value is negative; returns garbage when it is 999."""

    def __init__(self, features: int = 4) -> None:
        self.inputs = [TensorSpec("x", ("N", features), "float32")]
        self.outputs = [TensorSpec("y", ("N", 1), "float32")]
        self.device, self.threads = "cpu", 1

    def run(self, feeds):
        x = feeds["x"]
        if (x[:, 0] < 0).any():
            raise RuntimeError("boom: negative input")
        if (x[:, 0] == 999).any():
            return None                                  # not a list of arrays: breaks splitting
        return [x.sum(axis=1, keepdims=True)]
