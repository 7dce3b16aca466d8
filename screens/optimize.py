"""Optimize: pick a quantization mode and a pruning amount, Apply, and see what it did, measured.

Controls on the left (``screens/optimize_form.py``: mode, INT8 options, QAT epochs, the pruning slider with
its mode, schedule and recovery epochs, auto-tune limits); on the right the task progress, a note line
(which hardware a mode helps; why INT8 is slower than FP32 on this CPU when it is) and four tabs: the
variants table, quality against speed, quality against size, and the pruning curve. Clicking or
highlighting a row makes it the current variant of every area. Apply is debounced; Apply, Auto-tune,
Re-time and the curve each run as one cancellable worker; nothing here touches models.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, DataTable, Input, Select, Static, TabbedContent, TabPane

from screens import optimize_form as form_ui
from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from screens.optimize_curve import CURVE_TASK, CurveTab
from screens.confirm_dialog import ConfirmDialog
from screens.widgets.pareto_chart import LEGEND as CHART_LEGEND
from screens.widgets.pareto_chart import ParetoChart
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variants_table import LEGEND as TABLE_LEGEND
from screens.widgets.variants_table import VariantsTable
from workbench.events import TaskDone, VariantSelected, VariantsChanged
from workbench.wiring import optimize as wiring

TASK = "optimize"
DEBOUNCE_S = 0.25
LAZY_TABS = {"tab-latency": "latency", "tab-size": "size", "tab-curve": "curve"}   # tab -> its chart
NARROW = 100   # terminal columns below which the controls column is narrower and the table compact


class OptimizeScreen(CurveTab, WorkbenchScreen):
    AREA = "optimize"
    CSS_PATH = "optimize.tcss"
    BINDINGS = [
        Binding("a", "apply", "Apply", tooltip="apply the chosen quantization and pruning, making a variant"),
        Binding("t", "tune", "Tune", tooltip="auto-tune quantization and pruning within the accuracy budget"),
        Binding("x", "cancel", "Cancel", tooltip="cancel the running task (apply, tune, re-time or curve)"),
        Binding("r", "retime", "Re-time", tooltip="re-time the selected variant (or every stale one when the "
                "baseline is selected) interleaved with the baseline, in one run"),
        Binding("v", "show_tab('tab-variants')", "Variants", show=False, tooltip="Variants: the table of every variant, the highlighted one current everywhere"),
        Binding("p", "show_tab('tab-latency')", "Speed chart",
                tooltip="quality against p50 latency: the Pareto front, each point named"),
        Binding("z", "show_tab('tab-size')", "Size chart",
                tooltip="quality against size on disk: the Pareto front, each point named"),
        Binding("c", "curve", "Curve", tooltip="the pruning curve (accuracy and speedup against the amount): "
                "shows the stored one, or runs it (cancellable) with the Pruning form's schedule and recovery"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: Timer | None = None
        self._result_notes: dict[str, list[str]] = {}   # notes of the last apply/tune, by variant id
        self._filling: set[str] = set()   # lazily filled tabs already mounted (or mounting)

    # -- layout ----------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        info = self.session.model_info
        if info is None:
            yield Static("No model loaded — press o to open one", classes="placeholder")
            return
        with Horizontal(id="opt"):
            with AreaScroll(id="opt-controls"):
                yield from form_ui.compose_controls(info.format)
            with Vertical(id="opt-results"):
                yield TaskPanel("Ready: choose a recipe and Apply (a)", id="opt-task")
                yield Static(wiring.cpu_line(), id="opt-note", markup=False)
                with TabbedContent(id="opt-tabs", initial="tab-variants"):
                    with TabPane("Variants", id="tab-variants"):
                        yield VariantsTable(id="variants")
                        yield Static("", id="opt-detail", markup=False)
                        yield Static(TABLE_LEGEND, id="opt-legend", classes="opt-legend", markup=False)
                    # the other tabs are filled the first time they open (ensure_tab): two plotext charts and
                    # a form on a first visit cost ~0.1 s of layout nobody sees
                    yield TabPane("Quality/speed", id="tab-latency")
                    yield TabPane("Quality/size", id="tab-size")
                    yield TabPane("Curve", id="tab-curve")

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_compose)

    async def refresh_body(self) -> None:
        self._filling.clear()   # the tabs are empty again
        await super().refresh_body()
        self.call_after_refresh(self._after_compose)

    def _after_compose(self) -> None:
        if self.session.model_info is None:
            return
        self.set_class(self.app.size.width < NARROW, "-narrow")
        form_ui.sync_controls(self)
        self.refresh_results()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    # -- form --------------------------------------------------------------
    def _value(self, selector: str, default: Any = None) -> Any:
        return form_ui.value(self, selector, default)

    def form(self) -> dict[str, Any]:
        return form_ui.read_form(self)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("quant", "prune-mode", "schedule"):
            form_ui.sync_controls(self)
            self.check_fields()
            if event.select.id == "schedule":
                self.refresh_curve()

    def on_input_changed(self, event: Input.Changed) -> None:
        super().on_input_changed(event)
        if event.input.id in ("recover", "prune-steps", "reg-epochs"):
            self.refresh_curve()

    def _refused(self, action: str) -> bool:
        """Inline errors for every enabled field; True (and said) when ``action``'s fields are not accepted."""
        self.check_fields()
        wrong = form_ui.problems(self, action)
        if wrong:
            self._note("; ".join(wrong) + " — fix the field (shown in red) and try again", warn=True)
        return bool(wrong)

    # -- actions -----------------------------------------------------------
    def action_apply(self) -> None:
        """Debounced: a burst of presses starts one worker, after the last."""
        if self.session.model_info is None or self._refused("apply"):
            return
        if self._pending is not None:
            self._pending.stop()
        self._pending = self.set_timer(DEBOUNCE_S, self._start_apply)

    def _start_apply(self) -> None:
        self._pending = None
        self.query_one(TaskPanel).start(TASK, wiring.apply_in_session, self.session, self.form())

    def action_tune(self) -> None:
        if self.session.model_info is None or self._refused("tune"):
            return
        max_drop = float(form_ui.number(self, "max-drop", 1.0))
        budget = float(form_ui.number(self, "budget", 120))
        self.query_one(TaskPanel).start(TASK, wiring.tune_in_session, self.session, max_drop, budget)

    def action_retime(self) -> None:
        if self.session.model_info is None:
            return
        self.query_one(TaskPanel).start(TASK, wiring.retime_in_session, self.session,
                                        self.session.selected_variant_id)

    def action_cancel(self) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        self.query_one(TaskPanel).cancel()

    async def action_show_tab(self, tab: str) -> None:
        await self.ensure_tab(tab)
        self.query_one(TabbedContent).active = tab

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id is not None:
            await self.ensure_tab(event.pane.id)

    async def ensure_tab(self, tab: str) -> None:
        """Mount a lazily filled tab's widgets (once) and fill them from the session."""
        pane = self.query_one(f"#{tab}", TabPane)
        if tab not in LAZY_TABS or pane.children or tab in self._filling:
            return
        self._filling.add(tab)
        if tab == "tab-curve":
            await pane.mount_all(self.curve_tab_widgets())
            self.refresh_curve()
            return
        await pane.mount_all([ParetoChart(LAZY_TABS[tab], id=f"chart-{LAZY_TABS[tab]}"),
                              Static(CHART_LEGEND, classes="opt-legend", markup=False)])
        self.refresh_results()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"apply": self.action_apply, "tune": self.action_tune}
        if event.button.id == "curve-run":
            await self._run_curve_now()
        elif event.button.id in actions:
            actions[event.button.id]()

    # -- results -----------------------------------------------------------
    def on_task_done(self, message: TaskDone) -> None:
        if message.task not in (TASK, CURVE_TASK):
            return
        result = message.result or {}
        if message.error:
            if message.task == CURVE_TASK:
                self.app.show_error(f"pruning curve: {message.error}", title="Curve refused")  # type: ignore[attr-defined]
            self._note(message.error, warn=True)
        if result.get("kind") == "refused":
            self._offer(result)
            return
        self.refresh_results()
        if result.get("kind") == "curve":
            self.refresh_curve()
            self.app.broadcast(VariantsChanged)  # type: ignore[attr-defined]
            return
        vid = result.get("variant_id")
        if vid:
            notes = list(result.get("notes") or [])
            if result.get("kind") == "tune":
                notes.insert(0, f"auto-tune recommends {result['name']} ({result['tried']} recipes tried, "
                                f"judged by {result['quality']})")
            self._result_notes = {vid: notes}
            self.query_one(VariantsTable).select_id(vid)
            self._select(vid)
            self.app.broadcast(VariantsChanged)  # type: ignore[attr-defined]

    def _offer(self, result: dict[str, Any]) -> None:
        """A recipe refused before any work, with a way that works: ask, and apply that instead on yes."""
        self._note(result["error"], warn=True)
        self.query_one(TaskPanel).set_status(f"{TASK}: refused (no work done)")

        def answer(yes: bool | None) -> None:
            if yes:
                for key, val in result["offer"].items():
                    self.query_one(f"#{key}", Select).value = val
                form_ui.sync_controls(self)
                self.action_apply()

        self.app.push_screen(ConfirmDialog("Quantization-aware training refused", result["error"],
                                           yes=f"Use {result['offer_label'].split(' (')[0]}"), answer)

    def on_variants_changed(self, message: VariantsChanged) -> None:
        self.refresh_results()

    def refresh_results(self) -> None:
        if self.session.model_info is None:
            return
        rows, key = wiring.table_rows(self.session)
        self.query_one(VariantsTable).set_rows(rows)
        for chart in self.query(ParetoChart):
            chart.set_points(wiring.chart_points(rows, key, chart.axis), key)
        self.refresh_curve()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, VariantsTable) and event.row_key is not None:
            self._select(str(event.row_key.value))

    def _select(self, vid: str) -> None:
        table = self.query_one(VariantsTable)
        row = table.row_for(vid)
        if row is None:
            return
        if self.session.selected_variant_id != vid:
            self.session.selected_variant_id = vid
            self.app.broadcast(lambda: VariantSelected(vid))  # type: ignore[attr-defined]   # every area follows
        self.query_one("#opt-detail", Static).update(_detail(row))
        notes = list(row.get("notes") or [])
        if row["status"] != "ok":
            notes.insert(0, f"{row['name']} failed: {row['error']}")
        notes += [n for n in self._result_notes.get(vid, []) if n not in notes]
        if notes:
            self._note(" · ".join(notes), warn=row["status"] != "ok" or bool(row.get("notes")))
        else:
            self._note(wiring.cpu_line())

    def _note(self, text: str, warn: bool = False) -> None:
        note = self.query_one("#opt-note", Static)
        note.update(("⚠ " if warn else "") + text)
        note.tooltip = text   # the full text where the line is cut short
        note.set_class(warn, "-warn")


def _detail(row: dict[str, Any]) -> str:
    """The highlighted variant in full: name, status, MACs, latency, agreement (what narrow tables drop)."""
    from workbench.formatting import human_count

    parts = [f"▸ {row['name']}", "ok" if row["status"] == "ok" else "failed"]
    if row["status"] == "ok":
        parts.append(human_count(row.get("macs"), "MACs") if row.get("macs") else "MACs n/a")
        if row.get("p50_ms") is not None:
            parts.append(f"p50/p99 {row['p50_ms']:.3f}/{row['p99_ms']:.3f} ms")
        if row.get("top1_agreement") is not None:
            parts.append(f"agree {100 * row['top1_agreement']:.1f}%")
    return " · ".join(parts)
