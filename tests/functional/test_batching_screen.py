"""The Batching screen with Pilot: real server start/stop, sweep, on/off comparison, Triton export, key latency."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import numpy as np
import pytest
from rich.console import Console
from textual import events
from textual.widgets import Input, Static
from textual_plotext import PlotextPlot

from screens.batching import BatchingScreen
from screens.widgets.fields import FieldErrors
from screens.widgets.task_panel import TaskPanel
from tests.functional.notifications import record_notifications
from tests.perf_fixtures import tiny_onnx
from workbench.app import make_app

pytestmark = pytest.mark.asyncio


def plain(widget: Static, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(widget.content)
    return console.file.getvalue().rstrip("\n")


async def open_batching(app, pilot) -> BatchingScreen:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("5")
    await pilot.pause()
    assert isinstance(app.screen, BatchingScreen)
    return app.screen


async def wait_task(app, pilot, screen, timeout: float = 60.0) -> None:
    panel = screen.query_one("#bt-task", TaskPanel)
    deadline = time.monotonic() + timeout
    while panel.running and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert not panel.running, "task did not finish in time"
    await pilot.pause()


@pytest.fixture
def digits(samples_dir):
    path = samples_dir / "digits_cnn.onnx"
    if not path.is_file():
        pytest.skip("sample_models/digits_cnn.onnx missing: run `workbench samples build`")
    return path


async def test_start_serve_and_stop_the_server(digits, samples_dir):
    app = make_app(str(digits))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_batching(app, pilot)
        assert plain(screen.query_one("#bt-server", Static)) == "Server stopped."
        await pilot.press("s")
        await wait_task(app, pilot, screen)
        srv = app.session.server
        status = plain(screen.query_one("#bt-server", Static))
        assert status.startswith(f"Serving at {srv.url}") and srv.url.startswith("http://127.0.0.1:")
        x = np.load(samples_dir / "digits_test.npz")["x"][:4]
        r = httpx.post(srv.url + "/invocations", json={"instances": x.tolist()}, timeout=10)
        assert r.status_code == 200 and np.asarray(r.json()["predictions"]).shape == (4, 10)
        for _ in range(30):                                     # live counters follow the traffic
            await pilot.pause(0.1)
            if "requests 1 " in plain(screen.query_one("#bt-server", Static)):
                break
        status = plain(screen.query_one("#bt-server", Static))
        assert "Live: requests 1 · mean batch" in status and "queue depth 0" in status
        assert "· p99 " in status and " ms (last 1) ·" in status   # the answered request's latency
        from workbench.wiring.batching import curl_example

        example = curl_example(srv)                             # the example request shown, run as shown
        assert "Try: " in status and "".join(example.split()) in "".join(status.split("Try: ", 1)[1].split())
        import subprocess

        out = subprocess.run(example, shell=True, capture_output=True, text=True, timeout=30)
        assert '"predictions"' in out.stdout, out.stderr
        await pilot.press("s")                                  # toggles: stop
        await wait_task(app, pilot, screen)
        assert not srv.running and app.session.server is None
        assert plain(screen.query_one("#bt-server", Static)) == "Server stopped."
        with pytest.raises(httpx.ConnectError):
            httpx.get(srv.url + "/ping", timeout=2)


async def test_sweep_recommends_and_triton_export_uses_it(digits):
    app = make_app(str(digits))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_batching(app, pilot)
        screen.query_one("#bt-max-batch", Input).value = "8"
        screen.query_one("#bt-budget", Input).value = "1000"
        await pilot.press("w")
        await wait_task(app, pilot, screen)
        sweep = app.session.model_state.sweep
        assert [p.batch for p in sweep.points] == [1, 2, 4, 8]
        rec = app.session.model_state.batching_recommendation
        assert rec["meets_budget"]      # a tiny CNN fits 1 s easily
        best = max(p.throughput_ips for p in sweep.points)   # the recommendation follows the table:
        chosen = next(p for p in sweep.points if p.batch == rec["max_batch"])
        assert chosen.throughput_ips >= 0.95 * best            # within 5 % of the best, the smallest such
        assert all(p.throughput_ips < 0.95 * best for p in sweep.points if p.batch < rec["max_batch"])
        chart = screen.query_one("#bt-plot", PlotextPlot).plt.build()   # drawn: items/s and p99 vs batch
        assert "items/s and p99 vs batch" in chart and "batch size" in chart and "p99 ms" in chart
        # the fields keep what was typed until the recommendation is asked for (a)
        assert screen.query_one("#bt-max-batch", Input).value == "8"
        assert screen.query_one("#bt-delay", Input).value == "5"
        assert "Press a to put it in the fields" in plain(screen.query_one("#bt-text", Static), width=300)
        await pilot.press("a")
        await pilot.pause()
        assert screen.query_one("#bt-max-batch", Input).value == str(rec["max_batch"])
        assert screen.query_one("#bt-delay", Input).value == f"{rec['max_delay_ms']:g}"
        await pilot.press("t")
        await wait_task(app, pilot, screen)
        config = app.session.workspace.root / "triton" / "digits_cnn" / "config.pbtxt"
        text = config.read_text()
        assert f"max_batch_size: {rec['max_batch']}" in text and "dynamic_batching" in text
        assert f"max_queue_delay_microseconds: {round(rec['max_delay_ms'] * 1000)}" in text


async def test_compare_on_and_off_draws_both_curves(digits):
    app = make_app(str(digits))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_batching(app, pilot)
        screen.query_one("#bt-levels", Input).value = "1,4"
        screen.query_one("#bt-requests", Input).value = "40"
        await pilot.press("c")
        await wait_task(app, pilot, screen, timeout=90)
        result = app.session.model_state.batching_comparison
        for key in ("on", "off"):
            assert [r["level"] for r in result[key]] == [1, 4]
            assert all(r["ok"] == 40 and r["errors"] == {} for r in result[key])
        assert result["stats_off"]["batch_sizes"] == {"1": 80}
        assert result["stats_on"]["requests"] == 80
        gain = result["batch_gain"]          # the model's own gain, timed before the comparison (no sweep yet)
        assert gain["from"] == 1 and gain["to"] == 32 and len(gain["interval"]) == 2
        text = " ".join(plain(screen.query_one("#bt-text", Static), width=300).split())
        assert "on vs off" in text and "at concurrency 4, batching gives" in text and "off p99" in text
        assert f"this model's throughput grows" in text and "from batch 1 to 32 on this CPU" in text
        chart = screen.query_one("#bt-plot", PlotextPlot).plt.build()
        assert "p99 latency vs throughput" in chart and "batching on" in chart


async def test_bad_settings_are_refused_inline(digits):
    app = make_app(str(digits))
    seen = record_notifications(app)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_batching(app, pilot)
        levels = screen.query_one("#bt-levels", Input)
        levels.focus()
        levels.value = ""
        await pilot.press("1", ",", "x", "8", "q")      # only digits, commas and spaces are taken
        assert levels.value == "1,8"
        batch = screen.query_one("#bt-max-batch", Input)
        batch.focus()
        batch.value = ""
        await pilot.press("a", "4")
        assert batch.value == "4"
        levels.value = "1,,900"
        await pilot.pause()
        errors = plain(screen.query_one(FieldErrors), width=300)
        assert "levels must each be between 1 and 512" in errors     # said under the form as it is typed
        screen.set_focus(None)
        await pilot.press("c")
        await pilot.pause()
        assert not screen.query_one("#bt-task", TaskPanel).running
        assert app.focused is levels and not seen                    # pointed at the field, no toast
        levels.value = "1,8"
        screen.query_one("#bt-delay", Input).value = ""
        await pilot.pause()
        assert "delay ms must be a number" in plain(screen.query_one(FieldErrors), width=300)
        screen.query_one("#bt-delay", Input).value = "5"
        screen.query_one("#bt-model", Input).value = "nope.onnx"
        await pilot.pause()
        screen.set_focus(None)
        await pilot.press("w")
        await pilot.pause()
        assert not screen.query_one("#bt-task", TaskPanel).running
        assert any("not an .onnx or .tflite file" in n for n in seen)   # a path is checked when it is used


async def test_keys_are_handled_while_a_sweep_runs(digits, tmp_path):
    # ~2 GFLOP per call at batch 64: the sweep lasts seconds even on an idle machine
    heavy = tiny_onnx(tmp_path / "dense4k.onnx", in_features=4096, out_features=4096)
    app = make_app(str(digits))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_batching(app, pilot)
        screen.query_one("#bt-model", Input).value = str(heavy)
        screen.query_one("#bt-max-batch", Input).value = "64"
        await pilot.press("w")
        panel = screen.query_one("#bt-task", TaskPanel)
        await pilot.pause(0.3)
        assert panel.running
        timings = []
        for _ in range(8):
            # Pilot.press waits for the whole process to be idle, which never happens while a sweep
            # runs in a thread; so post the key as the driver does and time until it was handled
            before = app.focused
            key = events.Key("tab", None)
            key.set_sender(app)
            t0 = time.perf_counter()
            app.post_message(key)
            while app.focused is before and time.perf_counter() - t0 < 2.0:
                await asyncio.sleep(0.001)
            timings.append((time.perf_counter() - t0) * 1000)
            assert app.focused is not before, "the key was never handled"
            await asyncio.sleep(0.05)
            if not panel.running:
                break
        assert len(timings) >= 3, "the sweep ended before keys could be timed"
        panel.cancel()
        await wait_task(app, pilot, screen)
        # every key was handled while the sweep ran; how fast is a speed figure, measured by
        # benchmarks/perf_targets.py (key_latency), not asserted here
