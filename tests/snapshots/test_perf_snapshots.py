"""Metrics and Batching screens at 80x24 and 120x40 (deterministic readings, fixed comparison figures)."""

from __future__ import annotations

import pytest

from workbench.app import make_app

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

# Fixed figures (shaped like engines.serving.experiment.compare_batching's result) so the plot is stable.
COMPARISON = {
    "levels": [1, 8, 32],
    "on": [{"level": 1, "throughput_rps": 310.0, "latency_ms": {"p99": 4.1}},
           {"level": 8, "throughput_rps": 1480.0, "latency_ms": {"p99": 9.3}},
           {"level": 32, "throughput_rps": 2650.0, "latency_ms": {"p99": 19.8}}],
    "off": [{"level": 1, "throughput_rps": 330.0, "latency_ms": {"p99": 3.6}},
            {"level": 8, "throughput_rps": 610.0, "latency_ms": {"p99": 21.0}},
            {"level": 32, "throughput_rps": 640.0, "latency_ms": {"p99": 71.5}}],
}


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_metrics_screen(snap_compare, size):
    async def go(pilot) -> None:
        await settle(pilot)
        await pilot.press("4")
        await pilot.pause()

    assert snap_compare(make_app(load_default=False), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES)
def test_batching_screen_with_comparison(snap_compare, samples_dir, size):
    async def go(pilot) -> None:
        await settle(pilot)
        await pilot.press("5")
        await pilot.pause()
        pilot.app.screen.show_comparison(COMPARISON)
        pilot.app.set_focus(None)
        await pilot.pause()

    assert snap_compare(make_app(str(samples_dir / "digits_cnn.onnx")), terminal_size=size, run_before=go)
