"""Keys at 80x24 and 120x40: the help over the Engine area (its own keys, global and dialog keys), the quit
confirm during a task (buttons visible) and the Engine form with an invalid number shown inline."""

from __future__ import annotations

import threading

import pytest

from workbench.app import make_app
from workbench.tasks import run_task

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
RELEASE = threading.Event()


async def engine(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("3")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_help_over_engine(snap_compare, size):
    async def run_before(pilot) -> None:
        await engine(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quit_confirm_during_a_task(snap_compare, size):
    def waits(task):
        while not RELEASE.wait(0.02):
            task.check()

    async def run_before(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        run_task(pilot.app.screen, "batch sweep", waits)
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        await pilot.pause()

    app = make_app()
    try:
        assert snap_compare(app, terminal_size=size, run_before=run_before)
    finally:
        RELEASE.set()
        RELEASE.clear()


@pytest.mark.parametrize("size", SIZES)
def test_engine_inline_field_error(snap_compare, size):
    async def run_before(pilot) -> None:
        await engine(pilot)
        pilot.app.screen.query_one("#en-max").value = "0"
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
