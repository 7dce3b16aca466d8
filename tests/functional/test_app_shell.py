"""The app shell driven with Pilot: sample model, overview, dialogs, navigation, palette, small terminals."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, DataTable, Input, ProgressBar, Static

import workbench.nav as nav
from screens.base import NavItem, WorkbenchScreen
from screens.error_dialog import ErrorDialog
from screens.help import HelpScreen
from screens.open_dialog import ModelTree, OpenDialog
from screens.overview import OverviewScreen
from screens.widgets.task_panel import TaskPanel
from tests.functional.tiny_models import random_bytes, tiny_onnx
from workbench.app import make_app
from workbench.loading import default_model_path

pytestmark = pytest.mark.asyncio


def text_of(widget: Static, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(widget.content)
    return console.file.getvalue()


async def settle(app, pilot) -> None:
    """Wait for the model-loading worker and the messages it posts."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@pytest.fixture
def tiny(tmp_path) -> Path:
    return tiny_onnx(tmp_path / "tiny.onnx")


async def test_default_is_the_bundled_sample_and_overview_shows_it():
    assert default_model_path().is_file(), "sample_models/digits_cnn.pt is missing: run `workbench samples build`"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        info = app.session.model_info
        assert info is not None and info.name == "digits_cnn"
        assert app.sub_title == f"digits_cnn · TorchScript · {app.session.device}"
        assert isinstance(app.screen, OverviewScreen)
        summary = text_of(app.screen.query_one("#summary", Static))
        assert f"{info.param_count:,}" in summary
        assert "sample_models/digits_cnn.pt" in summary
        io_rows = rows(app.screen.query_one("#io", DataTable))
        assert io_rows[0][0] == "in" and io_rows[0][2].endswith("1, 8, 8]")
        assert any(r[0] == "out" for r in io_rows)
        assert app.session.workspace is not None


async def test_overview_shows_params_ops_and_dynamic_dims(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        summary = text_of(screen.query_one("#summary", Static))
        assert "Parameters   650" in summary and "ONNX" in summary and "opset 17" in summary
        assert "640 per sample" in summary          # MACs of the 64x10 MatMul
        assert {r[0]: r[1].strip() for r in rows(screen.query_one("#ops", DataTable))} == {
            "Add": "1", "MatMul": "1", "Relu": "1"}
        io_rows = rows(screen.query_one("#io", DataTable))
        assert io_rows == [["in", "x", "[batch, 64]", "float32", "0:batch"],
                           ["out", "y", "[batch, 10]", "float32", "0:batch"]]
        assert [r[0] for r in rows(screen.query_one("#layers", DataTable))] == ["fc", "bias", "relu"]


async def test_without_a_model_the_overview_says_how_to_open_one():
    app = make_app(load_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.session.model_info is None
        assert "No model loaded — press o to open one" in text_of(app.screen.query_one("#overview-empty", Static))
        assert app.sub_title == "no model"


async def test_open_dialog_with_bad_file_shows_error_and_keeps_model(tiny, tmp_path):
    bad = random_bytes(tmp_path / "broken.onnx")
    app = make_app(tiny)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenDialog)
        app.screen.query_one(Input).value = str(bad)
        app.screen.query_one(Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorDialog)
        assert "broken.onnx" in app.screen.message and "\n" not in app.screen.message
        await pilot.click("#error-ok")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert app.is_running and app.session.model_info.name == "tiny"
        assert app.sub_title.startswith("tiny · ONNX")


async def test_open_dialog_loads_another_model_and_overview_follows(tiny, tmp_path):
    other = tiny_onnx(tmp_path / "wide.onnx", features=32, classes=5)
    app = make_app(tiny)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one(Input).value = str(other)
        await pilot.click("#open-ok")
        await settle(app, pilot)
        assert app.session.model_info.name == "wide"
        assert app.screen.query_one("#summary", Static).border_title == "wide"
        assert "Parameters   165" in text_of(app.screen.query_one("#summary", Static))


async def test_open_dialog_tree_lists_only_folders_and_model_files(tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"x")
    (tmp_path / "b.tflite").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.onnx").write_bytes(b"x")
    (tmp_path / "saved").mkdir()
    app = make_app(load_default=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(OpenDialog(tmp_path))
        for _ in range(20):
            await pilot.pause(0.05)
            tree = app.screen.query_one(ModelTree)
            if tree.root.children:
                break
        names = sorted(str(n.label) for n in tree.root.children)
        assert names == ["a.onnx", "b.tflite", "saved"]
        tree.focus()
        await pilot.press("o", "question_mark")     # app keys open no second dialog on top
        await pilot.pause()
        assert isinstance(app.screen, OpenDialog) and len(app.screen_stack) == 2
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def tree_names(pilot, tree: ModelTree, expect: list[str]) -> list[str]:
    """The tree's top-level names once they equal ``expect`` (or whatever they are after 2 s)."""
    names: list[str] = []
    for _ in range(40):
        await pilot.pause(0.05)
        names = sorted(str(n.label) for n in tree.root.children)
        if names == expect:
            break
    return names


async def test_open_dialog_browses_a_plain_folder_and_goes_up(tmp_path):
    sub = tmp_path / "models"
    sub.mkdir()
    (sub / "m.onnx").write_bytes(b"x")
    app = make_app(load_default=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(OpenDialog(tmp_path))
        tree = app.screen.query_one(ModelTree)
        assert await tree_names(pilot, tree, ["models"]) == ["models"]
        app.screen.query_one(Input).value = str(sub)
        await pilot.click("#open-ok")
        await pilot.pause()
        assert isinstance(app.screen, OpenDialog) and Path(tree.path) == sub
        assert await tree_names(pilot, tree, ["m.onnx"]) == ["m.onnx"]
        tree.focus()
        await pilot.press("backspace")
        await pilot.pause()
        assert Path(tree.path) == tmp_path


async def test_open_dialog_empty_path_asks_for_one_and_stays_open():
    app = make_app(load_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        await pilot.click("#open-ok")
        await pilot.pause()
        assert isinstance(app.screen, OpenDialog)
        assert "Type a path" in text_of(app.screen.query_one("#open-hint", Static))


class FakeScreen(WorkbenchScreen):
    AREA = "fake"

    def compose_body(self):
        yield Static("fake area body", id="fake-body")


@pytest.fixture
def two_areas(monkeypatch):
    areas = [nav.AREAS[0], nav.Area("fake", "Fake", "2", "tests.functional.test_app_shell:FakeScreen")]
    monkeypatch.setattr(nav, "AREAS", areas)
    return areas


async def test_nav_shows_only_existing_areas_and_switches_by_key_and_click(two_areas, tiny):
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert [i.area.id for i in app.screen.query(NavItem)] == ["overview", "fake"]
        await pilot.press("2")
        await pilot.pause()
        assert app.current_mode == "fake" and isinstance(app.screen, FakeScreen)
        assert app.screen.query_one("#nav-fake").has_class("-active")
        await pilot.press("3")                      # no area 3 here: nothing happens
        await pilot.pause()
        assert app.current_mode == "fake"
        await pilot.click("#nav-overview")
        await pilot.pause()
        assert app.current_mode == "overview" and isinstance(app.screen, OverviewScreen)
        await pilot.click("#nav-fake")
        await pilot.pause()
        assert app.current_mode == "fake"
        await pilot.press("1")
        await pilot.pause()
        assert app.current_mode == "overview"


async def test_model_loaded_reaches_every_area_screen(two_areas, tiny, tmp_path):
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        app.open_model(tiny_onnx(tmp_path / "second.onnx"))
        await settle(app, pilot)
        assert len(app.area_screens()) == 2
        await pilot.press("1")
        await pilot.pause()
        assert app.screen.query_one("#summary", Static).border_title == "second"


async def test_command_palette_lists_areas_and_opens_the_open_dialog():
    app = make_app(load_default=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"open model")
        for _ in range(40):
            await pilot.pause(0.05)
            if app.screen.query_one(CommandList).option_count:
                break
        assert "Open model" in str(app.screen.query_one(CommandList).get_option_at_index(0).prompt)
        await pilot.press("enter")
        for _ in range(20):
            await pilot.pause(0.05)
            if isinstance(app.screen, OpenDialog):
                break
        assert isinstance(app.screen, OpenDialog)


async def test_help_and_quit_keys():
    app = make_app(load_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Overview" in text_of(app.screen.query_one("#help-keys", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_typing_in_the_path_box_does_not_trigger_app_keys(tmp_path):
    app = make_app(load_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one(Input).focus()
        await pilot.press(*"q1o?")
        await pilot.pause()
        assert isinstance(app.screen, OpenDialog)
        assert app.screen.query_one(Input).value == "q1o?"


async def test_80x24_fits_header_nav_body_and_footer(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.query_one("Header").region.y == 0
        assert screen.query_one("#nav").region.y == 1
        assert screen.query_one("Footer").region.bottom == 24
        for wid in ("#summary", "#ops"):
            region = screen.query_one(wid).region
            assert region.width > 20 and region.right <= 80


class PanelScreen(WorkbenchScreen):
    AREA = "overview"

    def compose_body(self):
        yield TaskPanel(id="panel")


def slow_engine(steps: int, *, task):
    """Reports each step; with ``steps=0`` reports once and then waits (bounded) for a cancel."""
    for i in range(steps):
        task.report(i / steps, f"step {i}")
        time.sleep(0.01)
    if steps == 0:
        task.report(0.5, "waiting for cancel")
        deadline = time.monotonic() + 10
        while not task.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        task.check()
    return "finished"


async def test_task_panel_reports_progress_and_cancels():
    app = make_app(load_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(PanelScreen())
        panel = app.screen.query_one(TaskPanel)
        worker = panel.start("count", slow_engine, 3)
        await worker.wait()
        await pilot.pause()
        assert "count: done" in text_of(panel.query_one(".task-status", Static))
        assert panel.query_one(Button).disabled
        panel.start("count", slow_engine, 0)
        await pilot.pause(0.1)
        assert not panel.query_one(Button).disabled
        assert "count: waiting for cancel" in text_of(panel.query_one(".task-status", Static))
        assert panel.query_one(ProgressBar).progress == 50
        await pilot.click(".task-cancel")
        for _ in range(40):
            await pilot.pause(0.05)
            if "cancelled" in text_of(panel.query_one(".task-status", Static)):
                break
        assert "count: cancelled" in text_of(panel.query_one(".task-status", Static))


async def test_deterministic_mode_turns_off_animation_and_blinking(monkeypatch):
    monkeypatch.setenv("WORKBENCH_DETERMINISTIC", "1")
    app = make_app(load_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.animation_level == "none"
        await pilot.press("o")
        await pilot.pause()
        box = app.screen.query_one(Input)
        box.focus()
        await pilot.pause()
        assert box.has_focus and box.cursor_blink is False


class InPlaceScreen(WorkbenchScreen):
    AREA = "fake"
    composed = 0
    handled = 0

    def compose_body(self):
        InPlaceScreen.composed += 1
        yield Static("kept", id="kept")

    async def on_model_loaded(self, message) -> None:
        InPlaceScreen.handled += 1


async def test_a_screen_with_its_own_model_loaded_handler_is_not_recomposed(monkeypatch, tiny, tmp_path):
    monkeypatch.setattr(nav, "AREAS", [nav.AREAS[0], nav.Area("fake", "Fake", "2",
                                                               "tests.functional.test_app_shell:InPlaceScreen")])
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        before = InPlaceScreen.composed, InPlaceScreen.handled
        app.open_model(tiny_onnx(tmp_path / "again.onnx"))
        await settle(app, pilot)
        assert (InPlaceScreen.composed, InPlaceScreen.handled) == (before[0], before[1] + 1)
