"""Optimize: pick a quantization mode and a pruning amount, Apply, and see what it did, measured.

Controls on the left (mode selector, INT8 format/types/granularity,
calibration, a pruning slider 0-95 % with its mode and recovery epochs,
auto-tune limits); on the right the task progress, a note line (which
hardware a mode helps; why INT8 is slower than FP32 on this CPU when it is),
and tabs with the variants table and the Pareto charts. Apply is debounced
and runs as one exclusive, cancellable worker; nothing here touches models.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static, TabbedContent, TabPane

from screens.base import WorkbenchScreen
from screens.widgets.pareto_chart import ParetoChart
from screens.widgets.percent_slider import PercentSlider
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variants_table import VariantsTable
from workbench.wiring import optimize as wiring
from workbench.events import TaskDone, VariantSelected, VariantsChanged

TASK = "optimize"
DEBOUNCE_S = 0.25
INT8_ONLY = ("#row-format", "#row-types", "#per-channel")
CALIBRATED = ("#row-calibration", "#row-samples")


def _row(label: str, *widgets: Any, id: str) -> Horizontal:
    return Horizontal(Label(label, classes="opt-label"), *widgets, id=id, classes="opt-row")


class OptimizeScreen(WorkbenchScreen):
    AREA = "optimize"
    CSS_PATH = "optimize.tcss"
    BINDINGS = [
        Binding("a", "apply", "Apply", tooltip="apply the chosen quantization and pruning, making a variant"),
        Binding("t", "tune", "Auto-tune", tooltip="tune quantization and pruning within the accuracy budget"),
        Binding("x", "cancel", "Cancel"),
        Binding("r", "retime", "Re-time", tooltip="re-time the selected variant (or every stale one when the "
                "baseline is selected) interleaved with the baseline, in one run"),
        Binding("v", "show_tab('tab-variants')", "Variants", show=False),
        Binding("p", "show_tab('tab-latency')", "Pareto"),
        Binding("z", "show_tab('tab-size')", "Size chart", tooltip="quality against size on disk"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: Timer | None = None
        self._result_notes: dict[str, list[str]] = {}   # notes of the last apply/tune, by variant id

    # -- layout ----------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        info = self.session.model_info
        if info is None:
            yield Static("No model loaded — press o to open one", classes="placeholder")
            return
        modes = wiring.quant_modes(info.format)
        first = wiring.default_mode(info.format)
        with Horizontal(id="opt"):
            with VerticalScroll(id="opt-controls"):
                yield Label("Quantization", classes="opt-title")
                yield Select(modes, value=first, allow_blank=False, id="quant", compact=True)
                yield Static(wiring.mode_hint(first), id="mode-hint")
                yield _row("format", Select([("QDQ", "qdq"), ("QOperator", "qoperator")], value="qdq",
                                            allow_blank=False, id="format", compact=True), id="row-format")
                yield _row("act/wt", Select([("U8", "u8"), ("S8", "s8")], value="u8", allow_blank=False, id="act",
                                            compact=True),
                           Select([("S8", "s8"), ("U8", "u8")], value="s8", allow_blank=False, id="weights",
                                  compact=True), id="row-types")
                yield Checkbox("per-channel weights", True, id="per-channel", compact=True)
                yield _row("calib", Select([("MinMax", "minmax"), ("Entropy", "entropy"),
                                            ("Percentile", "percentile")], value="minmax", allow_blank=False,
                                           id="calibration", compact=True), id="row-calibration")
                yield _row("samples", Input("128", type="integer", id="calib-samples", compact=True), id="row-samples")
                yield Label("Pruning", classes="opt-title")
                yield PercentSlider(0, id="prune")
                yield _row("mode", Select(wiring.prune_modes(), value="structured", allow_blank=False,
                                          id="prune-mode", compact=True), id="row-prune-mode")
                yield _row("recover", Input("0", type="integer", id="recover", compact=True), Label(" epochs"),
                           id="row-recover")
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Label("Auto-tune", classes="opt-title")
                yield _row("max drop", Input("1", type="number", id="max-drop", compact=True), Label(" pts"),
                           id="row-max-drop")
                yield _row("budget", Input("120", type="integer", id="budget", compact=True), Label(" s"),
                           id="row-budget")
                yield Button("Auto-tune", id="tune", compact=True)
            with Vertical(id="opt-results"):
                yield TaskPanel("Ready: choose a recipe and Apply (a)", id="opt-task")
                yield Static(wiring.cpu_line(), id="opt-note", markup=False)
                with TabbedContent(id="opt-tabs", initial="tab-variants"):
                    with TabPane("Variants", id="tab-variants"):
                        yield VariantsTable(id="variants")
                        yield Static("★ Pareto front: quality/latency · ☆ quality/size only · ⚠ see the note",
                                     id="opt-legend", markup=False)
                    with TabPane("Pareto: latency", id="tab-latency"):
                        yield ParetoChart("latency", id="chart-latency")
                    with TabPane("Pareto: size", id="tab-size"):
                        yield ParetoChart("size", id="chart-size")

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_compose)

    async def refresh_body(self) -> None:
        await super().refresh_body()
        self.call_after_refresh(self._after_compose)

    def _after_compose(self) -> None:
        if self.session.model_info is None:
            return
        self._sync_controls()
        self.refresh_results()

    # -- form --------------------------------------------------------------
    def _value(self, selector: str, default: Any = None) -> Any:
        try:
            widget = self.query_one(selector)
        except Exception:
            return default
        return getattr(widget, "value", default)

    def form(self) -> dict[str, Any]:
        return {"quant": self._value("#quant", "none"), "format": self._value("#format", "qdq"),
                "act": self._value("#act", "u8"), "weights": self._value("#weights", "s8"),
                "per_channel": self._value("#per-channel", True), "calibration": self._value("#calibration"),
                "calib_samples": self._value("#calib-samples", "128") or "128",
                "prune_pct": self._value("#prune", 0), "prune_mode": self._value("#prune-mode", "structured"),
                "recover_epochs": self._value("#recover", "0") or "0"}

    def _sync_controls(self) -> None:
        quant = self._value("#quant", "none")
        for sel in INT8_ONLY:
            self.query_one(sel).display = quant == "int8-static"
        for sel in CALIBRATED:
            self.query_one(sel).display = quant in ("int8-static", "tflite-int8")
        hint = self.query_one("#mode-hint", Static)
        hint.update(wiring.mode_hint(quant))
        hint.tooltip = wiring.mode_hint(quant)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "quant":
            self._sync_controls()

    # -- actions -----------------------------------------------------------
    def action_apply(self) -> None:
        """Debounced: a burst of presses starts one worker, after the last."""
        if self.session.model_info is None:
            return
        if self._pending is not None:
            self._pending.stop()
        self._pending = self.set_timer(DEBOUNCE_S, self._start_apply)

    def _start_apply(self) -> None:
        self._pending = None
        self.query_one(TaskPanel).start(TASK, wiring.apply_in_session, self.session, self.form())

    def action_tune(self) -> None:
        if self.session.model_info is None:
            return
        try:
            max_drop = float(self._value("#max-drop", "1") or 1)
            budget = float(self._value("#budget", "120") or 120)
        except ValueError:
            self._note("max drop and budget must be numbers", warn=True)
            return
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

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "tune":
            self.action_tune()

    # -- results -----------------------------------------------------------
    def on_task_done(self, message: TaskDone) -> None:
        if message.task != TASK:
            return
        result = message.result or {}
        if message.error:
            self._note(message.error, warn=True)
        self.refresh_results()
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

    def on_variants_changed(self, message: VariantsChanged) -> None:
        self.refresh_results()

    def refresh_results(self) -> None:
        if self.session.model_info is None:
            return
        rows, key = wiring.table_rows(self.session)
        self.query_one(VariantsTable).set_rows(rows)
        for chart in self.query(ParetoChart):
            chart.set_points(wiring.chart_points(rows, key, chart.axis), key)

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
        notes = list(row.get("notes") or [])
        from workbench.wiring.variants import summarize

        v = next((x for x in self.session.variants if x.id == vid), None)
        if v is not None:   # the full name (the table cuts it), MACs and status
            from workbench.formatting import human_count

            notes.insert(0, f"▸ {row['name']} · {row['status']} · {human_count(summarize(self.session, v).macs, 'MACs')}")
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
