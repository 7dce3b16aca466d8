"""Area screens built while the user is idle (workbench/prebuild.py): built off screen, shown on the key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from screens.optimize import OptimizeScreen
from workbench import prebuild
from workbench.app import make_app
from workbench.config import Config

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "digits_cnn.onnx"


async def built_all(app, pilot, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while prebuild.wanted(app) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not prebuild.wanted(app), f"areas not built in {limit_s:g} s: {prebuild.wanted(app)}"
    await pilot.pause()


async def test_idle_builds_every_area_off_screen_and_the_key_shows_that_screen(tmp_path, monkeypatch):
    monkeypatch.setattr(prebuild, "IDLE_S", 0.1)
    monkeypatch.setattr(prebuild, "TICK_S", 0.05)
    app = make_app(SAMPLE, workspace=tmp_path / "ws", config=Config(deterministic=True, prebuild=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await built_all(app, pilot)
        assert app.current_mode == "overview"                      # nothing was shown while building
        built = {area: screen for area, screen in app._areas.items()}
        assert all(screen is not None for screen in built.values())
        assert built["optimize"].query_one("#variants").size.width > 0   # laid out off screen, before the key
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        assert app.screen is built["optimize"] and isinstance(app.screen, OptimizeScreen)
        table = app.screen.query_one("#variants", DataTable)
        assert len(table.columns) >= 5 and table.region.height > 0  # laid out on the visit
        assert str(app.screen.query_one("#mode-hint").render()).strip()   # the form synced to its options
        assert app.screen.focused is not None                       # auto-focus applied on the visit
        await pilot.press("7")
        await pilot.pause()
        assert app.screen is built["deploy"] and "digits_cnn" in app.screen.query_one("#vp-info").render().plain


async def test_a_recent_key_or_a_dialog_holds_the_build(tmp_path):
    app = make_app(SAMPLE, workspace=tmp_path / "ws", config=Config(deterministic=True, prebuild=False))
    outcomes: list[str] = []

    async def step() -> str:
        app.call_later(lambda: outcomes.append(prebuild.step(app)))   # on the app's loop, as the timer runs it
        await pilot.pause()
        return outcomes[-1]

    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        todo = prebuild.wanted(app)
        assert todo[0] == "optimize" and "overview" not in todo    # off: only the first screen was built
        await pilot.press("f12")                                   # any key: the user is busy
        assert await step() == "busy" and prebuild.wanted(app) == todo
        await pilot.press("question_mark")                         # help is a dialog: held however long
        await pilot.pause()
        app.last_input = time.monotonic() - 10
        assert await step() == "busy"
        await pilot.press("escape")
        await pilot.pause()
        app.last_input = time.monotonic() - 10
        assert await step() == "built optimize" and prebuild.wanted(app) == todo[1:]   # one area a step
        assert app.current_mode == "overview"
        await pilot.press("2")
        await pilot.pause()
        assert app.screen is app._areas["optimize"]


async def test_a_model_opened_later_reaches_the_screens_built_before(tmp_path, monkeypatch):
    from tests.functional.tiny_models import tiny_onnx

    monkeypatch.setattr(prebuild, "IDLE_S", 0.1)
    monkeypatch.setattr(prebuild, "TICK_S", 0.05)
    other = tiny_onnx(tmp_path / "tiny.onnx")
    app = make_app(SAMPLE, workspace=tmp_path / "ws", config=Config(deterministic=True, prebuild=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await built_all(app, pilot)
        app.open_model(other)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("7")
        await pilot.pause()
        await pilot.pause()
        assert app.session.model_path == other
        info = app.screen.query_one("#vp-info").render().plain      # built for digits_cnn, now the new model
        assert "tiny" in info and "digits_cnn" not in info


def test_the_setting_defaults_to_on_and_to_off_when_deterministic(monkeypatch):
    for env, want in (({}, True), ({"WORKBENCH_DETERMINISTIC": "1"}, False),
                      ({"WORKBENCH_DETERMINISTIC": "1", "WORKBENCH_PREBUILD": "1"}, True),
                      ({"WORKBENCH_PREBUILD": "off"}, False)):
        monkeypatch.delenv("WORKBENCH_DETERMINISTIC", raising=False)
        monkeypatch.delenv("WORKBENCH_PREBUILD", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert Config.from_env().prebuild is want, env
