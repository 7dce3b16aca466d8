"""Keras -> TFLite full-integer conversion with a representative data set, run in LiteRT."""

from __future__ import annotations

import numpy as np
import pytest

from engines.errors import DataError, UnsupportedError
from engines.optimize.quantize_tflite import SPEEDS_UP, convert_keras

pytest.importorskip("tensorflow")


def test_int8_without_data_is_refused_before_converting(tmp_path):
    with pytest.raises(DataError, match="representative"):
        convert_keras(tmp_path / "missing.keras", tmp_path / "out.tflite", "tflite-int8", calib_x=None)
    with pytest.raises(UnsupportedError, match="unknown TFLite mode"):
        convert_keras(tmp_path / "missing.keras", tmp_path / "out.tflite", "tflite-int3")
    assert not (tmp_path / "out.tflite").exists()


def test_full_integer_conversion_runs_in_litert(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    out = keras.layers.Dense(10)(keras.layers.Flatten()(h))
    src = tmp_path / "tiny.keras"
    keras.Model(inp, out).save(src)
    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype(np.float32)
    dst = tmp_path / "int8.tflite"
    info = convert_keras(src, dst, "tflite-int8", calib_x=x, samples=16)
    assert info["calib_samples"] == 16 and info["speeds_up"] == SPEEDS_UP["tflite-int8"]
    assert not list(tmp_path.glob(".calib.*")), "calibration temp file must be removed"
    from engines.models.inspect_tflite import open_interpreter

    interp = open_interpreter(dst, threads=1)
    tensors = interp.get_tensor_details()
    assert any(t["dtype"] == np.int8 for t in tensors)          # weights/activations really int8
    from engines.measure.tflite_runner import TfliteRunner

    runner = TfliteRunner(dst, threads=1)
    got = runner.run({runner.inputs[0].name: x[:4]})[0]
    ref = keras.models.load_model(src)(x[:4]).numpy()
    assert got.shape == (4, 10) and np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.95
