"""Tiny models and helpers shared by the performance-lab tests (built in the test, no downloads)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engines.model_info import TensorSpec


def tiny_onnx(path: Path, in_features: int = 16, out_features: int = 4, seed: int = 0) -> Path:
    """A dense layer + softmax with a dynamic batch axis: x float32 [N, in] -> y [N, out]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((in_features, out_features)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(out_features).astype(np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["z"]),
             helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_features])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_features])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


class SlowRunner:
    """A runner whose every call takes ``delay_s`` (to hold requests in flight); records batch sizes."""

    def __init__(self, delay_s: float = 0.05, features: int = 4) -> None:
        self.inputs = [TensorSpec("x", ("N", features), "float32")]
        self.outputs = [TensorSpec("y", ("N", 1), "float32")]
        self.device, self.threads = "cpu", 1
        self.delay_s = delay_s
        self.calls: list[int] = []

    def run(self, feeds):
        x = feeds["x"]
        self.calls.append(int(x.shape[0]))
        time.sleep(self.delay_s)
        return [x.sum(axis=1, keepdims=True)]
