"""ONNX Runtime offline optimization: fusions reported from real op counts, outputs unchanged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engines.build.builder import BuildOptions, build_engine, describe
from engines.build.ort_optimize import fusion_report, op_counts, optimize_onnx
from engines.workspace import Workspace

FAST = BuildOptions(bench_iterations=20, bench_budget_s=0.2, profile=(1, 4, 8))


def conv_relu_matmul_add(path):
    """x[N,1,8,8] -> Conv -> Relu -> flatten -> MatMul -> Add -> y[N,10]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("W", (4, 1, 3, 3)), ("B", (4,)), ("M", (4 * 6 * 6, 10)), ("C", (10,)))]
    inits.append(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape"))
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv1"),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "M"], ["m"], name="fc_matmul"),
             helper.make_node("Add", ["m", "C"], ["y"], name="fc_add")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _run(path, x):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_extended_level_fuses_conv_relu_and_matmul_add(tmp_path):
    src = conv_relu_matmul_add(tmp_path / "tiny.onnx")
    dst = tmp_path / "out" / "tiny.opt.onnx"
    report = optimize_onnx(src, dst, level="extended", report_path=tmp_path / "out" / "fusions.json")
    assert report["nodes_before"] == 5 and report["nodes_after"] < report["nodes_before"]
    assert op_counts(dst)["Relu"] == 0 and op_counts(dst)["MatMul"] == 0
    labels = {f["fusion"] for f in report["fusions"]}
    assert "MatMul+Add → Gemm" in labels
    assert "Conv+activation → one fused Conv" in labels
    assert report["hardware_specific"] is False
    assert json.loads((tmp_path / "out" / "fusions.json").read_text())["nodes_after"] == report["nodes_after"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fusions.json", "tiny.opt.onnx"]
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(dst, x), _run(src, x), rtol=1e-4, atol=1e-4)


def test_all_level_is_flagged_hardware_specific(tmp_path):
    src = conv_relu_matmul_add(tmp_path / "tiny.onnx")
    report = optimize_onnx(src, tmp_path / "all.onnx", level="all")
    assert report["hardware_specific"] is True
    assert "hardware-specific" in report["note"]
    assert any(k.startswith("nchwc:") for k in report["ops_after"])


def test_report_of_identical_graphs_finds_no_fusion(tmp_path):
    src = conv_relu_matmul_add(tmp_path / "tiny.onnx")
    report = fusion_report(src, src, "extended")
    assert report["fusions"] == [] and report["removed"] == {} and report["nodes_before"] == 5


def test_unknown_level_is_refused(tmp_path):
    from engines.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="optimization level"):
        optimize_onnx(conv_relu_matmul_add(tmp_path / "t.onnx"), tmp_path / "o.onnx", level="max")


def test_sample_engine_variant_is_measured_and_cached(tmp_path, samples_dir):
    ws = Workspace(tmp_path / "ws")
    src = samples_dir / "digits_cnn.onnx"
    if not src.is_file():
        src = conv_relu_matmul_add(tmp_path / "tiny.onnx")
    base = ws.create({"model": "source"}, lambda folder: (shutil.copy(src, folder / "model.onnx"),
                                                          {"file": "model.onnx", "format": "onnx"})[1],
                     name="baseline", kind="baseline")
    sample = samples_dir / "digits_test.npz"
    data = None
    if sample.is_file() and src.name == "digits_cnn.onnx":
        arrays = np.load(sample)
        data = (arrays["x"][:64], arrays["y"][:64])
    v = build_engine(ws, base, "ort", "fp32", profile=(1, 4, 8), data=data, options=FAST)
    assert v.kind == "engine" and v.format == "onnx" and v.parent == base.id
    card = describe(v)
    assert card["fidelity"]["top1_agreement"] == 1.0 and card["fidelity"]["cosine"] > 0.9999
    assert card["latency_ms"]["p50"] > 0 and card["source"]["latency_ms"]["p50"] > 0
    assert card["nodes"][1] < card["nodes"][0] and card["fusions"]
    engine_file = ws.model_path(v)
    assert engine_file.is_file() and (engine_file.parent / "fusions.json").is_file()
    if data is not None:  # the trained sample keeps its accuracy through the engine
        assert card["accuracy"] > 0.9
    again = build_engine(ws, base.id, "ort", "fp32", profile=(1, 4, 8), data=data, options=FAST)
    assert again.id == v.id and again.created == v.created
    assert Workspace(ws.root).get(v.id).metrics["latency_ms"]["p50"] == v.metrics["latency_ms"]["p50"]


def test_cli_build_json_then_by_variant_id(capsys, samples_dir, tmp_path):
    from workbench.cli import main

    model = samples_dir / "digits_cnn.onnx"
    if not model.is_file():
        pytest.skip("sample models not built yet")
    args = ["--backend", "ort", "--ort-level", "extended", "--iterations", "20", "--seconds", "0.2",
            "--max-batch", "8", "--workspace", str(tmp_path / "ws"), "--json"]
    assert main(["build", str(model), *args]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["format"] == "onnx" and card["name"] == "ORT extended-opt fp32"
    assert card["fidelity"]["top1_agreement"] == 1.0 and card["accuracy"] > 0.9
    assert card["fusions"] and card["latency_ms"]["p50"] > 0
    assert main(["build", card["source"]["id"][:8], "--model", str(model), *args]) == 0  # same recipe: cached
    assert json.loads(capsys.readouterr().out)["id"] == card["id"]
    assert main(["build", "nosuchvariant", "--model", str(model), *args]) == 2
    assert "no variant matches 'nosuchvariant'" in capsys.readouterr().err
