"""The Metrics screen and the metrics bar, driven with Pilot (deterministic readings; failure injection for NVML)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from engines.measure.metrics import FixedSource, Sampler
from engines.measure.nvml import NvmlProbe
from screens.metrics import MetricRow, MetricsScreen
from screens.widgets.metrics_bar import MetricsBar
from tests.perf_fixtures import FakeNvml
from workbench.app import make_app
from workbench.metrics_service import MetricsService

pytestmark = pytest.mark.asyncio


def plain(widget: Static) -> str:
    return str(widget.render())


def row_value(screen, key: str) -> str:
    return plain(screen.query_one(f"#row-{key}", MetricRow).query_one(".metric-value", Static))


async def test_metrics_screen_without_gpu_shows_cpu_and_updates():
    app = make_app(load_default=False)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        assert plain(screen.query_one("#gpu-status", Static)) == "no NVIDIA GPU detected: showing CPU"
        assert len(screen.query(".metric-row")) == 4 + 3        # 4 fixed cores + all, RAM, RSS
        assert not screen.query(".metrics-panel").filter("#gpu-panel-0")
        sampler = app.metrics_service.sampler
        assert not sampler.running                            # deterministic: no thread, fixed window
        before = row_value(screen, "core0")
        sampler.poll()                                        # a new tick reaches the screen as a message
        await pilot.pause()
        after = row_value(screen, "core0")
        assert after == f"{sampler.latest.cpu.per_core_pct[0]:.0f}%" and after != before
        assert "no NVIDIA GPU" in plain(screen.query_one(MetricsBar))


async def test_rate_keys_change_the_sampler():
    app = make_app(load_default=False)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        sampler = app.metrics_service.sampler
        assert sampler.hz == 2.0
        await pilot.press("plus")
        assert sampler.hz == 4.0
        await pilot.press("minus", "minus")
        assert sampler.hz == 1.0
        assert "sampling at 1 Hz" in plain(app.screen.query_one("#rate", Static))


async def test_nvml_failing_and_gpu_vanishing_show_na_and_app_goes_on():
    fake = FakeNvml()                                          # failure injection only: see tests/perf_fixtures
    app = make_app(load_default=False)
    app.metrics_service = MetricsService(sampler=Sampler(window=20, cpu_source=FixedSource(),
                                                         gpu_probe=NvmlProbe(module=fake), deterministic=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        assert row_value(screen, "gpu0-util") == "37%"
        assert row_value(screen, "gpu0-power").startswith("n/a")     # unsupported field
        assert "GPU0 37%" in plain(screen.query_one(MetricsBar))
        fake.mode = "fail"
        app.metrics_service.sampler.poll()
        await pilot.pause()
        assert row_value(screen, "gpu0-util") == "n/a"
        assert row_value(screen, "gpu0-mem") == "n/a / n/a"
        fake.mode = "lost"
        app.metrics_service.sampler.poll()
        await pilot.pause()
        assert "stopped answering" in plain(screen.query_one("#gpu0-detail", Static))
        assert "n/a (lost)" in plain(screen.query_one(MetricsBar))
        await pilot.press("1")                                 # the app goes on
        await pilot.pause()
        assert app.screen.query_one(MetricsBar)
        assert app.is_running


async def test_metrics_bar_on_every_screen(samples_dir):
    app = make_app(str(samples_dir / "digits_cnn.onnx"))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        seen = []
        for key in ("1", "4", "5"):
            await pilot.press(key)
            await pilot.pause()
            bar = app.screen.query_one(MetricsBar)
            assert bar.region.height == 1 and bar.region.y == 30 - 2     # just above the footer
            seen.append(plain(bar))
        assert all(s.startswith("CPU ") and "RSS" in s for s in seen)
