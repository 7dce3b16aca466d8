"""Tiny models and bad files built inside tests (no sample files needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_onnx(path: Path, *, external: bool = False, location: str | None = None) -> Path:
    """[batch, 4] -> Gemm(4x3) -> Relu -> [batch, 3]; weights optionally in external data."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "w")
    b = numpy_helper.from_array(np.zeros(3, dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc"), helper.make_node("Relu", ["h"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=location or (path.name + ".data"), size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def constant_weights_onnx(path: Path) -> Path:
    """Same network, but the weights are Constant nodes instead of initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "wc")
    b = numpy_helper.from_array(np.zeros(3, dtype=np.float32), "bc")
    nodes = [
        helper.make_node("Constant", [], ["w"], value=w),
        helper.make_node("Constant", [], ["b"], value=b),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([-1, 3], np.int64))),
        helper.make_node("Gemm", ["x", "w", "b"], ["h"]),
        helper.make_node("Reshape", ["h", "shape"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "const",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def huge_dynamic_onnx(path: Path) -> Path:
    """Input [batch, 100000, 100000] -> MatMul with a [100000, 2] weight: 2e10 MACs per sample."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [100000, 2], vals=b"\0" * (100000 * 2 * 4), raw=True)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 100000, 100000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 100000, 2])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def random_bytes(path: Path, n: int = 4096, seed: int = 1) -> Path:
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def tiny_torch_module():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 10)).eval()
