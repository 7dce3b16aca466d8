"""--data is user input: NaN/Inf never reach calibration or fine-tuning; labels must be class indices."""

from __future__ import annotations

import numpy as np
import pytest

from engines.errors import DataError
from engines.models.data import Dataset, load_data, validate_data
from engines.models.model_info import ModelInfo, TensorSpec
from tests.conftest import SAMPLES


def _info(classes=10) -> ModelInfo:
    return ModelInfo(format="onnx", path="/m.onnx", name="m", size_bytes=1, param_count=0, macs=None,
                     op_histogram={}, inputs=[TensorSpec("input", ("batch", 1, 8, 8), "float32")],
                     outputs=[TensorSpec("output", ("batch", classes), "float32")], framework="test")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused_at_load(tmp_path, bad):
    x = np.zeros((4, 1, 8, 8), np.float32)
    x[2, 0, 3, 3] = bad
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(4))
    with pytest.raises(DataError) as exc:
        load_data(tmp_path / "d.npz")
    assert "1 NaN or infinite" in str(exc.value) and "[2, 0, 3, 3]" in str(exc.value)


def test_non_finite_arrays_are_refused_by_validation_too():
    x = np.full((2, 1, 8, 8), np.nan, np.float32)
    with pytest.raises(DataError, match="NaN or infinite"):
        validate_data(Dataset(x=x), _info())


@pytest.mark.parametrize("y", [np.array([0, 1, 10, 2]), np.array([0, -1, 3, 2]), np.array([0.0, 1.5, 2.0, 3.0])])
def test_labels_outside_the_class_range_are_refused(y):
    with pytest.raises(DataError, match="labels"):
        validate_data(Dataset(x=np.zeros((4, 1, 8, 8), np.float32), y=y), _info(classes=10))


def test_labels_inside_the_range_pass():
    ds = validate_data(Dataset(x=np.zeros((4, 1, 8, 8), np.float32), y=np.array([0, 9, 3, 2])), _info(10))
    assert list(ds.y) == [0, 9, 3, 2]


def test_optimize_refuses_nan_data_before_fine_tuning(tmp_path):
    from engines.optimize.context import open_context

    good = np.load(SAMPLES / "digits_test.npz")
    x = good["x"].copy()
    x[0].flat[0] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=good["y"])
    with pytest.raises(DataError, match="NaN"):
        open_context(SAMPLES / "digits_cnn.onnx", data=tmp_path / "nan.npz", workspace=tmp_path / "ws")
    with pytest.raises(DataError, match="NaN"):
        open_context(SAMPLES / "digits_cnn.onnx", data=SAMPLES / "digits_test.npz",
                     train_data=tmp_path / "nan.npz", workspace=tmp_path / "ws")
