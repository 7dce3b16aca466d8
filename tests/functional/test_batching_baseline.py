"""Batching on a PyTorch model: its ONNX baseline is what is served; b builds it when missing."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from tests.functional.test_batching_screen import open_batching, plain, wait_task
from workbench.app import make_app
from workbench.formatting import display_path

pytestmark = pytest.mark.asyncio


@pytest.fixture
def digits_pt(samples_dir):
    path = samples_dir / "digits_cnn.pt"
    if not path.is_file():
        pytest.skip("sample_models/digits_cnn.pt missing: run `workbench samples build`")
    return path


async def test_a_pt_without_baseline_says_so_and_b_builds_the_one_served(digits_pt, tmp_path):
    app = make_app(str(digits_pt), workspace=str(tmp_path / "ws"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_batching(app, pilot)
        text = plain(screen.query_one("#bt-text", Static), width=300)
        assert "digits_cnn.pt is TorchScript: serving takes its exported baseline" in text and "Press b" in text
        assert "No ONNX or TFLite model open" not in text
        assert screen.query_one("#bt-model", Input).value == ""
        await pilot.press("b")
        await wait_task(app, pilot, screen, timeout=120)
        await pilot.pause()
        base = app.session.workspace.baseline()
        assert base is not None and base.format == "onnx"
        served = display_path(app.session.workspace.model_path(base))
        assert screen.query_one("#bt-model", Input).value == served
        assert "Results appear here" in plain(screen.query_one("#bt-text", Static), width=300)
        # opened again, the baseline that exists is used at once
        app.open_model(str(digits_pt), workspace_dir=str(tmp_path / "ws"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#bt-model", Input).value == served
        picker = plain(screen.query_one("#vp-info", Static), width=300)
        assert "model.onnx" in picker and "FP32, as exported" in picker
