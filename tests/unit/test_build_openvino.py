"""OpenVINO engines: FP32/FP16/INT8 IR from ONNX, the runner against ONNX Runtime, the CLI, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install -e '.[openvino]')")
pytest.importorskip("onnxruntime", reason="onnxruntime is needed as the reference")

from engines.build.openvino import SETTINGS_FILE, build_openvino, open_openvino_runner  # noqa: E402
from engines.errors import DataError, UnsupportedError  # noqa: E402


def _tiny_cnn(path: Path, classes: int = 10) -> Path:
    """Conv-ReLU-Conv-ReLU-GAP-Gemm on [N, 3, 16, 16], dynamic batch, seeded weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], name="fc", transB=1),
    ]
    inits = [init("w1", (8, 3, 3, 3)), init("b1", (8,)), init("w2", (16, 8, 3, 3)), init("b2", (16,)),
             init("w3", (classes, 16)), init("b3", (classes,))]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def cnn(tmp_path: Path) -> Path:
    return _tiny_cnn(tmp_path / "tiny.onnx")


def _x(n: int = 16) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 3, 16, 16)).astype(np.float32)


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    from engines.measure.runners import OnnxRunner

    return OnnxRunner(path, threads=1).run({"x": x})[0]


@pytest.mark.parametrize("precision, atol", [("fp32", 1e-4), ("fp16", 2e-2)])
def test_float_ir_matches_onnx_runtime(cnn: Path, tmp_path: Path, precision: str, atol: float):
    out = tmp_path / "ov" / "model.xml"
    out.parent.mkdir()
    report = build_openvino(cnn, out, precision=precision)
    assert out.is_file() and out.with_suffix(".bin").is_file() and report["ops"] > 0
    runner = open_openvino_runner(out, threads=1)
    assert [s.name for s in runner.inputs] == ["x"] and [s.name for s in runner.outputs] == ["logits"]
    assert runner.inputs[0].shape == ("?", 3, 16, 16) and runner.threads == 1 and runner.device == "cpu"
    x = _x()
    got = runner.run({"x": x})
    assert len(got) == 1 and got[0].shape == (16, 10)
    np.testing.assert_allclose(got[0], _ort(cnn, x), atol=atol, rtol=atol)


def test_fp16_ir_stores_half_weights(cnn: Path, tmp_path: Path):
    sizes = {}
    for p in ("fp32", "fp16"):
        out = tmp_path / p / "model.xml"
        out.parent.mkdir()
        build_openvino(cnn, out, precision=p)
        sizes[p] = out.with_suffix(".bin").stat().st_size
    assert sizes["fp16"] < 0.6 * sizes["fp32"]


def test_int8_is_calibrated_with_nncf_and_stays_close(cnn: Path, tmp_path: Path):
    pytest.importorskip("nncf", reason="nncf is not installed")
    out = tmp_path / "int8" / "model.xml"
    out.parent.mkdir()
    x = _x(64)
    report = build_openvino(cnn, out, precision="int8", data=x)
    assert report["calibration_samples"] == 64 and not report["notes"]
    assert "FakeQuantize" in out.read_text()          # NNCF inserted the quantizers
    got = open_openvino_runner(out, threads=1).run({"x": x[:16]})[0]
    ref = _ort(cnn, x[:16])
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()


def test_int8_without_data_says_it_used_random_inputs(cnn: Path, tmp_path: Path):
    pytest.importorskip("nncf", reason="nncf is not installed")
    out = tmp_path / "model.xml"
    report = build_openvino(cnn, out, precision="int8")
    assert any("random" in n for n in report["notes"])


def test_settings_are_saved_and_reused_by_every_runner(cnn: Path, tmp_path: Path):
    out = tmp_path / "model.xml"
    build_openvino(cnn, out, hint="throughput", streams=2)
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == {"hint": "throughput", "streams": 2,
                                                                   "inference_precision": "f32"}
    runner = open_openvino_runner(out, threads=2)
    assert (runner.hint, runner.streams) == ("throughput", 2) and runner.inference_precision == "f32"
    assert str(runner.compiled.get_property("NUM_STREAMS")) == "2"
    assert open_openvino_runner(out, threads=1, hint="latency").hint == "latency"


def test_an_op_openvino_cannot_take_is_named(tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in ("x", "y")]
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu0"),
             helper.make_node("FancyOp", ["a"], ["y"], name="my_fancy_node", domain="com.example")]
    model = helper.make_model(helper.make_graph(nodes, "g", io[:1], io[1:]),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(UnsupportedError) as err:
        build_openvino(tmp_path / "bad.onnx", tmp_path / "model.xml")
    msg = str(err.value)
    assert "'my_fancy_node'" in msg and "com.example.FancyOp" in msg and "\n" not in msg
    assert not (tmp_path / "model.xml").exists()


@pytest.mark.parametrize("shape", [(8, 3, 32, 32), (8, 16, 16), (8, 1, 16, 16)])
def test_nncf_data_of_the_wrong_shape_is_refused_before_work(cnn: Path, tmp_path: Path, monkeypatch, shape):
    import engines.build.openvino as mod

    def boom(*_a, **_k):
        raise AssertionError("converted before the data was checked")

    monkeypatch.setattr(mod, "convert_onnx", boom)
    with pytest.raises(DataError, match=r"\[N, 3, 16, 16\].*\(N, 3, 16, 16\)"):
        build_openvino(cnn, tmp_path / "model.xml", precision="int8", data=np.zeros(shape, np.float32))


def test_the_ir_is_runnable_by_format_and_suffix(cnn: Path, tmp_path: Path):
    from engines.fsutil import size_on_disk
    from engines.measure.runners import open_runner
    from engines.targets import resolve_target

    out = tmp_path / "model.xml"
    build_openvino(cnn, out)
    target = resolve_target(str(out))
    assert target.format == "openvino"
    assert size_on_disk(out) == out.stat().st_size + out.with_suffix(".bin").stat().st_size
    assert open_runner(out, "openvino", threads=1).run({"x": _x(2)})[0].shape == (2, 10)


def test_workbench_build_backend_openvino(cnn: Path, tmp_path: Path, capsys):
    pytest.importorskip("nncf", reason="nncf is not installed")
    from workbench.cli import main

    ws = tmp_path / "ws"
    np.savez(tmp_path / "data.npz", x=_x(32))
    common = [str(cnn), "--backend", "openvino", "--workspace", str(ws), "--data", str(tmp_path / "data.npz"),
              "--iterations", "5", "--seconds", "0.2", "--threads", "1", "--json"]
    assert main(["build", *common, "--precision", "int8"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["backend"] == "openvino" and card["format"] == "openvino" and card["precision"] == "int8"
    assert card["fidelity"] and card["latency_ms"]["p50"] > 0
    from engines.workspace import Workspace

    v = Workspace(ws).get(card["id"])
    folder = Workspace(ws).model_path(v).parent
    assert {"model.xml", "model.bin", SETTINGS_FILE} <= {p.name for p in folder.iterdir()}
    assert card["size_bytes"] >= (folder / "model.bin").stat().st_size
    assert main(["build", *common, "--precision", "fp32", "--hint", "throughput"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "OpenVINO fp32 throughput"


def test_preflight_and_cli_refuse_a_device_openvino_does_not_run_on(cnn: Path, tmp_path: Path, capsys):
    from workbench.cli import main

    assert main(["build", str(cnn), "--backend", "openvino", "--device", "cuda",
                 "--workspace", str(tmp_path / "ws")]) == 2
    assert "runs on cpu" in capsys.readouterr().err


def test_the_ir_is_served_with_dynamic_batching(cnn: Path, tmp_path: Path):
    httpx = pytest.importorskip("httpx")
    from engines.serving.app import open_and_serve

    out = tmp_path / "model.xml"
    build_openvino(cnn, out)
    x = _x(3)
    srv = open_and_serve(str(out), "openvino", threads=1, max_batch=4, max_delay_ms=2)
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        r = httpx.post(srv.url + "/invocations", json={"instances": x.tolist()}, timeout=20)
    finally:
        srv.stop()
    assert r.status_code == 200
    np.testing.assert_allclose(np.asarray(r.json()["predictions"], np.float32), _ort(cnn, x), atol=1e-4)


def test_int8_from_a_qdq_variant_keeps_its_quantizers_without_nncf(cnn: Path, tmp_path: Path, monkeypatch):
    import engines.build.openvino as mod
    from engines.optimize.quantize_ort import quantize_int8_static

    qdq = tmp_path / "qdq.onnx"
    quantize_int8_static(cnn, qdq, _x(16), samples=16)
    monkeypatch.setattr(mod, "_nncf_quantize", lambda *a, **k: pytest.fail("NNCF ran on a quantized model"))
    out = tmp_path / "model.xml"
    report = build_openvino(qdq, out, precision="int8")
    assert any("Q/DQ" in n for n in report["notes"]) and "FakeQuantize" in out.read_text()
