"""Without TensorRT (these machines cannot install it) every path says what is missing and how to get it.

Nothing here pretends a build happened. The one test that needs TensorRT skips
with the reason; on a GPU machine with TensorRT it builds a real engine.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from engines.build.tensorrt_env import EnvFacts, missing_parts, require_tensorrt, tensorrt_status
from engines.errors import UnsupportedError

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
no_trt = pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here: the missing-TensorRT messages do not apply")
INSTALL = "pip install tensorrt --extra-index-url https://pypi.nvidia.com"


def test_missing_parts_name_the_package_and_the_gpu():
    parts = missing_parts(EnvFacts())
    assert len(parts) == 2
    assert INSTALL in parts[0] and "NVIDIA GPU and driver" in parts[0]
    assert "no NVIDIA GPU" in parts[1]
    gpu_no_torch = missing_parts(EnvFacts(tensorrt_version="10.3.0", gpu_name="NVIDIA L4", compute_capability="8.9"))
    assert len(gpu_no_torch) == 1 and "PyTorch" in gpu_no_torch[0]
    ready = EnvFacts(tensorrt_version="10.3.0", gpu_name="NVIDIA L4", compute_capability="8.9", torch_cuda=True)
    assert missing_parts(ready) == [] and tensorrt_status(ready)["available"] is True


@no_trt
def test_status_here_says_tensorrt_is_not_installed():
    status = tensorrt_status()
    assert status["available"] is False
    assert INSTALL in status["summary"]
    with pytest.raises(UnsupportedError, match="tensorrt Python package is not installed"):
        require_tensorrt()


@no_trt
def test_backend_status_reports_tensorrt_missing_and_ort_available():
    from engines.build import backend_status

    st = backend_status()
    assert st["ort"].ok is True
    assert st["tensorrt"].ok is False and any(INSTALL in m for m in st["tensorrt"].missing)


@no_trt
def test_tensorrt_build_is_refused_before_any_file_is_written(tmp_path, samples_dir):
    from engines.build.builder import build_engine
    from engines.workspace import Workspace

    src = samples_dir / "digits_cnn.onnx"
    if not src.is_file():
        pytest.skip("sample models not built yet")
    ws = Workspace(tmp_path / "ws")
    base = ws.create({"m": 1}, lambda f: (shutil.copy(src, f / "model.onnx"),
                                          {"file": "model.onnx", "format": "onnx"})[1],
                     name="baseline", kind="baseline")
    with pytest.raises(UnsupportedError, match="tensorrt Python package is not installed"):
        build_engine(ws, base, "tensorrt", "fp16")
    assert [v.id for v in ws.variants()] == [base.id]
    assert sorted(p.name for p in (ws.root / "variants").iterdir()) == [base.id]


@no_trt
def test_cli_tensorrt_prints_the_install_command(capsys, samples_dir):
    from workbench.cli import main

    model = samples_dir / "digits_cnn.onnx"
    if not model.is_file():
        pytest.skip("sample models not built yet")
    assert main(["build", str(model), "--backend", "tensorrt", "--precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert INSTALL in err and err.count("\n") == 1


def test_real_tensorrt_engine_build_and_fidelity(tmp_path, samples_dir):
    pytest.importorskip("tensorrt", reason="TensorRT wheels come only from NVIDIA's index, unreachable here")
    from engines.build.tensorrt_engine import build_tensorrt_engine, compare_with_ort, open_tensorrt_runner
    from engines.build.tensorrt_settings import settings_from_choices

    src = samples_dir / "digits_cnn.onnx"
    settings = settings_from_choices("fp16", min_batch=1, opt_batch=4, max_batch=8)
    report = build_tensorrt_engine(src, tmp_path / "m.plan", settings, timing_cache=tmp_path / "t.cache")
    assert report["layers"] > 0 and (tmp_path / "m.plan.json").is_file() and (tmp_path / "t.cache").is_file()
    x = np.load(samples_dir / "digits_test.npz")["x"][:8]
    runner = open_tensorrt_runner(tmp_path / "m.plan")
    fid = compare_with_ort(src, tmp_path / "m.plan", {runner.inputs[0].name: x})
    assert fid["top1_agreement"] >= 0.95 and fid["cosine"] > 0.99
