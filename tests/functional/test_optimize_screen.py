"""The Optimize screen driven with Pilot on the bundled sample (ONNX): apply, cancel, slider, tune, notes."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static, TabbedContent

import workbench.wiring.optimize as wiring
from screens.optimize import OptimizeScreen
from screens.widgets.percent_slider import PercentSlider
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variants_table import VariantsTable
from workbench.app import make_app

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "digits_cnn.onnx"
FIXTURE_WS = ROOT / "tests" / "snapshots" / "fixtures" / "optimize_ws"


@pytest.fixture(autouse=True)
def quick_measurements(monkeypatch):
    monkeypatch.setattr(wiring, "MEASURE", {"iterations": 20, "budget_s": 0.2, "warmup": 2, "throughput_batch": 8})


def note_text(screen) -> str:
    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(screen.query_one("#opt-note", Static).content)
    return console.file.getvalue()


async def open_optimize(app, pilot) -> OptimizeScreen:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("2")
    await pilot.pause()
    await pilot.pause()
    assert isinstance(app.screen, OptimizeScreen)
    return app.screen


async def wait_task(app, pilot, limit: int = 300) -> None:
    panel = app.screen.query_one(TaskPanel)
    for _ in range(limit):
        await pilot.pause(0.1)
        if not panel.running and app.screen._pending is None:
            break
    await app.workers.wait_for_complete()
    await pilot.pause()


def names(app) -> dict[str, str]:
    table = app.screen.query_one(VariantsTable)
    return {r["name"]: r["status"] for r in table.rows_data}


async def test_apply_int8_adds_a_measured_variant(tmp_path):
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        assert screen.query_one("#quant").value == "int8-static"
        await pilot.click("#apply")
        await pilot.press("p")                      # the UI answers while the worker runs
        assert screen.query_one(TabbedContent).active == "tab-latency"
        await wait_task(app, pilot)
        got = names(app)
        assert got.get("baseline") == "ok" and got.get("int8 static qdq u8/s8 pc minmax") == "ok"
        vid = app.session.selected_variant_id
        v = app.session.workspace.get(vid)
        assert v.name == "int8 static qdq u8/s8 pc minmax" and app.session.workspace.model_path(v).is_file()
        assert v.metrics["accuracy"] is not None and v.metrics["latency_ms"]["p99"] > 0
        chart = screen.query_one("#chart-latency")
        assert len(chart.points) == 2 and any(p["front"] for p in chart.points)


async def test_cancel_leaves_no_partial_files(tmp_path, monkeypatch):
    monkeypatch.setattr(wiring, "MEASURE", {"iterations": 100000, "budget_s": 30.0, "warmup": 2,
                                           "throughput_batch": 8})
    ws = tmp_path / "ws"
    app = make_app(SAMPLE, workspace=ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        await pilot.press("a")
        panel = screen.query_one(TaskPanel)
        for _ in range(100):                         # debounce, then the worker measuring the baseline
            await pilot.pause(0.05)
            if panel.running:
                break
        await pilot.pause(0.5)
        await pilot.press("x")
        await wait_task(app, pilot)
        assert "cancelled" in str(panel.query_one(".task-status", Static).content)
    assert not [p for p in ws.rglob("*") if ".part" in p.name]
    assert not (ws / "variants").exists() or not any((ws / "variants").iterdir())


async def test_debounced_apply_starts_one_worker(tmp_path, monkeypatch):
    calls = []
    real = wiring.apply_in_session

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(wiring, "apply_in_session", counting)
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_optimize(app, pilot)
        await pilot.press("a", "a", "a")
        await wait_task(app, pilot)
        assert len(calls) == 1 and "int8 static qdq u8/s8 pc minmax" in names(app)


async def test_slider_keys_and_prune_recipe(tmp_path):
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        slider = screen.query_one(PercentSlider)
        slider.focus()
        await pilot.press(*["right"] * 12)
        assert slider.value == 60
        await pilot.press("end")
        assert slider.value == 95
        await pilot.press("home", "pageup")
        assert slider.value == 50
        await pilot.click(PercentSlider, offset=(0, 0))
        assert slider.value == 0
        slider.value = 50
        screen.query_one("#prune-mode").value = "unstructured"
        screen.query_one("#quant").value = "none"
        await pilot.pause()
        assert not screen.query_one("#row-calibration").display    # calibration only for calibrated modes
        form = screen.form()
        assert form["prune_pct"] == 50 and form["prune_mode"] == "unstructured"
        recipe = wiring.recipe_from_form(form)
        assert recipe.prune_mode == "unstructured" and recipe.prune_amount == 0.5 and recipe.quant == "none"


async def test_failed_mode_shows_its_reason(tmp_path):
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        screen.query_one("#quant").value = "int4"
        await pilot.pause()
        await pilot.press("a")
        await wait_task(app, pilot)
        assert names(app)["int4 weight-only b32"] == "failed"
        text = note_text(screen)
        assert "failed" in text and "MatMul" in text


async def test_slow_int8_is_explained(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURE_WS, ws)
    app = make_app(SAMPLE, workspace=ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        table = screen.query_one(VariantsTable)
        slow = next(r for r in table.rows_data if r["name"] == "int8 static qdq s8/s8 pc minmax")
        table.select_id(slow["id"])
        await pilot.pause()
        text = note_text(screen)
        assert "the FP32 latency on this CPU" in text and "S8" in text
        assert screen.query_one("#opt-note").has_class("-warn")


async def test_auto_tune_recommends_and_selects(tmp_path):
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        screen.query_one("#budget").value = "1"
        await pilot.click("#tune")
        await wait_task(app, pilot)
        got = names(app)
        assert got.get("baseline") == "ok" and "int8 static qdq u8/s8 pc minmax" in got
        assert app.session.selected_variant_id in {v.id for v in app.session.workspace.variants()}
        # the outcome is shown; whether 1 s cut the search short depends on the machine's speed
        # (tests/unit/test_tune.py checks the budget deterministically with a 1 ms budget)
        text = note_text(screen)
        assert "auto-tune recommends" in text and "recipes tried" in text


async def test_r_retimes_the_selected_variant_paired_and_stale_ones_from_the_baseline(tmp_path):
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        screen.query_one("#quant").value = "fp16"
        await pilot.pause()
        screen.action_apply()
        await wait_task(app, pilot)
        ws = app.session.workspace
        vid = app.session.selected_variant_id
        before = ws.get(vid).metrics["paired"]["measured"]["at"]
        await pilot.press("r")
        await wait_task(app, pilot)
        after = ws.get(vid).metrics["paired"]
        assert after["measured"]["at"] > before and after["reference"] == ws.get(vid).parent
        assert "re-timed fp16" in note_text(screen) and "interleaved" in note_text(screen)
        # the baseline selected: only stale figures are re-timed (none here, and it says so)
        app.session.selected_variant_id = next(v.id for v in ws.variants() if v.kind == "baseline")
        await pilot.press("r")
        await wait_task(app, pilot)
        assert "nothing stale" in note_text(screen)
        assert ws.get(vid).metrics["paired"]["measured"]["at"] == after["measured"]["at"]
