"""The app shell at 80x24 and 120x40: overview with the sample, no-model placeholder, open and error dialogs.

Deterministic: WORKBENCH_DETERMINISTIC=1 (tests/conftest.py), no clocks, paths shown relative to the repo,
the open dialog on a fixed folder of the repository, the device pinned by tests/snapshots/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from screens.open_dialog import OpenDialog
from workbench.app import make_app

FIXTURES = Path(__file__).parent / "fixtures" / "models"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def loaded(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_overview_with_sample_model(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_overview_without_model(snap_compare, size):
    assert snap_compare(make_app(load_default=False), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_open_dialog(snap_compare, size):
    async def open_dialog(pilot) -> None:
        await loaded(pilot)
        await pilot.app.push_screen(OpenDialog(FIXTURES))
        for _ in range(40):
            await pilot.pause(0.05)
            if pilot.app.screen.query_one("#open-tree").root.children:
                break
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=open_dialog)


@pytest.mark.parametrize("size", SIZES)
def test_error_dialog_over_the_loaded_sample(snap_compare, size):
    async def open_bad(pilot) -> None:
        await loaded(pilot)
        pilot.app.open_model("no/such/model.onnx")
        await loaded(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=open_bad)
