"""The Batching screen at 80x24 and 120x40 with fixed figures: a sweep (chart, table, recommendation), an on/off
run explained by the batch gain, and a PyTorch model whose baseline is not built yet."""

from __future__ import annotations

import pytest

from engines.measure.sweep import SweepPoint, SweepResult
from tests.snapshots.test_perf_snapshots import COMPARISON, settle
from workbench.app import make_app

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _sweep(model: str) -> SweepResult:
    rows = [(1, 0.05, 0.08, 20000.0, None), (2, 0.07, 0.10, 28600.0, 1.43), (4, 0.11, 0.15, 36400.0, 1.82),
            (8, 0.19, 0.26, 42100.0, 2.11), (16, 0.36, 0.49, 44400.0, 2.22), (32, 0.74, 0.98, 43200.0, 2.16)]
    pts = [SweepPoint(b, {"p50": p50, "p99": p99}, ips, 100,
                      gain=None if g is None else {"value": g, "interval": [g - 0.04, g + 0.04], "vs_batch": 1,
                                                   "within_noise": False})
           for b, p50, p99, ips, g in rows]
    return SweepResult(model=model, device="cpu", threads=2, points=pts, budget_ms=50.0, paired=True)


def _batching(sweep: bool, comparison: bool):
    async def go(pilot) -> None:
        await settle(pilot)
        await pilot.press("5")
        await pilot.pause()
        screen = pilot.app.screen
        model = str(pilot.app.session.model_path)
        if comparison:
            screen.show_comparison({**COMPARISON, "model": model, "stats_on": {"mean_batch": 11.4},
                                    "batch_gain": {"from": 1, "to": 32, "value": 2.16, "interval": [2.12, 2.2],
                                                   "device": "cpu"}})
        if sweep:
            screen.show_sweep(_sweep(model))
        pilot.app.set_focus(None)
        await pilot.pause()
        await pilot.pause()

    return go


@pytest.mark.parametrize("size", SIZES)
def test_batching_after_a_sweep(snap_compare, samples_dir, size):
    app = make_app(str(samples_dir / "digits_cnn.onnx"))
    assert snap_compare(app, terminal_size=size, run_before=_batching(sweep=True, comparison=False))


@pytest.mark.parametrize("size", SIZES)
def test_batching_on_off_explained(snap_compare, samples_dir, size):
    app = make_app(str(samples_dir / "digits_cnn.onnx"))
    assert snap_compare(app, terminal_size=size, run_before=_batching(sweep=False, comparison=True))


@pytest.mark.parametrize("size", SIZES)
def test_batching_pytorch_model_without_baseline(snap_compare, samples_dir, size, tmp_path):
    app = make_app(str(samples_dir / "digits_cnn.pt"), workspace=str(tmp_path / "ws"))
    assert snap_compare(app, terminal_size=size, run_before=_batching(sweep=False, comparison=False))
