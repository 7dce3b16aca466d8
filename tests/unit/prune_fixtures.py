"""Tiny models built in the tests: a torch CNN and a hand-made ONNX graph with Conv, Gemm and MatMul."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_torch_cnn(seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4),
    ).eval()


def tiny_onnx(path: Path, seed: int = 0) -> Path:
    """x[1,8,6,6] -Conv(w 16x8x3x3, b)-> Relu -> GAP -> Flatten -> Gemm(B 16x12, transB=0)
    -> MatMul(B 12x8) -> Gemm(B 4x8, transB=1, bias) = y[1,4]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = {
        "conv.w": rng.normal(size=(16, 8, 3, 3)).astype(np.float32),
        "conv.b": rng.normal(size=(16,)).astype(np.float32),
        "gemm1.B": rng.normal(size=(16, 12)).astype(np.float32),
        "mm.B": rng.normal(size=(12, 8)).astype(np.float32),
        "gemm2.B": rng.normal(size=(4, 8)).astype(np.float32),
        "gemm2.c": rng.normal(size=(4,)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "gemm1.B"], ["h1"], transB=0),
        helper.make_node("MatMul", ["h1", "mm.B"], ["h2"]),
        helper.make_node("Gemm", ["h2", "gemm2.B", "gemm2.c"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def onnx_arrays(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]
