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


async def test_g_switches_the_chart_between_the_sweep_and_on_off(samples_dir):
    from textual_plotext import PlotextPlot

    from tests.snapshots.test_batching_snapshots import _sweep
    from tests.snapshots.test_perf_snapshots import COMPARISON

    app = make_app(str(samples_dir / "digits_cnn.onnx"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_batching(app, pilot)
        model = str(app.session.model_path)
        screen.show_sweep(_sweep(model))
        await pilot.pause()
        chart = lambda: screen.query_one("#bt-plot", PlotextPlot).plt.build()  # noqa: E731
        assert "items/s and p99 vs batch" in chart()
        screen.show_comparison({**COMPARISON, "model": model})     # the latest result is drawn
        await pilot.pause()
        assert "p99 latency vs throughput" in chart()
        await pilot.press("g")
        assert "items/s and p99 vs batch" in chart() and screen.chart == "sweep"
        await pilot.press("g")
        assert "p99 latency vs throughput" in chart()
        text = plain(screen.query_one("#bt-text", Static), width=300)
        assert "on vs off of digits_cnn.onnx" in text and "sweep of digits_cnn.onnx on cpu" in text
        assert "chart: on vs off (g switches)" in text
