"""Keras, SavedModel and TFLite inspection (imports TensorFlow: kept to a few tests)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engines.errors import ModelLoadError
from engines.models.loader import inspect_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def test_keras_sample_inspects_and_keeps_its_accuracy(samples_dir):
    import keras

    info = inspect_model(samples_dir / "digits_keras.keras")
    assert info.format == "keras"
    assert info.param_count == 38282
    assert info.macs == 337536  # same layer sizes as the PyTorch CNN
    assert info.inputs[0].shape == ("batch", 8, 8, 1)
    assert info.outputs[0].shape == ("batch", 10)
    assert info.op_histogram["Conv2D"] == 2 and info.op_histogram["Dense"] == 2
    model = keras.models.load_model(samples_dir / "digits_keras.keras", compile=False)
    with np.load(samples_dir / "digits_test_nhwc.npz") as d:
        acc = float(np.mean(np.argmax(model.predict(d["x"], verbose=0), 1) == d["y"]))
    expected = json.loads((samples_dir / "manifest.json").read_text())["models"]["digits_keras.keras"]
    assert acc >= expected["held_out_accuracy"] - 0.01


def test_savedmodel_folder(tmp_path):
    import keras

    model = keras.Sequential([keras.Input(shape=(4,), name="features"), keras.layers.Dense(3, name="out")])
    model.export(str(tmp_path / "sm"), verbose=False)
    info = inspect_model(tmp_path / "sm")
    assert info.format == "savedmodel"
    assert info.param_count == 4 * 3 + 3
    assert info.inputs[0].shape == ("batch", 4)
    assert info.size_bytes > 0 and "MatMul" in info.op_histogram


def test_keras_zip_that_is_not_keras(tmp_path):
    import zipfile

    path = tmp_path / "fake.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a model")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "fake.keras" in str(exc.value) and "\n" not in str(exc.value)


def test_tflite_without_tensorflow(samples_dir):
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from engines.models.loader import inspect_model; i = inspect_model(sys.argv[1]); "
            "print(i.format, i.macs, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(samples_dir / "digits_keras.tflite")],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tflite", "337536", "False"]
