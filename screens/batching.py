"""Batching: serve a model locally, sweep batch sizes, compare dynamic batching on and off.

Every button runs an engine function in a thread worker (``TaskPanel``), so
keys stay answered while a sweep runs. The server keeps running when you leave
the screen (it lives in ``session.server``) until you stop it or quit. Sweeps and
comparisons belong to the open model (``session.model_state``). The form is in
:mod:`screens.batching_form`, the server controls in :mod:`screens.batching_server`, the drawing of
results in :mod:`screens.batching_view`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static
from textual_plotext import PlotextPlot

from screens import batching_form as form_ui
from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from screens.batching_server import ServerControls
from screens.batching_view import draw_comparison, draw_sweep, result_parts, variant_name
from screens.widgets.fields import NumberField
from screens.widgets.levels_field import LevelsField
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variant_picker import VariantPicker
from workbench.events import TaskDone, VariantSelected, VariantsChanged
from workbench.formatting import display_path
from workbench.wiring import batching as wiring
from workbench.wiring.results import BatchingCompared, ServerStarted, ServerStopped, SweepDone, TritonExported

BASELINE_TASK = "baseline"


class BatchingScreen(ServerControls, WorkbenchScreen):
    AREA = "batching"
    CSS_PATH = "batching.tcss"

    BINDINGS = [
        Binding("s", "toggle_server", "Start/stop server"),
        Binding("w", "sweep", "Batch sweep", tooltip="sweep batch sizes and recommend a max batch"),
        Binding("c", "compare", "On vs off"),
        Binding("t", "export_triton", "Triton", tooltip="export a Triton model repository"),
        Binding("a", "use_recommendation", "Use rec.", tooltip="set max batch and delay from the sweep's "
                                                               "recommendation"),
        Binding("g", "toggle_chart", "Chart", show=False, tooltip="chart: batch sweep or on vs off"),
        Binding("b", "baseline", "Build baseline", show=False,
                tooltip="export the open model to its ONNX baseline (and benchmark it) to serve it"),
    ]
    chart: str | None = None   # "sweep" or "compare": the latest result, or the one g switched to

    def compose_body(self) -> ComposeResult:
        from workbench.wiring.variants import RUNNABLE, area_target

        target = area_target(self.session, RUNNABLE)
        with AreaScroll(id="batching"):
            yield VariantPicker(RUNNABLE, label="Serving")
            yield from form_ui.compose_form(target)
            yield Static(self._server_text(), id="bt-server", markup=False)
            yield TaskPanel("Idle: start the server, or run a sweep", id="bt-task")
            with Horizontal(id="bt-results"):
                yield PlotextPlot(id="bt-plot")
                with VerticalScroll(id="bt-tables"):
                    yield Static(self._placeholder(target), id="bt-text")

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(1.0, self._tick_server)   # live counters while the server runs

    def on_variant_selected(self, message: VariantSelected) -> None:
        """The current variant changed (here or in another area): serve and sweep that one."""
        self._follow_variant()

    def on_variants_changed(self, message: VariantsChanged) -> None:
        self._follow_variant()

    def _follow_variant(self) -> None:
        from workbench.wiring.variants import RUNNABLE, area_target

        if not self.query(VariantPicker):
            return
        self.query_one(VariantPicker).sync()
        target = area_target(self.session, RUNNABLE)
        if target is not None:
            self.query_one("#bt-model", Input).value = display_path(target.path)
        if self.session.model_state.sweep is None and self.session.model_state.batching_comparison is None:
            self.query_one("#bt-text", Static).update(self._placeholder(target))

    # -- inputs --------------------------------------------------------------
    def _placeholder(self, target: Any) -> str:
        return form_ui.placeholder(self.session, target)

    def _value(self, ident: str) -> Any:
        return self.query_one(f"#{ident}", NumberField).number()

    def _levels(self) -> list[int]:
        return self.query_one("#bt-levels", LevelsField).levels()

    def _target(self) -> Any:
        return form_ui.read_target(self.query_one("#bt-model", Input).value, self.session)

    def _settings(self) -> dict[str, Any]:
        return {"max_batch": self._value("bt-max-batch"), "max_delay_ms": self._value("bt-delay"),
                "budget_ms": self._value("bt-budget"), "requests": self._value("bt-requests")}

    def _panel(self) -> TaskPanel:
        return self.query_one("#bt-task", TaskPanel)

    def _start(self, name: str, fn: Any, *args: Any, **kw: Any) -> None:
        panel = self._panel()
        if panel.running:
            self.notify(f"{panel.task_name} is still running: wait or cancel it (Escape)", severity="warning")
            return
        panel.start(name, fn, *args, **kw)

    def _guard(self, build: Any) -> None:
        if self.check_fields():   # said inline under the form: point at the first bad field, no toast
            next(f for f in self.query(NumberField) if not f.disabled and f.problem()).focus()
            return
        try:
            build()
        except ValueError as exc:
            self.notify(str(exc), severity="error")

    # -- actions ---------------------------------------------------------------
    def action_sweep(self) -> None:
        def go() -> None:
            t, st = self._target(), self._settings()
            self._start("batch sweep", wiring.sweep, str(t.path), fmt=t.format, max_batch=st["max_batch"],
                        budget_ms=st["budget_ms"], iterations=200, budget_s_per_point=1.5)
        self._guard(go)

    def action_compare(self) -> None:
        def go() -> None:
            t, st = self._target(), self._settings()
            self._start("on vs off", wiring.compare, str(t.path), fmt=t.format, levels=self._levels(),
                        requests_per_level=st["requests"], duration_s_per_level=10.0,
                        max_batch=st["max_batch"], max_delay_ms=st["max_delay_ms"],
                        sweep=self.session.model_state.sweep, record_in=t)
        self._guard(go)

    def action_export_triton(self) -> None:
        def go() -> None:
            t, st = self._target(), self._settings()
            if t.format != "onnx":
                raise ValueError("Triton export takes an ONNX model")
            ws = self.session.workspace
            out = (ws.root if ws is not None else Path(self.app.config.home)) / "triton"  # type: ignore[attr-defined]
            self._start("export triton", wiring.export_triton, str(t.path), out,
                        sweep=self.session.model_state.sweep, budget_ms=st["budget_ms"])
        self._guard(go)

    def action_use_recommendation(self) -> None:
        """Put the sweep's recommended max batch and queue delay in the fields (only when asked)."""
        rec = self.session.model_state.batching_recommendation
        if not rec:
            self.notify("no recommendation yet: run a batch sweep (w) first")
            return
        if not rec["meets_budget"]:
            self.notify(rec["reason"], title="Nothing to use", severity="warning")
            return
        self.query_one("#bt-max-batch", Input).value = str(rec["max_batch"])
        self.query_one("#bt-delay", Input).value = f"{rec['max_delay_ms']:g}"
        self.notify(f"max batch {rec['max_batch']} and delay {rec['max_delay_ms']:g} ms set from the sweep",
                    title="Recommendation used")

    def action_toggle_chart(self) -> None:
        state = self.session.model_state
        if state.sweep is None or state.batching_comparison is None:
            self.notify("the chart switches once both a sweep (w) and an on vs off run (c) exist")
            return
        self.chart = "compare" if self._chart_kind() == "sweep" else "sweep"
        self._redraw()

    def action_baseline(self) -> None:
        from workbench.wiring.cost import build_baseline
        from workbench.wiring.variants import RUNNABLE, area_target

        s = self.session
        if s.model_path is None:
            self.notify("no model open: press o to open one")
            return
        if area_target(s, RUNNABLE) is not None and s.workspace is not None and s.workspace.baseline() is not None:
            self.notify("the baseline exists already: it is the one served")
            return
        self._start(BASELINE_TASK, build_baseline, s.model_path, s.workspace, s.data_path)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"bt-start": self.action_start_server, "bt-stop": self.action_stop_server,
                   "bt-sweep": self.action_sweep, "bt-compare": self.action_compare,
                   "bt-triton": self.action_export_triton}
        action = actions.get(event.button.id or "")
        if action is not None:
            event.stop()
            action()

    # -- results ---------------------------------------------------------------
    def on_task_done(self, message: TaskDone) -> None:
        if message.error or message.cancelled or message.result is None:
            if message.error:
                self.notify(message.error, title=message.task, severity="error")
            self._redraw()
            return
        state = self.session.model_state
        if message.task == BASELINE_TASK:
            self.app.broadcast(VariantsChanged)  # type: ignore[attr-defined]
            self.notify("the ONNX baseline is built: serving and sweeps use it", title="Baseline")
            return
        match message.result:
            case ServerStarted(server=server):
                self.session.server = server
            case ServerStopped():
                self.session.server = None
            case SweepDone(sweep=sweep):
                state.sweep = sweep
                self.chart = "sweep"
                self._recommend(sweep)
            case BatchingCompared(result=result):
                state.batching_comparison = result
                self.chart = "compare"
            case TritonExported(details=r):
                state.triton_export = message.result
                self.notify(f"Triton repository written: {r['model_dir']} (max batch {r['max_batch_size']}, "
                            f"preferred {r['preferred_batch_size']}, delay {r['max_queue_delay_microseconds']} µs)",
                            title="Export Triton", timeout=10)
        self._redraw()

    def _recommend(self, sweep: Any) -> None:
        """Work out the recommendation; the max batch and delay fields keep what the user typed (a to use it)."""
        try:
            budget = self._value("bt-budget")
        except ValueError:
            return
        if sweep.points:
            self.session.model_state.batching_recommendation = wiring.recommend(sweep, budget)

    def show_comparison(self, result: dict[str, Any]) -> None:
        """Draw a comparison (also used by tests with fixed figures)."""
        self.session.model_state.batching_comparison = result
        self.chart = "compare"
        self._redraw()

    def show_sweep(self, sweep: Any) -> None:
        """Draw a sweep and its recommendation (also used by tests with fixed figures)."""
        self.session.model_state.sweep = sweep
        self.chart = "sweep"
        self._recommend(sweep)
        self._redraw()

    def _chart_kind(self) -> str | None:
        """What the chart shows: the result asked for (g) or the latest one, else whichever exists."""
        state = self.session.model_state
        have = {"sweep": state.sweep is not None and bool(state.sweep.points),
                "compare": bool(state.batching_comparison)}
        if have.get(self.chart or ""):
            return self.chart
        return next((k for k in ("compare", "sweep") if have[k]), None)

    def _redraw(self) -> None:
        if not self.query("#bt-server"):
            return
        self.query_one("#bt-server", Static).update(self._server_text())
        state = self.session.model_state
        result, sweep = state.batching_comparison, state.sweep
        plot = self.query_one("#bt-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        kind = self._chart_kind()
        if kind == "sweep":
            draw_sweep(plt, sweep)
        else:
            draw_comparison(plt, result or {})
        plot.refresh()
        parts = result_parts(state, lambda model: variant_name(self.session, model), kind)
        if parts:
            self.query_one("#bt-text", Static).update(Group(*parts))
