"""The Engine screen with Pilot: a real ORT build of the sample, the TensorRT notice, cancel, bad input."""

from __future__ import annotations

import importlib.util
import io
import time

import pytest
from rich.console import Console
from textual.widgets import Button, Input, RichLog, Select, Static

from screens.engine import EngineScreen
from screens.widgets.task_panel import TaskPanel
from tests.functional.notifications import record_notifications
from workbench.app import make_app

pytestmark = pytest.mark.asyncio


def plain(widget: Static, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(widget.content)
    return console.file.getvalue()


def log_text(screen: EngineScreen) -> str:
    return "\n".join(strip.text for strip in screen.query_one("#en-log", RichLog).lines)


async def open_engine(app, pilot) -> EngineScreen:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("3")
    await pilot.pause()
    assert isinstance(app.screen, EngineScreen)
    await app.workers.wait_for_complete()  # the backend probe
    await pilot.pause()
    return app.screen


async def wait_build(pilot, screen, timeout: float = 240.0) -> None:
    panel = screen.query_one("#en-task", TaskPanel)
    deadline = time.monotonic() + timeout
    await pilot.pause(0.1)
    while panel.running and time.monotonic() < deadline:
        await pilot.pause(0.1)
    assert not panel.running, "build did not finish in time"
    await pilot.pause()


def _sample(samples_dir, name):
    path = samples_dir / name
    if not path.is_file():
        pytest.skip(f"sample_models/{name} missing: run `workbench samples build`")
    return path


async def test_build_ort_engine_of_the_sample_shows_the_result_card(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        assert "✓ onnxruntime" in plain(screen.query_one("#en-avail", Static))
        await pilot.press("b")
        await wait_build(pilot, screen)
        card = plain(screen.query_one("#en-card", Static))
        assert "ORT all-opt fp32" in card and "fusions" in card and "top-1 100.00%" in card
        assert "accuracy" in card and "ms vs" in card
        engines = [v for v in app.session.workspace.variants() if v.kind == "engine"]
        assert len(engines) == 1 and engines[0].format == "onnx"
        assert app.session.model_state.engine_card["id"] == engines[0].id
        log = log_text(screen)
        assert "optimizing graph (level all)" in log and f"done: ORT all-opt fp32 ({engines[0].id[:8]})" in log


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
async def test_tensorrt_selection_says_what_is_missing(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        screen.query_one("#en-backend", Select).value = "tensorrt"
        await pilot.pause()
        text = plain(screen.query_one("#en-avail", Static), width=300)
        assert "TensorRT cannot be used here" in text
        assert "pip install tensorrt --extra-index-url https://pypi.nvidia.com" in text
        assert "no NVIDIA GPU" in text or "PyTorch" in text
        assert screen.query_one("#en-build", Button).disabled
        await pilot.press("b")                       # the key refuses too, with the reason
        await pilot.pause()
        assert not screen.query_one("#en-task", TaskPanel).running
        assert not [v for v in app.session.workspace.variants() if v.kind == "engine"]


async def test_aoti_needs_a_pytorch_model(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        screen.query_one("#en-backend", Select).value = "aoti"
        await pilot.pause()
        assert "AOTInductor compiles PyTorch models and the open model is ONNX" in plain(
            screen.query_one("#en-avail", Static), width=300)
        assert screen.query_one("#en-build", Button).disabled


async def test_bad_batch_profile_is_refused_without_building(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    seen = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        screen.query_one("#en-min", Input).value = "16"
        await pilot.press("b")
        await pilot.pause()
        assert not screen.query_one("#en-task", TaskPanel).running
        assert any("min <= opt <= max" in n for n in seen)


async def test_cancel_an_aoti_build_keeps_nothing(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.pt")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        screen.query_one("#en-backend", Select).value = "aoti"
        await pilot.pause()
        assert not screen.query_one("#en-build", Button).disabled
        await pilot.press("b")
        deadline = time.monotonic() + 120
        while "compiling" not in log_text(screen) and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert "compiling" in log_text(screen)
        await pilot.press("x")
        await wait_build(pilot, screen)
        assert "cancelled: no engine was written" in log_text(screen)
        assert not [v for v in app.session.workspace.variants() if v.kind == "engine"]
        variants_dir = app.session.workspace.root / "variants"
        assert {p.name for p in variants_dir.iterdir()} == {v.id for v in app.session.workspace.variants()}


async def test_log_lines_wrap_at_80_columns(tmp_path):
    from tests.functional.tiny_models import tiny_onnx

    app = make_app(tiny_onnx(tmp_path / "tiny.onnx"))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        log = app.screen.query_one("#en-log", RichLog)
        line = "done: " + "/very/long/path/without/spaces" * 4 + " is now a variant"
        log.write(line)
        await pilot.pause()
        width = log.scrollable_content_region.width
        texts = [strip.text for strip in log.lines]
        assert len(texts) > 1 and all(len(t.rstrip()) <= width for t in texts)
        assert "".join(t.strip() for t in texts).replace(" ", "") == line.replace(" ", "")
