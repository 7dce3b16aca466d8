"""Tiny models and data for the quantization/optimization tests (built in the test, no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ONNX = ROOT / "sample_models" / "digits_cnn.onnx"
SAMPLE_PT = ROOT / "sample_models" / "digits_cnn.pt"
SAMPLE_DATA = ROOT / "sample_models" / "digits_test.npz"


def digits_x(n: int = 120, seed: int = 0) -> np.ndarray:
    """Real 8x8 digit images (scikit-learn's bundled set), scaled to 0..1, shape [n, 1, 8, 8]."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32) / 16.0
    idx = np.random.default_rng(seed).permutation(len(images))[:n]
    return images[idx][:, None]


def tiny_cnn_onnx(path: Path, *, matmul: bool = False, seed: int = 0, batch: int | str = "batch") -> Path:
    """Conv-Relu-Conv-Relu-Flatten-Gemm (or MatMul) classifier for [N,1,8,8] inputs, random weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((8, 1, 3, 3)) * 0.5).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32)
    b2 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal((1024, 10)) * 0.05).astype(np.float32)
    b3 = (rng.standard_normal(10) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (w3, "w3"), (b3, "b3")]]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["f"], axis=1),
    ]
    if matmul:
        nodes += [helper.make_node("MatMul", ["f", "w3"], ["m"]), helper.make_node("Add", ["m", "b3"], ["output"])]
    else:
        nodes.append(helper.make_node("Gemm", ["f", "w3", "b3"], ["output"]))
    graph = helper.make_graph(nodes, "tiny_cnn",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def labelled_data(model_path: Path, out: Path, n: int = 120, *, labels: bool = True) -> Path:
    """Digit images with labels = the FP32 model's own predictions (baseline accuracy 100%)."""
    import onnxruntime as ort

    x = digits_x(n)
    if labels:
        sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        y = sess.run(None, {"input": x})[0].argmax(1).astype(np.int64)
        np.savez(out, x=x, y=y)
    else:
        np.savez(out, x=x)
    return out


def tiny_digits_torchscript(path: Path) -> Path:
    """A DigitsCNN (engines.models.zoo) saved as TorchScript with its architecture recorded."""
    from engines.models import zoo
    from engines.models.torch_load import save_torchscript

    module = zoo.build("DigitsCNN", {"width": 8})
    import torch

    example = (torch.zeros(2, 1, 8, 8),)
    save_torchscript(module, path, example, arch="engines.zoo:DigitsCNN", config={"width": 8},
                     input_specs=zoo.input_specs("DigitsCNN"))
    return path
