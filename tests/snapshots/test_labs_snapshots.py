"""The Labs area at 80x24 and 120x40: a tour half done, a lab the open model cannot do, the practice cloud off.

Deterministic: the variants come from tests/snapshots/fixtures/optimize_ws (nothing is measured), the CPU
description is pinned, WORKBENCH_DETERMINISTIC=1 fixes the metrics bar.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.app import make_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "digits_cnn.onnx"
FIXTURE_WS = Path(__file__).parent / "fixtures" / "optimize_ws"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
@pytest.fixture
def workspace(tmp_path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, dst)
    return dst


def on_lab(number: int):
    async def run_before(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("8")
        await pilot.pause()
        for _ in range(number - 1):
            await pilot.press("right_square_bracket")
        await pilot.pause()
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_lab1_half_done(snap_compare, workspace, size):
    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=on_lab(1))


@pytest.mark.parametrize("size", SIZES)
def test_lab3_wrong_model_offers_the_sample(snap_compare, workspace, size):
    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=on_lab(3))


@pytest.mark.parametrize("size", SIZES)
def test_lab4_practice_cloud_off(snap_compare, workspace, size):
    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=on_lab(4))
