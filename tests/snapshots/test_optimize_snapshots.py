"""The Optimize screen at 80x24 and 120x40 over a fixed, pre-made workspace manifest.

Deterministic: the variants and their figures come from tests/snapshots/fixtures/optimize_ws with fixed
paired speedups added (tests/optimize_fixture.py) and a fixed stored pruning curve (nothing is measured),
the CPU description is pinned, WORKBENCH_DETERMINISTIC=1 fixes the metrics bar.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.optimize.curve_store import curve_settings, save_curve
from engines.optimize.prune_curve import CurvePoint, PruneCurve
from tests.optimize_fixture import paired_workspace
from workbench.app import make_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "digits_cnn.onnx"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
# (amount, accuracy, speedup, interval, MACs): a fixed curve, one-shot with no recovery (the form's default)
CURVE = [(0.0, 0.9911, 1.0, (1.0, 1.0), 338_000), (0.3, 0.9822, 1.12, (1.05, 1.19), 169_000),
         (0.5, 0.9733, 1.31, (1.22, 1.40), 92_544), (0.7, 0.9422, 1.52, (1.41, 1.63), 29_100),
         (0.9, 0.1667, 1.70, (1.55, 1.86), 3_620)]


def stored_curve(root: Path, quality_key: str = "accuracy") -> None:
    pts = [CurvePoint(a, f"v{i}", "ok", quality=q, drop_points=(0.9911 - q) * 100, speedup=s, speedup_interval=iv,
                      macs=m) for i, (a, q, s, iv, m) in enumerate(CURVE)]
    curve = PruneCurve(model="digits_cnn.onnx", quality_key=quality_key, schedule="one-shot", recover_epochs=0,
                       points=pts, baseline_id="v0", max_drop=1.0, chosen=0.3, timing="side by side")
    save_curve(root, curve, curve_settings("one-shot", 0))


@pytest.fixture
def workspace(tmp_path) -> Path:
    dst = paired_workspace(tmp_path / "ws")
    stored_curve(dst)
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


@pytest.mark.parametrize("size", SIZES)
def test_optimize_pareto_size(snap_compare, workspace, size):
    async def chart(pilot) -> None:
        await on_optimize(pilot)
        await pilot.press("z")
        await pilot.pause()

    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=chart)


@pytest.mark.parametrize("size", SIZES)
def test_optimize_pruning_curve(snap_compare, workspace, size):
    async def curve(pilot) -> None:
        await on_optimize(pilot)
        await pilot.press("c")   # a stored curve for the form's settings: shown, nothing run
        await pilot.pause()

    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=curve)


@pytest.mark.parametrize("size", SIZES)
def test_optimize_schedule_field_error(snap_compare, workspace, size):
    async def form(pilot) -> None:
        await on_optimize(pilot)
        screen = pilot.app.screen
        screen.query_one("#prune").value = 70
        screen.query_one("#schedule").value = "iterative"
        await pilot.pause()
        screen.query_one("#prune-steps").value = "25"
        await pilot.pause()
        screen.action_apply()      # refused: the field is not accepted
        await pilot.pause()
        screen.query_one("#opt-controls").scroll_to_widget(screen.query_one("#opt-errors"), animate=False)
        await pilot.pause()

    assert snap_compare(make_app(SAMPLE, workspace=workspace), terminal_size=size, run_before=form)
