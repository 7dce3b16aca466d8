"""Presenter mode at 80x24 and 120x40: the high-contrast layout, and a replay of a prepared workspace.

Deterministic: the replayed figures come from tests/snapshots/fixtures/optimize_ws with a fixed record of
when and where (tests/replay_fixture.py), the CPU description is pinned, the device is pinned.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay_fixture import replay_workspace
from workbench.app import make_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ONNX = ROOT / "sample_models" / "digits_cnn.onnx"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
async def loaded(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def on_optimize(pilot) -> None:
    await loaded(pilot)
    await pilot.press("2")
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_presenter_overview(snap_compare, size):
    assert snap_compare(make_app(presenter=True), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_presenter_replay_optimize(snap_compare, tmp_path, size):
    ws = replay_workspace(tmp_path / "demo")
    assert snap_compare(make_app(SAMPLE_ONNX, presenter=True, replay=ws), terminal_size=size,
                        run_before=on_optimize)
