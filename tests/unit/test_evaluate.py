"""Accuracy and fidelity, batched, including fixed-batch models and NaN/Inf outputs."""

from __future__ import annotations

import numpy as np
import pytest

from engines.errors import DataError
from engines.measure.evaluate import accuracy, evaluate_model, fidelity, predict
from engines.measure.runners import open_runner
from tests.unit.optimize_helpers import digits_x, tiny_cnn_onnx


def test_identical_outputs_are_perfectly_faithful():
    ref = np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32)
    f = fidelity(ref, ref.copy())
    assert f.top1_agreement == 1.0 and f.cosine == pytest.approx(1.0) and f.max_abs_err == 0.0 and f.nan_inf == 0


def test_fidelity_measures_disagreement_and_error():
    ref = np.eye(4, dtype=np.float32)
    out = ref.copy()
    out[0] = [0, 2, 0, 0]        # argmax moves for one of four samples
    f = fidelity(ref, out)
    assert f.top1_agreement == pytest.approx(0.75)
    assert f.max_abs_err == pytest.approx(2.0)
    assert f.cosine == pytest.approx(0.75)   # one sample orthogonal, three identical


def test_nan_and_inf_are_flagged():
    ref = np.ones((3, 5), np.float32)
    out = ref.copy()
    out[1, 2] = np.nan
    out[2, 0] = np.inf
    f = fidelity(ref, out)
    assert f.nan_inf == 2 and f.max_abs_err == float("inf")


def test_shape_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="shape"):
        fidelity(np.zeros((3, 10)), np.zeros((3, 9)))


def test_accuracy_top1_and_label_count_check():
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(out, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="labels"):
        accuracy(out, np.array([1, 0]))


def test_predict_batches_and_pads_fixed_batch(tmp_path):
    dyn = tiny_cnn_onnx(tmp_path / "dyn.onnx")
    fixed = tiny_cnn_onnx(tmp_path / "fixed.onnx", batch=8)
    x = digits_x(21)               # not a multiple of 8: last batch padded then trimmed
    a = predict(open_runner(dyn, "onnx", threads=1), x, batch_size=5)
    b = predict(open_runner(fixed, "onnx", threads=1), x)
    assert a.shape == b.shape == (21, 10)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_evaluate_model_reports_accuracy_and_fidelity(tmp_path):
    path = tiny_cnn_onnx(tmp_path / "m.onnx")
    x = digits_x(40)
    ref = predict(open_runner(path, "onnx", threads=1), x)
    y = ref.argmax(1)
    y[:4] = (y[:4] + 1) % 10      # four wrong labels: accuracy 0.9
    metrics, outputs = evaluate_model(path, "onnx", x, y=y, reference=ref, threads=1, batch_size=16)
    assert metrics["accuracy"] == pytest.approx(0.9)
    assert metrics["fidelity"]["top1_agreement"] == 1.0 and metrics["eval_samples"] == 40
    metrics, _ = evaluate_model(path, "onnx", x, threads=1)
    assert metrics["accuracy"] is None and metrics["fidelity"]["nan_inf"] == 0
