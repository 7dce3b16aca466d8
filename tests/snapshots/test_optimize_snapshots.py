"""The Optimize screen at 80x24 and 120x40 over a fixed, pre-made workspace manifest.

Deterministic: the variants and their figures come from tests/snapshots/fixtures/optimize_ws (nothing is
measured), the CPU description is pinned, WORKBENCH_DETERMINISTIC=1 fixes the metrics bar.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engines.measure.cpu_features import parse_cpuinfo
from workbench.app import make_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "digits_cnn.onnx"
FIXTURE_WS = Path(__file__).parent / "fixtures" / "optimize_ws"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
PINNED_CPU = parse_cpuinfo("processor : 0\nmodel name : Example Xeon\nflags : avx2 fma avx512f avx512_vnni\n"
                           "processor : 1\nmodel name : Example Xeon\nflags : avx2 fma avx512f avx512_vnni\n",
                           arch="x86_64")


@pytest.fixture(autouse=True)
def pinned_cpu(monkeypatch):
    monkeypatch.setattr("engines.measure.cpu_features.cpu_features", lambda: PINNED_CPU)


@pytest.fixture
def workspace(tmp_path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, dst)
    return dst


async def on_optimize(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("2")
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_optimize_variants(snap_compare, workspace, size):
    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=on_optimize)


@pytest.mark.parametrize("size", SIZES)
def test_optimize_slow_int8_explained(snap_compare, workspace, size):
    async def select_slow(pilot) -> None:
        await on_optimize(pilot)
        table = pilot.app.screen.query_one("#variants")
        slow = next(r for r in table.rows_data if r["name"] == "int8 static qdq s8/s8 pc minmax")
        table.select_id(slow["id"])
        await pilot.pause()

    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=select_slow)


@pytest.mark.parametrize("size", SIZES)
def test_optimize_pareto_latency(snap_compare, workspace, size):
    async def pareto(pilot) -> None:
        await on_optimize(pilot)
        await pilot.press("p")
        await pilot.pause()

    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=pareto)
