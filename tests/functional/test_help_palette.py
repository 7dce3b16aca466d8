"""Help and palette come from the bindings: the area's own keys, global and dialog keys, area actions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.widgets import Static

from screens.engine import EngineScreen
from screens.help import HelpScreen
from tests.functional.notifications import record_notifications
from tests.functional.tiny_models import tiny_onnx
from workbench.app import make_app
from workbench.palette import area_bindings

pytestmark = pytest.mark.asyncio


def text_of(widget: Static, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(widget.content)
    return console.file.getvalue()


@pytest.fixture
def tiny(tmp_path) -> Path:
    return tiny_onnx(tmp_path / "tiny.onnx")


async def to_area(app, pilot, key: str) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press(key)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_help_lists_the_areas_own_keys_global_and_dialog_keys(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_area(app, pilot, "2")               # Optimize
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app.screen.query_one("#help-keys", Static))
        for part in ("Optimize area", "Variants", "Pareto", "quantization", "Open model", "Quit",
                     "In a confirm dialog", "escape,n", "Yes"):
            assert part in text, part
        close = app.screen.query_one("#help-close")
        assert close.region.bottom <= 24 and close.region.height > 0


async def test_area_bindings_are_the_screens_own():
    keys = {k.key: k.action for k in area_bindings(EngineScreen())}
    assert keys == {"b": "build", "x": "cancel"}


async def test_palette_offers_and_runs_the_areas_actions(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(100, 30)) as pilot:
        await to_area(app, pilot, "3")               # Engine
        seen = record_notifications(app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"build")
        for _ in range(40):
            await pilot.pause(0.05)
            if app.screen.query_one(CommandList).option_count:
                break
        assert "Engine: Build" in str(app.screen.query_one(CommandList).get_option_at_index(0).prompt)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if isinstance(app.screen, EngineScreen) and (seen or app.screen._panel().running):
                break
        assert isinstance(app.screen, EngineScreen)
        assert seen or app.screen._panel().running or app.screen.session.model_state.engine_card
        await app.workers.wait_for_complete()


async def test_palette_finds_an_action_by_what_it_does(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(100, 30)) as pilot:
        await to_area(app, pilot, "2")               # Optimize
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"quant")
        for _ in range(40):
            await pilot.pause(0.05)
            if app.screen.query_one(CommandList).option_count:
                break
        prompts = [str(app.screen.query_one(CommandList).get_option_at_index(i).prompt)
                   for i in range(app.screen.query_one(CommandList).option_count)]
        assert any("Optimize: Apply" in p for p in prompts), prompts
