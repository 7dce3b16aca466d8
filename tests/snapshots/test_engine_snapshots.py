"""The Engine screen at 80x24 and 120x40: ORT selected, and TensorRT selected on a machine without it.

Deterministic: WORKBENCH_DETERMINISTIC=1 (tests/conftest.py), the device pinned by
tests/snapshots/conftest.py, and the backend probe pinned here to what a CPU-only
machine without TensorRT reports (the real probe's wording, from ``missing_parts``).
"""

from __future__ import annotations

import pytest
from textual.widgets import Select

from engines.build.tensorrt_env import EnvFacts, tensorrt_status
from engines.registry import Availability
from workbench.wiring.results import BackendReport
from workbench.app import make_app

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _cpu_only_status(task=None):
    trt = tensorrt_status(EnvFacts())
    gpu = "onnxruntime here is the CPU build: pip install onnxruntime-gpu"
    return BackendReport({
        "ort": Availability(True, "onnxruntime (CPU)"),
        "ort-cuda": Availability(False, "ONNX Runtime CUDA is not usable", (gpu,)),
        "aoti": Availability(True, "torch (CPU); C++ compiler g++ found; needs a PyTorch model (.pt/.pt2)"),
        "aoti-cuda": Availability(False, "AOTInductor for CUDA needs an NVIDIA GPU and a CUDA build of PyTorch"),
        "tensorrt": Availability(False, "TensorRT cannot be used here", tuple(trt["missing"])),
        "openvino": Availability(True, "openvino (CPU), nncf for int8"),
    })


@pytest.fixture(autouse=True)
def _pinned_probe(monkeypatch):
    monkeypatch.setattr("workbench.wiring.engine.probe_backends", _cpu_only_status)


def _engine_screen(backend: str | None = None, precision: str | None = None):
    async def run_before(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("3")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if backend:
            pilot.app.screen.query_one("#en-backend", Select).value = backend
        await pilot.pause()
        if precision:
            pilot.app.screen.query_one("#en-precision", Select).value = precision
        await pilot.pause()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_engine_screen_ort(snap_compare, size, samples_dir):
    if not (samples_dir / "digits_cnn.onnx").is_file():
        pytest.skip("sample models not built")
    app = make_app(str(samples_dir / "digits_cnn.onnx"))
    assert snap_compare(app, terminal_size=size, run_before=_engine_screen())


@pytest.mark.parametrize("size", SIZES)
def test_engine_screen_tensorrt_missing(snap_compare, size, samples_dir):
    if not (samples_dir / "digits_cnn.onnx").is_file():
        pytest.skip("sample models not built")
    app = make_app(str(samples_dir / "digits_cnn.onnx"))
    assert snap_compare(app, terminal_size=size, run_before=_engine_screen("tensorrt"))


@pytest.mark.parametrize("size", SIZES)
def test_engine_screen_openvino_pytorch_int8(snap_compare, size, samples_dir):
    """OpenVINO on a PyTorch model at int8: the frontend choice and accuracy control (the sample has labels)."""
    if not (samples_dir / "digits_cnn.pt").is_file():
        pytest.skip("sample models not built")
    app = make_app(str(samples_dir / "digits_cnn.pt"))
    assert snap_compare(app, terminal_size=size, run_before=_engine_screen("openvino", "int8"))
