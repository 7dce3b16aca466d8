"""Optimize: mouse selection, the layout by width, schedule/QAT fields, the pruning curve tab (Pilot).

Bad inputs from the depth issue: a schedule past 95 % (refused inline), QAT without labels (refused, offers
post-training INT8), a curve on a model without labels (speed only, said).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from textual.widgets import Select, Static, TabbedContent
from textual.widgets._footer import FooterKey

import workbench.wiring.optimize as wiring
from engines.optimize.curve_store import load_curves
from screens.confirm_dialog import ConfirmDialog
from screens.help import help_table
from screens.widgets.curve_chart import CurveChart
from screens.widgets.fields import FieldErrors
from screens.widgets.pareto_chart import ParetoChart
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variant_picker import VariantPicker
from screens.widgets.variants_table import LAYOUTS, VariantsTable
from tests.functional.test_optimize_screen import SAMPLE, note_text, open_optimize, wait_task
from tests.optimize_fixture import paired_workspace
from workbench.app import make_app

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]
PT = ROOT / "sample_models" / "digits_cnn.pt"


@pytest.fixture(autouse=True)
def quick_measurements(monkeypatch):
    monkeypatch.setattr(wiring, "MEASURE", {"iterations": 20, "budget_s": 0.2, "warmup": 2, "throughput_batch": 8})


@pytest.fixture
def fixture_ws(tmp_path) -> Path:
    return paired_workspace(tmp_path / "ws")


@pytest.fixture
def unlabelled(tmp_path) -> tuple[Path, Path]:
    """The digits CNN (.pt, outside the sample folder) with inputs only: no labels."""
    model = tmp_path / "cnn.pt"
    shutil.copy(PT, model)
    x = np.load(ROOT / "sample_models" / "digits_test.npz")["x"][:200]
    data = tmp_path / "inputs_only.npz"
    np.savez(data, x=x)
    return model, data


def text(widget) -> str:
    return str(widget.content) if hasattr(widget, "content") else str(widget.renderable)


async def test_clicking_a_row_makes_it_the_current_variant_of_every_area(fixture_ws):
    app = make_app(SAMPLE, workspace=fixture_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        table = screen.query_one(VariantsTable)
        rows = table.ordered_rows
        target = rows[2]
        y = 1 + sum(r.height for r in rows[:2])   # the header, then the rows above it
        assert await pilot.click(VariantsTable, offset=(4, y))
        await pilot.pause()
        vid = str(target.key.value)
        assert app.session.selected_variant_id == vid
        assert table.row_for(vid)["name"] in text(screen.query_one("#opt-detail", Static))
        app.action_switch_area("engine")
        for _ in range(4):
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one(VariantPicker).variant_id == vid
        app.action_switch_area("optimize")
        await pilot.pause()
        other = str(table.ordered_rows[0].key.value)
        assert await pilot.click(VariantsTable, offset=(4, 1))
        await pilot.pause()
        assert app.session.selected_variant_id == other


@pytest.mark.parametrize("size,layout", [((80, 24), "narrow"), ((120, 40), "wide"), ((160, 40), "full")])
async def test_columns_follow_the_width_and_names_are_never_cut(fixture_ws, size, layout):
    app = make_app(SAMPLE, workspace=fixture_ws)
    async with app.run_test(size=size) as pilot:
        screen = await open_optimize(app, pilot)
        table = screen.query_one(VariantsTable)
        assert table.layout_name == layout
        keys = [str(c.key.value) for c in table.ordered_columns]
        assert keys == LAYOUTS[layout][1]
        assert "speedup" in keys or "speed_narrow" in keys
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= table.size.width
        for row in table.ordered_rows:
            cell = str(table.get_cell(row.key, "short" if layout == "narrow" else "name"))
            data = table.row_for(str(row.key.value))
            assert cell == (data["short"] if layout == "narrow" else data["name"])   # whole, wrapped if long
        if layout != "narrow":
            assert {"macs", "status"} <= set(keys)
        slow = next(r for r in table.rows_data if r.get("speedup_interval"))
        speed = str(table.get_cell(slow["id"], keys[2]))
        assert f"{slow['speedup_interval'][0]:.2f}–{slow['speedup_interval'][1]:.2f}" in speed


async def test_chart_keys_in_footer_and_help_and_points_named(fixture_ws):
    app = make_app(SAMPLE, workspace=fixture_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        footer = {k.key: k.description for k in app.screen.query(FooterKey)}
        assert footer.get("p") == "Speed chart" and footer.get("z") == "Size chart" and footer.get("c") == "Curve"
        out = Console(file=io.StringIO(), width=200, color_system=None)
        out.print(help_table(screen))
        helped = out.file.getvalue()
        assert "quality against p50 latency" in helped and "quality against size on disk" in helped
        assert "pruning curve" in helped
        for key, tab in (("p", "tab-latency"), ("z", "tab-size"), ("v", "tab-variants")):
            await pilot.press(key)
            await pilot.pause()
            assert screen.query_one(TabbedContent).active == tab
        await pilot.press("p")
        await pilot.pause()
        chart = screen.query_one("#chart-latency", ParetoChart)
        names = {p["short"] for p in chart.points}
        assert "base" in names and "int8" in names
        xs = [p["x"] for p in chart.points]
        ys = [p["y"] for p in chart.points]
        placed = [p["short"] for p, _ in chart._labels((min(xs) * 0.9, max(xs) * 1.1, min(ys) - 1, max(ys) + 1))]
        assert "base" in placed and len(placed) >= 2 and not {"baseline", "other"} & set(placed)
        size_chart = screen.query_one("#chart-size", ParetoChart)
        assert {p["short"] for p in size_chart.points} == names


async def test_schedule_fields_only_the_relevant_ones_are_checked(tmp_path):
    app = make_app(PT, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        assert not screen.query_one("#row-steps").display and not screen.query_one("#row-reg").display
        screen.query_one("#schedule", Select).value = "iterative"
        await pilot.pause()
        assert screen.query_one("#row-steps").display and not screen.query_one("#row-reg").display
        steps = screen.query_one("#prune-steps")
        steps.focus()
        steps.value = ""
        await pilot.press(*"x2y5")                  # letters are not taken
        assert steps.value == "25"
        await pilot.pause()
        errors = text(screen.query_one("#opt-errors", FieldErrors))
        assert "prune steps must be at most 20" in errors
        screen.query_one("#reg-epochs").value = "abc"   # hidden and disabled: never checked
        screen.action_apply()
        await pilot.pause()
        assert screen._pending is None and not screen.query_one(TaskPanel).running
        assert "prune steps must be at most 20" in note_text(screen)
        assert "regularized" not in text(screen.query_one("#opt-errors", FieldErrors))
        steps.value = "3"
        screen.query_one("#prune").value = 70
        screen.query_one("#recover").value = "3"
        await pilot.pause()
        recipe = wiring.recipe_from_form(screen.form())
        assert (recipe.prune_schedule, recipe.prune_steps, recipe.recover_epochs) == ("iterative", 3, 3)
        screen.query_one("#schedule", Select).value = "one-shot"
        steps.value = "99"                           # hidden now: not checked, not in the recipe
        await pilot.pause()
        assert not screen.query_one("#row-steps").display and screen.query_one("#prune-steps").disabled
        assert screen.check_fields() == []
        screen.query_one("#quant", Select).value = "int8-qat"
        await pilot.pause()
        assert screen.query_one("#row-qat").display
        screen.query_one("#qat-epochs").value = "0"
        await pilot.pause()
        assert "QAT epochs must be at least 1" in text(screen.query_one("#opt-errors", FieldErrors))


async def test_curve_amounts_past_95_percent_are_refused_inline(tmp_path):
    app = make_app(PT, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        screen.query_one(TabbedContent).active = "tab-curve"
        await pilot.pause()
        field = screen.query_one("#curve-amounts")
        field.focus()
        field.value = ""
        await pilot.press(*"0,50,97a")              # the letter is not taken
        await pilot.pause()
        assert field.value == "0,50,97"
        errors = text(screen.query_one("#curve-errors", FieldErrors))
        assert "97%" in errors and "refused" in errors and "95%" in errors
        screen.set_focus(None)
        await pilot.press("c")
        await pilot.pause()
        assert not screen.query_one(TaskPanel).running
        assert "97%" in note_text(screen)
        assert load_curves(app.session.workspace.root) == []


async def test_qat_without_labels_is_refused_and_offers_post_training(unlabelled):
    model, data = unlabelled
    app = make_app(model, data=data, workspace=model.parent / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        screen.query_one("#quant", Select).value = "int8-qat"
        await pilot.pause()
        screen.action_apply()
        for _ in range(200):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmDialog):
                break
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert "needs labelled data" in dialog.body and "post-training INT8" in dialog.body
        assert not [v for v in app.session.workspace.variants() if (v.recipe or {}).get("quant") == "int8-qat"]
        await pilot.press("y")
        await pilot.pause()
        assert screen.query_one("#quant", Select).value == "int8-static"
        await wait_task(app, pilot)
        built = app.session.workspace.get(app.session.selected_variant_id)
        assert built.recipe["quant"] == "int8-static" and built.status == "ok"


async def test_curve_without_labels_runs_with_progress_and_shows_speed_only(unlabelled):
    model, data = unlabelled
    app = make_app(model, data=data, workspace=model.parent / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        assert not screen.query("#curve-amounts")    # the tab is filled the first time it opens
        screen.query_one(TabbedContent).active = "tab-curve"
        await pilot.pause()
        screen.query_one("#curve-amounts").value = "0,50"
        await pilot.press("c")                       # no stored curve for these settings: runs it
        await pilot.pause()
        panel = screen.query_one(TaskPanel)
        assert screen.query_one(TabbedContent).active == "tab-curve" and panel.task_name == "curve"
        await wait_task(app, pilot)
        (settings, curve), = load_curves(app.session.workspace.root)
        assert settings == {"schedule": "one-shot", "recover_epochs": 0} and curve.quality_key == "fidelity"
        chart = screen.query_one(CurveChart)
        assert chart.curve is not None and chart.speed_only
        assert [p.amount for p in chart.curve.points] == [0.0, 0.5]
        assert chart.curve.points[1].speedup is not None and chart.curve.points[1].speedup_interval
        info = text(screen.query_one("#curve-info", Static))
        assert "speed only" in info and "no labels" in info and "Stored curve" in info
        assert "curve: done" in text(panel.query_one(".task-status", Static))
        await pilot.press("z", "c")                  # a stored curve: c only shows it
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "tab-curve" and not panel.running


async def test_curve_cancels(tmp_path, monkeypatch):
    monkeypatch.setattr(wiring, "MEASURE", {"iterations": 100000, "budget_s": 30.0, "warmup": 2,
                                           "throughput_batch": 8})
    app = make_app(PT, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_optimize(app, pilot)
        await pilot.press("c")
        panel = screen.query_one(TaskPanel)
        for _ in range(100):
            await pilot.pause(0.05)
            if panel.running:
                break
        await pilot.pause(0.3)
        await pilot.press("x")
        await wait_task(app, pilot)
        assert "curve: cancelled" in text(panel.query_one(".task-status", Static))
        assert load_curves(app.session.workspace.root) == []
