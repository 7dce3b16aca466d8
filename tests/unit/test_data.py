"""User data (.npz with x, optional y) checked against a model's input signature."""

from __future__ import annotations

import numpy as np
import pytest

from engines.models.data import Dataset, load_data, validate_data
from engines.errors import DataError
from engines.models.model_info import ModelInfo, TensorSpec


def _info(shape=("batch", 1, 8, 8), dtype="float32", name="input") -> ModelInfo:
    return ModelInfo(format="onnx", path="/m.onnx", name="m", size_bytes=1, param_count=0, macs=None,
                     op_histogram={}, inputs=[TensorSpec(name, shape, dtype)], outputs=[], framework="test")


def test_load_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 1, 8, 8), np.float32), y=np.arange(5))
    ds = load_data(path)
    assert ds.x.shape == (5, 1, 8, 8) and list(ds.y) == [0, 1, 2, 3, 4] and len(ds) == 5


def test_labels_are_optional(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 4), np.float32))
    assert load_data(path).y is None


def test_missing_x(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.zeros((3, 4)))
    with pytest.raises(DataError, match="no array 'x'.*found: inputs"):
        load_data(path)


def test_label_count_mismatch(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 4), np.float32), y=np.zeros(2))
    with pytest.raises(DataError, match="y has 2 labels but x has 3"):
        load_data(path)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="cannot read"):
        load_data(path)


def test_not_npz_and_missing(tmp_path):
    (tmp_path / "d.csv").write_text("1,2")
    with pytest.raises(DataError, match="not .npz"):
        load_data(tmp_path / "d.csv")
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_data(tmp_path / "bad.npz")


def test_shape_mismatch_names_both_shapes():
    ds = Dataset(np.zeros((4, 3, 32, 32), np.float32))
    with pytest.raises(DataError) as exc:
        validate_data(ds, _info())
    assert str(exc.value).startswith("data x has shape [N,3,32,32] but input 'input' expects [batch,1,8,8]")


def test_rank_mismatch():
    with pytest.raises(DataError, match="rank 2 vs 4"):
        validate_data(Dataset(np.zeros((4, 64), np.float32)), _info())


def test_float64_is_cast_with_a_note():
    ds = validate_data(Dataset(np.zeros((2, 1, 8, 8), np.float64)), _info())
    assert ds.x.dtype == np.float32
    assert any("float64 to float32" in n for n in ds.notes)


def test_incompatible_dtype_refused():
    with pytest.raises(DataError, match="dtype int64 but input 'input' expects float32"):
        validate_data(Dataset(np.zeros((2, 1, 8, 8), np.int64)), _info())
    with pytest.raises(DataError, match="dtype float32 but input 'ids' expects int64"):
        validate_data(Dataset(np.zeros((2, 16), np.float32)), _info(("batch", 16), "int64", "ids"))


def test_fixed_batch_needs_a_multiple():
    with pytest.raises(DataError, match="fixed batch of 4"):
        validate_data(Dataset(np.zeros((6, 2), np.float32)), _info((4, 2)))
    assert len(validate_data(Dataset(np.zeros((8, 2), np.float32)), _info((4, 2)))) == 8


def test_matching_data_passes_unchanged():
    x = np.ones((7, 1, 8, 8), np.float32)
    ds = validate_data(Dataset(x, np.zeros(7, np.int64)), _info())
    assert ds.x is x and ds.notes == []
