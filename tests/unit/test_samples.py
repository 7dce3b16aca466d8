"""The committed sample models load and still reach the accuracy their README states."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from engines.models.loader import inspect_model
from engines.measure.runners import open_runner

MARGIN = 0.01  # the committed files are the ones measured; allow only float noise


@pytest.fixture
def manifest(samples_dir):
    return json.loads((samples_dir / "manifest.json").read_text())


def _test_split(samples_dir, nhwc=False):
    with np.load(samples_dir / ("digits_test_nhwc.npz" if nhwc else "digits_test.npz")) as d:
        return d["x"], d["y"]


def test_held_out_split_matches_the_contract(samples_dir):
    x, y = _test_split(samples_dir)
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == np.int64
    assert len(x) == len(y) == 450 and set(np.unique(y)) == set(range(10))
    xn, yn = _test_split(samples_dir, nhwc=True)
    assert np.array_equal(xn, x.transpose(0, 2, 3, 1)) and np.array_equal(yn, y)
    with np.load(samples_dir / "digits_train.npz") as d:
        assert d["x"].shape == (1347, 1, 8, 8)


def test_readme_states_the_manifest_accuracies(samples_dir, manifest):
    readme = (samples_dir / "README.md").read_text()
    assert "workbench samples build" in readme
    for name, m in manifest["models"].items():
        assert re.search(rf"`{re.escape(name)}`.*{m['held_out_accuracy'] * 100:.2f}%", readme), name
        assert m["held_out_accuracy"] >= 0.95


def test_onnx_sample_accuracy(samples_dir, manifest):
    x, y = _test_split(samples_dir)
    runner = open_runner(samples_dir / "digits_cnn.onnx", "onnx", threads=1)
    acc = float(np.mean(np.argmax(runner.run({"input": x})[0], 1) == y))
    assert acc >= manifest["models"]["digits_cnn.onnx"]["held_out_accuracy"] - MARGIN


def test_torchscript_sample_accuracy_and_arch(samples_dir, manifest):
    import torch

    from engines.models.torch_load import load_torch_module
    from engines.models.zoo import DigitsCNN

    model = load_torch_module(samples_dir / "digits_cnn.pt")
    assert isinstance(model, DigitsCNN)
    x, y = _test_split(samples_dir)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    assert acc >= manifest["models"]["digits_cnn.pt"]["held_out_accuracy"] - MARGIN


def test_tflite_sample_accuracy(samples_dir, manifest):
    x, y = _test_split(samples_dir, nhwc=True)
    runner = open_runner(samples_dir / "digits_keras.tflite", "tflite", threads=1)
    out = runner.run({runner.inputs[0].name: x})[0]
    acc = float(np.mean(np.argmax(out, 1) == y))
    assert acc >= manifest["models"]["digits_keras.tflite"]["held_out_accuracy"] - MARGIN
    assert runner.run({runner.inputs[0].name: x[:3]})[0].shape == (3, 10)  # batch resized on the fly


def test_samples_inspect_consistently(samples_dir):
    onnx_info = inspect_model(samples_dir / "digits_cnn.onnx")
    ts_info = inspect_model(samples_dir / "digits_cnn.pt")
    assert onnx_info.macs == ts_info.macs == 337536
    assert onnx_info.arch == ts_info.arch == "engines.zoo:DigitsCNN"
    lite = inspect_model(samples_dir / "digits_keras.tflite")
    assert lite.macs == 337536 and lite.param_count == 38282
    for f in samples_dir.iterdir():   # the labs' ResNet (digits32_*) is the one sample above 1 MB
        assert f.stat().st_size < (3_000_000 if f.name.startswith("digits32") else 1_000_000), f.name
    assert sum(f.stat().st_size for f in samples_dir.iterdir()) < 10_000_000


def test_generator_writes_checked_torchscript_and_onnx(tmp_path):
    from engines.models.samples import generate_tiny_bert

    sizes = {"vocab": 50, "hidden": 16, "layers": 1, "heads": 2, "ffn": 32}
    result = generate_tiny_bert(tmp_path, seq_len=8, **sizes)
    assert result["export"]["checker_ok"] and result["export"]["cosine"] > 0.9999
    onnx_info = inspect_model(result["onnx"])
    ts_info = inspect_model(result["torchscript"])
    assert onnx_info.arch == ts_info.arch == "engines.zoo:TinyBert"
    assert onnx_info.inputs[0].shape == ("batch", 8) and onnx_info.inputs[0].dtype == "int64"
    # the exporter folds constants (e.g. batch norm, position ids), so counts differ slightly
    assert abs(onnx_info.param_count - ts_info.param_count) < 0.05 * ts_info.param_count
    assert onnx_info.op_histogram["MatMul"] >= 6
    again = generate_tiny_bert(tmp_path / "again", seq_len=8, **sizes)  # seeded: identical ONNX weights
    from pathlib import Path

    assert Path(again["onnx"]).read_bytes() == Path(result["onnx"]).read_bytes()


def test_lab_sample_matches_its_manifest(samples_dir):
    import json

    from engines.measure.runners import open_runner

    manifest = json.loads((samples_dir / "lab_manifest.json").read_text())
    data = np.load(samples_dir / "digits32_test.npz")
    assert data["x"].shape[1:] == (1, 32, 32)
    runner = open_runner(samples_dir / "digits32_resnet.onnx", "onnx", threads=1)
    acc = float(np.mean(np.argmax(runner.run({runner.inputs[0].name: data["x"]})[0], 1) == data["y"]))
    assert acc >= 0.97 and abs(acc - manifest["models"]["digits32_resnet.onnx"]["held_out_accuracy"]) < 0.005
    info = inspect_model(samples_dir / "digits32_resnet.pt")
    assert info.arch == "engines.zoo:DigitsResNet" and info.inputs[0].shape == ("batch", 1, 32, 32)
