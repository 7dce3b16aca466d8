"""One current variant shared by every area: the picker on Engine, Batching, Cost and Deploy, set from Optimize.

A fresh session shows the baseline and says so, even when an older pruned variant exists; highlighting a
row in Optimize, or choosing in any area's picker, changes what every area acts on.
"""

from __future__ import annotations

import shutil

import pytest
from textual.widgets import Input, Select, Static

from screens.widgets.variant_picker import VariantPicker
from tests.functional.tiny_models import tiny_onnx
from workbench.app import make_app
from workbench.events import VariantsChanged

pytestmark = pytest.mark.asyncio
METRICS = {"latency_ms": {"p50": 0.2, "p90": 0.25, "p95": 0.27, "p99": 0.35, "mean": 0.22}, "latency_batch": 1,
           "throughput": {"batch": 32, "ips": 20000.0}, "threads": 2, "device": "cpu", "size_bytes": 4096,
           "measured": {"cpu": "Test CPU", "when": "2026-12-01 10:00:00 UTC"}}


def seed(app, model) -> dict[str, str]:
    ws = app.session.workspace

    def build(folder):
        shutil.copy(model, folder / "model.onnx")
        return {"file": "model.onnx", "format": "onnx", "metrics": dict(METRICS)}

    base = ws.create({"seed": "baseline"}, build, name="baseline", kind="baseline")
    pruned = ws.create({"seed": "pruned", "prune_mode": "structured", "prune_amount": 0.5}, build,
                       name="prune structured 50%", kind="pruned", parent=base.id)
    int8 = ws.create({"seed": "int8", "quant": "int8-static"}, build, name="int8 static qdq u8/s8 pc minmax",
                     kind="quantized", parent=base.id)
    return {"baseline": base.id, "pruned": pruned.id, "int8": int8.id}


async def visit(pilot, area: str):
    pilot.app.action_switch_area(area)
    for _ in range(4):
        await pilot.pause(0.05)
    return pilot.app.screen


def picked(screen) -> tuple[str | None, str]:
    picker = screen.query_one(VariantPicker)
    return picker.variant_id, str(picker.query_one("#vp-why", Static).content)


@pytest.fixture
def tiny(tmp_path):
    return tiny_onnx(tmp_path / "tiny.onnx")


async def test_fresh_session_shows_the_baseline_and_says_so(tiny, tmp_path):
    app = make_app(tiny, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        ids = seed(app, tiny)     # the pruned variant is newer than the baseline: it must not be picked
        app.broadcast(VariantsChanged)
        for area in ("engine", "batching", "deploy"):
            screen = await visit(pilot, area)
            vid, why = picked(screen)
            assert vid == ids["baseline"], area
            assert "nothing chosen yet" in why, area
        info = str(screen.query_one("#vp-info", Static).content)
        assert "FP32, as exported" in info and "4.0 KiB" in info and "Test CPU" in info


async def test_highlight_in_optimize_sets_every_area(tiny, tmp_path):
    app = make_app(tiny, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        ids = seed(app, tiny)
        for area in ("engine", "batching", "cost", "deploy"):   # created before the choice: they must follow
            await visit(pilot, area)
        screen = await visit(pilot, "optimize")
        screen.refresh_results()
        await pilot.pause()
        screen._select(ids["int8"])
        await pilot.pause()
        assert app.session.selected_variant_id == ids["int8"]
        for area in ("engine", "batching", "cost", "deploy"):
            screen = await visit(pilot, area)
            await app.workers.wait_for_complete()
            await pilot.pause()
            vid, why = picked(screen)
            assert vid == ids["int8"], area
            assert why == "", area
        batching = await visit(pilot, "batching")
        assert ids["int8"] in batching.query_one("#bt-model", Input).value


async def test_choosing_in_one_picker_moves_the_others(tiny, tmp_path):
    app = make_app(tiny, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        ids = seed(app, tiny)
        app.broadcast(VariantsChanged)
        await visit(pilot, "deploy")
        engine = await visit(pilot, "engine")
        engine.query_one(VariantPicker).sync()
        engine.query_one("#vp-select", Select).value = ids["pruned"]
        await pilot.pause()
        assert app.session.selected_variant_id == ids["pruned"]
        deploy = await visit(pilot, "deploy")
        await pilot.pause()
        assert picked(deploy)[0] == ids["pruned"]
        assert "prune structured" in str(deploy.query_one(VariantPicker).query_one("#vp-info", Static).content)
