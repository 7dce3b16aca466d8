"""ORT quantization modes on a tiny CNN built in the test."""

from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest

from engines.errors import Cancelled, UnsupportedError
from engines.optimize.quantize_ort import SPEEDS_UP, ArrayCalibrationReader, quantize_onnx
from engines.optimize.recipes import Recipe
from engines.tasks import TaskContext
from tests.unit.optimize_helpers import digits_x, tiny_cnn_onnx


def _run(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_cnn_onnx(tmp_path_factory.mktemp("q") / "tiny.onnx")


def _ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def _zero_point_types(path):
    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    out = set()
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in inits:
            out.add(inits[n.input[2]].data_type)
    return out


def test_fp16_keeps_float32_io_and_halves_size(model, tmp_path):
    dst = tmp_path / "fp16.onnx"
    info = quantize_onnx(model, dst, Recipe(quant="fp16"))
    m = onnx.load(str(dst))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dst.stat().st_size < 0.6 * model.stat().st_size
    x = digits_x(16)
    np.testing.assert_allclose(_run(dst, x), _run(model, x), atol=2e-2)
    assert "GPU" in info["speeds_up"]


def test_int8_dynamic_quantizes_gemm(model, tmp_path):
    dst = tmp_path / "dyn.onnx"
    quantize_onnx(model, dst, Recipe(quant="int8-dynamic"))
    ops = _ops(dst)
    assert any(op in ops for op in ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"))
    x = digits_x(32)
    assert (_run(dst, x).argmax(1) == _run(model, x).argmax(1)).mean() > 0.9


@pytest.mark.parametrize("fmt,act,expect_op,zp_type", [
    ("qdq", "u8", "QuantizeLinear", onnx.TensorProto.UINT8),
    ("qdq", "s8", "QuantizeLinear", onnx.TensorProto.INT8),
    ("qoperator", "u8", "QLinearConv", None),
])
def test_int8_static_formats_and_types(model, tmp_path, fmt, act, expect_op, zp_type):
    dst = tmp_path / f"{fmt}-{act}.onnx"
    x = digits_x(64)
    info = quantize_onnx(model, dst, Recipe(quant="int8-static", quant_format=fmt, activation_type=act,
                                            weight_type="s8", calib_samples=32), calib_x=x)
    assert info["preprocessed"] is True and info["calib_samples"] == 32
    assert expect_op in _ops(dst)
    if zp_type is not None:
        assert zp_type in _zero_point_types(dst)
    assert not list(tmp_path.glob("*.pre.onnx")), "pre-processed temp model must be removed"
    ref, got = _run(model, x), _run(dst, x)
    assert (ref.argmax(1) == got.argmax(1)).mean() >= 0.9


def _activation_scales(path):
    m = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in m.graph.node
            if n.op_type == "QuantizeLinear" and n.input[1] in inits and inits[n.input[1]].size == 1}


def test_calibration_methods_give_different_ranges(model, tmp_path):
    x = digits_x(64)
    scales = {}
    for method in ("minmax", "entropy", "percentile"):
        dst = tmp_path / f"{method}.onnx"
        quantize_onnx(model, dst, Recipe(quant="int8-static", calibration=method, calib_samples=64), calib_x=x)
        scales[method] = _activation_scales(dst)
    assert scales["minmax"] and scales["minmax"].keys() == scales["entropy"].keys()
    assert scales["minmax"] != scales["entropy"]
    assert scales["minmax"] != scales["percentile"]


def test_per_tensor_has_scalar_weight_scales(model, tmp_path):
    x = digits_x(32)
    pc, pt = tmp_path / "pc.onnx", tmp_path / "pt.onnx"
    quantize_onnx(model, pc, Recipe(quant="int8-static", per_channel=True, calib_samples=16), calib_x=x)
    quantize_onnx(model, pt, Recipe(quant="int8-static", per_channel=False, calib_samples=16), calib_x=x)

    def max_scale_len(path):
        m = onnx.load(str(path))
        inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
        return max(inits[n.input[1]].size for n in m.graph.node
                   if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[1] in inits)

    assert max_scale_len(pc) == 16 and max_scale_len(pt) == 1


def test_int4_quantizes_matmul_and_refuses_conv_only(tmp_path):
    mm = tiny_cnn_onnx(tmp_path / "mm.onnx", matmul=True)
    dst = tmp_path / "int4.onnx"
    info = quantize_onnx(mm, dst, Recipe(quant="int4", block_size=32))
    assert "MatMulNBits" in _ops(dst) and info["matmul_nbits"] == 1
    x = digits_x(32)
    assert (_run(dst, x).argmax(1) == _run(mm, x).argmax(1)).mean() >= 0.9
    gemm = tiny_cnn_onnx(tmp_path / "gemm.onnx")
    with pytest.raises(UnsupportedError, match="MatMul"):
        quantize_onnx(gemm, tmp_path / "no.onnx", Recipe(quant="int4"))
    assert not (tmp_path / "no.onnx").exists()


def test_static_without_data_is_refused(model, tmp_path):
    with pytest.raises(Exception, match="calibration data"):
        quantize_onnx(model, tmp_path / "x.onnx", Recipe(quant="int8-static"), calib_x=None)


def test_calibration_cancel_raises_and_reports_progress(model, tmp_path):
    seen = []
    ev = threading.Event()

    def on_progress(e):
        seen.append(e.message)
        if "calibrating" in e.message:
            ev.set()

    task = TaskContext(on_progress, cancel_event=ev)
    with pytest.raises(Cancelled):
        quantize_onnx(model, tmp_path / "c.onnx", Recipe(quant="int8-static"), calib_x=digits_x(64), task=task)
    assert any("calibrating" in m for m in seen)
    assert not (tmp_path / "c.onnx.pre.onnx").exists()


def test_reader_batches_pad_fixed_batch(tmp_path):
    fixed = tiny_cnn_onnx(tmp_path / "fixed.onnx", batch=4)
    reader = ArrayCalibrationReader(fixed, digits_x(10), samples=10)
    batches = []
    while (item := reader.get_next()) is not None:
        batches.append(item["input"].shape[0])
    assert batches == [4, 4, 4] and len(reader) == 3 and reader.stride() in (1, 3)


def test_every_mode_says_what_it_speeds_up():
    assert set(SPEEDS_UP) == {"fp16", "int8-dynamic", "int8-static", "int4", "int8-qat"}
    assert all(len(text) > 30 for text in SPEEDS_UP.values())
