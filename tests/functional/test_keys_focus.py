"""Keys and focus with Pilot: Escape leaves a field, number fields, relevant checks, quit asks during a task."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from screens.confirm_dialog import ConfirmDialog
from screens.engine import EngineScreen
from screens.overview import OverviewScreen
from screens.widgets.fields import FieldErrors, NumberField
from tests.functional.notifications import record_notifications
from tests.functional.tiny_models import tiny_onnx
from workbench.app import make_app
from workbench.tasks import run_task

pytestmark = pytest.mark.asyncio


@pytest.fixture
def tiny(tmp_path) -> Path:
    return tiny_onnx(tmp_path / "tiny.onnx")


async def engine(app, pilot) -> EngineScreen:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("3")
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, EngineScreen)
    return app.screen


def errors(screen) -> str:
    return str(screen.query_one(FieldErrors).render())


async def test_escape_leaves_a_field_and_area_keys_work_again(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await engine(app, pilot)
        field = screen.query_one("#en-max", Input)
        field.focus()
        await pilot.press("end", "1")          # typed into the field, not taken as the Overview key
        await pilot.pause()
        assert field.value == "321" and isinstance(app.screen, EngineScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is None
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_number_fields_refuse_letters_and_say_inline_what_is_wrong(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await engine(app, pilot)
        field = screen.query_one("#en-min", NumberField)
        field.focus()
        await pilot.press("end", "b", "x", "q")
        await pilot.pause()
        assert field.value == "1" and app.is_running  # letters refused: no build, no cancel, no quit
        await pilot.press("backspace", "0")
        await pilot.pause()
        assert "min batch must be at least 1" in errors(screen)
        await pilot.press("backspace", "2")
        await pilot.pause()
        assert errors(screen) == ""


async def test_only_the_chosen_backends_fields_are_checked(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await engine(app, pilot)
        workspace = screen.query_one("#en-wsmb", NumberField)
        workspace.value = "8"                  # below TensorRT's minimum
        await pilot.pause()
        assert workspace.disabled and "workspace" not in errors(screen)   # ORT chosen: not checked
        screen.query_one("#en-backend", Select).value = "tensorrt"
        await pilot.pause()
        assert not workspace.disabled and "TRT workspace MB must be at least 16" in errors(screen)


async def test_b_with_an_unavailable_backend_says_why(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await engine(app, pilot)
        seen = record_notifications(app)
        screen.query_one("#en-backend", Select).value = "tensorrt"
        await pilot.pause()
        ok, text = screen._avail_text()
        if ok:
            pytest.skip("TensorRT is usable on this machine")
        app.set_focus(None)
        await pilot.press("b")
        await pilot.pause()
        assert seen and "TensorRT" in seen[-1] and len(seen[-1]) > len("✗ TensorRT cannot be used here:")


async def test_q_during_a_task_asks_first(tiny):
    app = make_app(tiny)
    release = threading.Event()

    def waits(task):
        while not release.wait(0.02):
            task.check()

    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        run_task(app.screen, "long task", waits)
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        yes = app.screen.query_one("#confirm-yes")
        assert yes.region.bottom <= 24 and yes.region.height > 0   # the buttons are on screen at 80x24
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmDialog)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert not app.is_running
        release.set()


async def test_q_when_idle_quits_at_once(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_a_long_confirm_keeps_its_buttons_visible_at_80x24():
    app = make_app(load_default=False)
    answers: list[bool | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        body = "\n".join(f"sagemaker.create_something(Parameter{i}='value')" for i in range(60))  # a deploy plan
        app.push_screen(ConfirmDialog("Create these resources?", body, yes="Deploy"), answers.append)
        await pilot.pause()
        for ident in ("#confirm-no", "#confirm-yes"):
            button = app.screen.query_one(ident)
            assert 0 < button.region.height and button.region.bottom <= 24 and button.region.right <= 80
        await pilot.click("#confirm-yes")
        await pilot.pause()
    assert answers == [True]
