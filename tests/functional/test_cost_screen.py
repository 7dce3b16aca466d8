"""The Cost screen driven with Pilot: measured table, assumptions, bad input, updates on variant changes."""

from __future__ import annotations

import io
import shutil

import pytest
from rich.console import Console
from textual.widgets import Input, Static

from screens.cost import CostScreen
from tests.functional.tiny_models import tiny_onnx
from workbench.app import make_app
from workbench.events import VariantSelected, VariantsChanged

pytestmark = pytest.mark.asyncio


def text_of(widget: Static) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(widget.content)
    return console.file.getvalue()


def rows(screen) -> list[list[str]]:
    """The cost table's rows as cells (split on runs of 2+ spaces)."""
    import re

    lines = [ln.strip() for ln in text_of(screen.query_one("#cost-table", Static)).splitlines() if ln.strip()]
    return [re.split(r"\s{2,}", ln) for ln in lines[1:]]


async def wait_until(pilot, predicate, tries: int = 200) -> None:
    for _ in range(tries):
        await pilot.pause(0.05)
        try:
            ok = predicate()
        except (IndexError, LookupError):  # the body is being rebuilt
            ok = False
        if ok:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            return
    raise AssertionError(f"condition not reached: {rows(pilot.app.screen)} {text_of(pilot.app.screen.query_one('#cost-notes'))[:300]!r} {pilot.app.screen.query_one('TaskPanel .task-status').content!r}")


async def open_cost(pilot) -> CostScreen:
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.action_switch_area("cost")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, CostScreen)
    await wait_until(pilot, lambda: len(rows(screen)) > 0)
    return screen


@pytest.fixture
def tiny(tmp_path):
    return tiny_onnx(tmp_path / "tiny.onnx")


async def test_measured_table_serverless_row_and_catalog_date(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_cost(pilot)
        table = rows(screen)
        assert table[0][0] == "c7i.xlarge" and table[0][2] == "measured"
        assert table[-1][0] == "serverless 2G"
        assert "Price catalog 2026-07-20 (bundled)" in text_of(screen.query_one("#cost-target", Static))
        notes = text_of(screen.query_one("#cost-notes", Static))
        assert "Measured (measured now)" in notes and "Break-even serverless vs c7i.xlarge" in notes
        assert "no GPU figure" in notes and "Price catalog 2026-07-20" in notes
        report = app.session.model_state.cost_report
        assert report["measured"]["ips"] > 0 and report["break_even"]["rps"]


async def test_assumption_adds_an_estimate_row_and_gpu_comparison(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_cost(pilot)
        screen.query_one("#cost-assume", Input).value = "g4dn.xlarge=50000"
        screen.query_one("#cost-memory").value = 4096
        screen.query_one("#cost-ft-hours", Input).value = "10"
        screen.query_one("#cost-ft-rate", Input).value = "0.05"
        await pilot.click("#cost-go")
        await wait_until(pilot, lambda: len(rows(screen)) == 3)
        table = rows(screen)
        assert table[1][:3] == ["g4dn.xlarge", "50,000", "estimate"]
        assert table[2][0] == "serverless 4G"
        notes = text_of(screen.query_one("#cost-notes", Static))
        assert "GPU vs CPU per 1M" in notes
        assert "Fine-tuning 10 h on g5.xlarge: on-demand $10.06" in notes and "at 0.0500/h: yours" in notes


async def test_bad_inputs_are_reported_and_nothing_runs(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_cost(pilot)
        screen.query_one("#cost-rps", Input).value = "lots"
        await pilot.click("#cost-go")
        await pilot.pause()
        assert "avg req/s must be a number, not 'lots'" in text_of(screen.query_one("#cost-notes", Static))
        screen.query_one("#cost-rps", Input).value = "5"
        assume = screen.query_one("#cost-assume", Input)
        assume.value = "warp.drive=9"
        assume.focus()
        await pilot.press("enter")  # submitting any field recomputes
        await wait_until(pilot, lambda: "failed" in text_of(screen.query_one("#cost-notes", Static)))
        assert "no price for instance 'warp.drive'" in text_of(screen.query_one("#cost-notes", Static))


async def test_updates_when_the_selected_variant_or_its_benchmark_changes(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_cost(pilot)
        ws = app.session.workspace

        def build(folder):
            shutil.copy(tiny, folder / "model.onnx")
            return {"file": "model.onnx", "format": "onnx",
                    "metrics": {"latency_ms": {"p50": 2.0, "mean": 2.5, "p99": 4.0},
                                "throughput": {"batch": 1, "ips": 400.0}, "threads": 2, "device": "cpu"}}

        v = ws.create({"test": "variant"}, build, name="int8 test", kind="quantized")
        app.session.selected_variant_id = v.id
        screen.post_message(VariantSelected(v.id))
        await wait_until(pilot, lambda: rows(app.screen)[0][1] == "400")
        screen = app.screen
        assert screen.query_one("#vp-select").selection == v.id   # the shared variant picker shows it
        assert app.session.model_state.cost_report["measured"]["source"] == "variant benchmark"
        ws.update_metrics(v.id, throughput={"batch": 1, "ips": 800.0})
        screen.post_message(VariantsChanged())
        await wait_until(pilot, lambda: rows(app.screen)[0][1] == "800")
        assert app.session.model_state.cost_report["instances"][0]["ips"] == 800.0
