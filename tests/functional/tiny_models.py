"""Tiny models and bad inputs built inside the tests (no sample files needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_onnx(path: Path, *, batch: int | str = "batch", features: int = 64, classes: int = 10) -> Path:
    """MatMul + Add + Relu with a dynamic batch: 650 parameters at the defaults."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(0)
    w = numpy_helper.from_array(rng.randn(features, classes).astype(np.float32), "W")
    b = numpy_helper.from_array(np.zeros(classes, np.float32), "B")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, classes])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="fc"),
             helper.make_node("Add", ["h", "B"], ["a"], name="bias"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    model = helper.make_model(helper.make_graph(nodes, path.stem, [x], [y], [w, b]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def constant_weights_onnx(path: Path) -> Path:
    """The same network with its weights in Constant nodes instead of initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((16, 4), np.float32), "Wc")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    nodes = [helper.make_node("Constant", [], ["W"], value=w, name="const_w"),
             helper.make_node("MatMul", ["x", "W"], ["y"], name="fc")]
    model = helper.make_model(helper.make_graph(nodes, path.stem, [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def huge_dynamic_onnx(folder: Path) -> Path:
    """A 2.5 G-parameter MatMul (10 GB sparse external weights) with dynamic batch and sequence."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    n = 50_000
    w = onnx.TensorProto()
    w.name, w.data_type = "W", TensorProto.FLOAT
    w.dims.extend([n, n])
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    with open(folder / "weights.bin", "wb") as fh:  # sparse: takes no real disk space
        fh.truncate(n * n * 4)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", n])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "huge", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "huge.onnx"
    onnx.save(model, str(path))
    return path


def random_bytes(path: Path, n: int = 4096) -> Path:
    path.write_bytes(np.random.RandomState(1).bytes(n))
    return path


def truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def pickled_module(path: Path) -> Path:
    """A full nn.Module saved with torch.save (pickle): refused unless trusted."""
    import torch

    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()), str(path))
    return path


def bad_inputs(tmp: Path) -> dict[str, Path]:
    """Every bad input of the Foundation issue, keyed by a short id."""
    good = tiny_onnx(tmp / "good.onnx")
    not_saved = tmp / "not_a_savedmodel"
    not_saved.mkdir()
    (not_saved / "variables.txt").write_text("no saved_model.pb here")
    corrupt = bytearray(good.read_bytes())
    corrupt[4:64] = b"\xff" * 60
    (tmp / "corrupt.onnx").write_bytes(bytes(corrupt))
    (tmp / "model.xyz").write_bytes(b"what is this")
    return {
        "missing": tmp / "nope" / "model.onnx",
        "not_savedmodel_dir": not_saved,
        "truncated_onnx": truncated(good, tmp / "truncated.onnx"),
        "corrupt_onnx": tmp / "corrupt.onnx",
        "random_pt": random_bytes(tmp / "random.pt"),
        "random_onnx": random_bytes(tmp / "random.onnx"),
        "random_tflite": random_bytes(tmp / "random.tflite"),
        "unknown_extension": tmp / "model.xyz",
    }
