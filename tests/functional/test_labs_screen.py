"""The Labs area driven with Pilot: a tour end to end, steps out of order, a wrong model, the practice cloud."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Input, Static

import workbench.wiring.labs as wiring
from engines.deploy import practice
from screens.labs import LabsScreen, SaveSummaryDialog
from screens.widgets.task_panel import TaskPanel
from workbench.app import make_app

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "sample_models" / "digits_cnn.onnx"      # fast to export and time; the mechanics are the same
QUICK = {"iterations": 10, "budget_s": 0.1, "warmup": 1, "throughput_batch": 4, "sweep_max_batch": 4,
         "sweep_budget_s": 0.1, "serve_levels": (1, 2), "serve_requests": 20, "serve_duration_s": 0.5,
         "build_iterations": 10, "build_budget_s": 0.1, "poll_interval_s": 0.01}


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(wiring, "SETTINGS", QUICK)
    monkeypatch.setattr(wiring, "PRACTICE_PORT", 0)
    yield
    practice.stop()


def text(screen, selector: str) -> str:
    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(screen.query_one(selector, Static).content)
    return console.file.getvalue()


async def open_labs(app, pilot) -> LabsScreen:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("8")
    await pilot.pause()
    assert isinstance(app.screen, LabsScreen)
    return app.screen


async def press_and_wait(app, pilot, key: str, limit: int = 600) -> None:
    await pilot.press(key)
    await pilot.pause()
    for _ in range(limit):
        panels = app.screen.query(TaskPanel)
        if not panels or not panels.first().running:
            break
        await pilot.pause(0.1)
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def marks(screen) -> dict[str, bool]:
    view = wiring.view(screen.session, screen.lab_number)
    return {r.key: r.done for r in view.rows}


async def test_lab1_end_to_end_and_summary_saved(tmp_path):
    ws = tmp_path / "ws"
    app = make_app(TINY, workspace=ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_labs(app, pilot)
        assert "Lab 1 of 6" in text(screen, "#lab-title")
        assert marks(screen) == {"a": False, "b": False, "c": False}
        for key in "abc":
            await press_and_wait(app, pilot, key)
            assert marks(app.screen)[key], text(app.screen, "#lab-status")
        why = text(app.screen, "#lab-why")
        assert "rounds)" in why and "as timed when it was made" not in why   # the interleaved figures
        assert "why slower" in why or "why faster" in why     # the direction comes from the measurement
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SaveSummaryDialog)
        default = app.screen.query_one(Input).value
        assert default.startswith(str(ws / "labs"))
        await press_and_wait(app, pilot, "enter")
        saved = list((ws / "labs").glob("lab1-summary-*.md"))
        assert len(saved) == 1 and saved[0].read_text().startswith("# Lab 1:"), (type(app.screen), text(app.screen, "#lab-status"))
        assert "summary saved to" in text(app.screen, "#lab-status")
        assert not list(ws.glob("labs/*.part")) and not list(ws.glob("labs/.*"))


async def test_step_out_of_order_says_which_first(tmp_path):
    ws = tmp_path / "ws"
    app = make_app(TINY, workspace=ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_labs(app, pilot)
        await press_and_wait(app, pilot, "c")
        status = text(app.screen, "#lab-status")
        assert "do step b first" in status and "Quantize to INT8" in status
        assert app.session.workspace.variants() == []        # nothing was made
        assert marks(app.screen) == {"a": False, "b": False, "c": False}


async def test_step_out_of_order_accepted_when_state_satisfies_it(tmp_path):
    """A baseline made elsewhere (here: the Cost screen's wiring) satisfies step a: step b runs at once."""
    from workbench.wiring.cost import build_baseline

    ws = tmp_path / "ws"
    app = make_app(TINY, workspace=ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_labs(app, pilot)
        build_baseline(TINY, app.session.workspace)
        await press_and_wait(app, pilot, "b")
        assert marks(app.screen) == {"a": True, "b": True, "c": False}, text(app.screen, "#lab-status")


async def test_wrong_model_says_why_and_offers_the_sample(tmp_path):
    app = make_app(TINY, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_labs(app, pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        assert app.screen.lab_number == 3
        problem = text(app.screen, "#lab-problem")
        assert "cannot use this ONNX model" in problem and "digits32_resnet.pt" in problem and "m" in problem
        await press_and_wait(app, pilot, "b")
        assert "cannot use" in text(app.screen, "#lab-status")
        assert app.session.workspace.variants() == []
        await pilot.press("m")
        await pilot.pause()
        assert app.last_tried == wiring.sample_path()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        assert app.session.model_path.name == "digits32_resnet.pt"
        assert not app.screen.query("#lab-problem")


async def test_lab4_practice_cloud_deploy_monitor_teardown(tmp_path):
    app = make_app(TINY, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_labs(app, pilot)
        for _ in range(3):
            await pilot.press("right_square_bracket")
        await pilot.pause()
        assert "practice cloud: off" in text(app.screen, "#lab-title")
        await press_and_wait(app, pilot, "c")
        assert "do step a first" in text(app.screen, "#lab-status")   # deploy needs the baseline and the cloud
        for key in "abcde":
            await press_and_wait(app, pilot, key)
            assert marks(app.screen)[key], text(app.screen, "#lab-status")
        assert "practice cloud (http://127.0.0.1:" in text(app.screen, "#lab-title")
        assert "(practice)" in text(app.screen, "#lab-steps")
        cloud = practice.current()
        assert cloud.clients().sagemaker.list_endpoints()["Endpoints"] == []    # torn down for real


async def test_practice_cloud_port_taken_is_reported(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(wiring, "PRACTICE_PORT", port)
        app = make_app(TINY, workspace=tmp_path / "ws")
        async with app.run_test(size=(120, 40)) as pilot:
            await open_labs(app, pilot)
            for _ in range(3):
                await pilot.press("right_square_bracket")
            await press_and_wait(app, pilot, "b")
            status = text(app.screen, "#lab-status")
            assert f"port {port} on 127.0.0.1 is taken" in status
            assert practice.current() is None
            assert not marks(app.screen)["b"]
