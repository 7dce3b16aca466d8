"""Bad inputs to engine builds: unsupported ops, time and memory limits, foreign engines, cancel."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from engines.build.builder import BuildOptions, build_engine
from engines.build.subproc import BuildOutOfMemory, BuildTimeout
from engines.build.tensorrt_env import EnvFacts, check_engine_file
from engines.errors import Cancelled, ModelLoadError, UnsupportedError
from engines.fsutil import sha256_file
from engines.tasks import TaskContext
from engines.workspace import Workspace

FAST = BuildOptions(bench_iterations=10, bench_budget_s=0.1, profile=(1, 2, 4))


def _model(path, op="Relu", domain="", dtype=None, name="act1"):
    import onnx
    from onnx import TensorProto, helper

    t = dtype or TensorProto.FLOAT
    node = helper.make_node(op, ["x"], ["y"], name=name, domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", t, ["N", 4])],
                              [helper.make_tensor_value_info("y", t, ["N", 4])])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def _workspace_with(tmp_path, model):
    ws = Workspace(tmp_path / "ws")
    base = ws.create({"src": str(model)}, lambda f: (shutil.copy(model, f / "model.onnx"),
                                                     {"file": "model.onnx", "format": "onnx"})[1],
                     name="baseline", kind="baseline")
    return ws, base


def _leftovers(ws, keep):
    """Files or folders under variants/ other than the kept variants (temp folders included)."""
    root = ws.root / "variants"
    return sorted(p.name for p in root.iterdir() if p.name not in keep) if root.exists() else []


def test_custom_domain_op_is_refused_naming_the_node(tmp_path):
    model = _model(tmp_path / "custom.onnx", op="FancyAct", domain="com.example", name="fancy_1")
    ws, base = _workspace_with(tmp_path, model)
    with pytest.raises(UnsupportedError, match=r"node 'fancy_1' \(com.example::FancyAct\)"):
        build_engine(ws, base, "ort", "fp32", options=FAST)
    failed = [v for v in ws.variants() if v.status == "failed"]
    assert len(failed) == 1 and "fancy_1" in failed[0].error and failed[0].kind == "engine"
    assert _leftovers(ws, {base.id}) == []


def test_op_without_an_ort_kernel_names_the_node(tmp_path):
    from onnx import TensorProto

    from engines.build.ort_optimize import optimize_onnx

    model = _model(tmp_path / "relu16.onnx", op="Relu", dtype=TensorProto.INT16, name="relu_int16")
    with pytest.raises(UnsupportedError, match="no kernel for node 'relu_int16'"):
        optimize_onnx(model, tmp_path / "out.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relu16.onnx"]


def test_build_over_the_time_limit_stops_and_leaves_nothing(tmp_path):
    ws, base = _workspace_with(tmp_path, _model(tmp_path / "m.onnx"))
    opts = BuildOptions(timeout_s=0.05, bench_iterations=10, bench_budget_s=0.1)
    with pytest.raises(BuildTimeout, match=r"longer than its 0.05 s time limit.*nothing was written"):
        build_engine(ws, base, "ort", "fp32", options=opts)
    assert _leftovers(ws, {base.id}) == []
    assert [v.id for v in Workspace(ws.root).variants()] == [base.id]


def test_build_out_of_memory_is_a_clear_error_and_leaves_nothing(tmp_path):
    ws, base = _workspace_with(tmp_path, _model(tmp_path / "m.onnx"))
    opts = BuildOptions(memory_limit_mb=150, bench_iterations=10, bench_budget_s=0.1)
    with pytest.raises(BuildOutOfMemory, match=r"ran out of memory \(limit 150 MB\)"):
        build_engine(ws, base, "ort", "fp32", options=opts)
    assert _leftovers(ws, {base.id}) == []


def test_cancel_during_an_ort_build_leaves_no_partial_files(tmp_path):
    ws, base = _workspace_with(tmp_path, _model(tmp_path / "m.onnx"))
    seen = []

    def on_progress(ev):
        seen.append(ev.message)
        if "loading model" in ev.message:  # reported by the child process mid-build
            ctx.cancel()

    ctx = TaskContext(on_progress)
    with pytest.raises(Cancelled):
        build_engine(ws, base, "ort", "fp32", options=FAST, task=ctx)
    assert any("loading model" in m for m in seen)
    assert _leftovers(ws, {base.id}) == []
    assert len(Workspace(ws.root).variants()) == 1


def _fake_engine(tmp_path, trt="10.0.1", gpu="NVIDIA A10G", cc="8.6"):
    """Bytes standing for an engine file from another machine, with the sidecar such a build writes."""
    engine = tmp_path / "other.plan"
    engine.write_bytes(b"ftrt" + bytes(range(64)))
    meta = {"sidecar_version": 1, "format": "tensorrt", "tensorrt_version": trt, "gpu_name": gpu,
            "compute_capability": cc, "engine_sha256": sha256_file(engine), "settings": {}}
    (tmp_path / "other.plan.json").write_text(json.dumps(meta))
    return engine


def test_engine_from_another_tensorrt_version_or_gpu_is_refused(tmp_path):
    engine = _fake_engine(tmp_path)
    here = EnvFacts(tensorrt_version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0",
                    torch_cuda=True)
    with pytest.raises(UnsupportedError) as err:
        check_engine_file(engine, here)
    text = str(err.value)
    assert "built with TensorRT 10.0.1 for NVIDIA A10G (compute 8.6)" in text
    assert "TensorRT here is 10.3.0" in text and "the GPU here is NVIDIA H100 80GB HBM3 (compute 9.0)" in text
    same_gpu = EnvFacts(tensorrt_version="10.3.0", gpu_name="NVIDIA A10G", compute_capability="8.6", torch_cuda=True)
    with pytest.raises(UnsupportedError, match="TensorRT here is 10.3.0") as err2:
        check_engine_file(engine, same_gpu)
    assert "GPU here" not in str(err2.value)
    matching = EnvFacts(tensorrt_version="10.0.1", gpu_name="NVIDIA A10G", compute_capability="8.6", torch_cuda=True)
    assert check_engine_file(engine, matching)["gpu_name"] == "NVIDIA A10G"


def test_engine_without_or_with_a_mismatched_sidecar_is_refused(tmp_path):
    engine = _fake_engine(tmp_path)
    matching = EnvFacts(tensorrt_version="10.0.1", gpu_name="NVIDIA A10G", compute_capability="8.6", torch_cuda=True)
    engine.write_bytes(engine.read_bytes() + b"tampered")
    with pytest.raises(ModelLoadError, match="does not match its sidecar"):
        check_engine_file(engine, matching)
    (tmp_path / "other.plan.json").unlink()
    with pytest.raises(UnsupportedError, match="has no other.plan.json sidecar"):
        check_engine_file(engine, matching)


def test_runner_refuses_a_foreign_engine_here_with_the_reason(tmp_path):
    from engines.measure.runners import open_runner

    engine = _fake_engine(tmp_path)
    with pytest.raises(UnsupportedError, match="engine other.plan refused: built with TensorRT 10.0.1"):
        open_runner(engine, "tensorrt")


def test_cancel_during_an_aoti_compile_kills_it_and_leaves_nothing(tmp_path):
    torch = pytest.importorskip("torch")
    from engines.build.aoti import build_aoti
    from engines.models.model_info import TensorSpec
    from engines.models.torch_load import save_torchscript
    from engines.models.zoo import DigitsCNN

    spec = [TensorSpec("input", ("batch", 1, 8, 8), "float32")]
    src = tmp_path / "tiny.pt"
    save_torchscript(DigitsCNN(width=4), src, (torch.randn(2, 1, 8, 8),), arch="engines.zoo:DigitsCNN",
                     config={"width": 4}, input_specs=spec)
    out = tmp_path / "out" / "tiny.pt2"
    seen = []

    def on_progress(ev):
        seen.append(ev.message)
        if ev.message.startswith("compiling"):
            threading.Timer(0.5, ctx.cancel).start()  # cancel while the C++ compile is running

    ctx = TaskContext(on_progress)
    with pytest.raises(Cancelled):
        build_aoti(src, out, inputs=spec, profile=(1, 2, 4), task=ctx, timeout_s=300)
    assert any(m.startswith("compiling") for m in seen)
    assert not out.exists() and sorted(p.name for p in out.parent.iterdir()) == []


def test_tensorrt_10_engine_opened_by_11_is_refused_with_the_reason(tmp_path):
    engine = _fake_engine(tmp_path, trt="10.13.0")
    here = EnvFacts(tensorrt_version="11.4.0", gpu_name="NVIDIA A10G", compute_capability="8.6", torch_cuda=True)
    with pytest.raises(UnsupportedError, match="a TensorRT 10 engine cannot be deserialized by TensorRT 11"):
        check_engine_file(engine, here)
