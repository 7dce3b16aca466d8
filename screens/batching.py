"""Batching: serve a model locally, sweep batch sizes, compare dynamic batching on and off.

Every button runs an engine function in a thread worker (``TaskPanel``), so
keys stay answered while a sweep runs. The server keeps running when you leave
the screen (it lives in ``session.server``) until you stop it or quit. Sweeps and
comparisons belong to the open model (``session.model_state``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static
from textual_plotext import PlotextPlot

from screens.base import WorkbenchScreen
from screens.widgets.fields import FieldErrors, NumberField
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variant_picker import VariantPicker
from workbench.events import TaskDone, VariantSelected, VariantsChanged
from workbench.formatting import REPO_ROOT, display_path
from workbench.wiring import batching as wiring
from workbench.wiring.results import BatchingCompared, ServerStarted, ServerStopped, SweepDone, TritonExported


def comparison_table(result: dict[str, Any]) -> Table:
    t = Table(title="batching on vs off: requests/s, p99 ms", padding=(0, 1), box=box.SIMPLE_HEAD,
              pad_edge=False, show_edge=False)
    for col in ("conc", "on/s", "on p99", "off/s", "off p99"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for on, off in zip(result.get("on", []), result.get("off", [])):
        t.add_row(f"{on['level']:g}", f"{on['throughput_rps']:.0f}", f"{on['latency_ms']['p99']:.1f}",
                  f"{off['throughput_rps']:.0f}", f"{off['latency_ms']['p99']:.1f}")
    return t


def sweep_table(sweep: Any) -> Table:
    t = Table(title=f"batch sweep on {sweep.device}", padding=(0, 1), box=box.SIMPLE_HEAD, pad_edge=False,
              show_edge=False)
    for col in ("batch", "p50 ms", "p99 ms", "items/s"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for p in sweep.points:
        t.add_row(str(p.batch), f"{p.latency_ms['p50']:.2f}", f"{p.latency_ms['p99']:.2f}",
                  f"{p.throughput_ips:.0f}")
    return t


# (label, id, default, whole number, minimum); "levels" is a comma-separated list
NUMBERS = (("max batch", "bt-max-batch", "32", True, 1), ("delay ms", "bt-delay", "5", False, 0),
           ("p99 ms", "bt-budget", "50", False, 0.1), ("levels", "bt-levels", "1,8,32", True, 1),
           ("reqs", "bt-requests", "300", True, 1))


class BatchingScreen(WorkbenchScreen):
    AREA = "batching"
    CSS_PATH = "batching.tcss"

    BINDINGS = [
        Binding("s", "toggle_server", "Start/stop server"),
        Binding("w", "sweep", "Batch sweep", tooltip="sweep batch sizes and recommend a max batch"),
        Binding("c", "compare", "On vs off"),
        Binding("t", "export_triton", "Triton", tooltip="export a Triton model repository"),
    ]

    def compose_body(self) -> ComposeResult:
        from workbench.wiring.variants import RUNNABLE, area_target

        target = area_target(self.session, RUNNABLE)
        with VerticalScroll(id="batching"):
            yield VariantPicker(RUNNABLE, label="Serving")
            with Horizontal(classes="bt-row"):
                yield Label("Model", classes="bt-label")
                yield Input(display_path(target.path) if target else "", placeholder="an .onnx or .tflite file",
                            id="bt-model", compact=True)
            with Horizontal(classes="bt-row"):
                for label, ident, value, integer, low in NUMBERS:
                    yield Label(label, classes="bt-label")
                    if ident == "bt-levels":
                        yield Input(value, id=ident, compact=True, classes="bt-num", restrict=r"[0-9, ]*")
                    else:
                        yield NumberField(value, name=label, integer=integer, minimum=low, id=ident,
                                          classes="bt-num")
            with Horizontal(classes="bt-row", id="bt-buttons"):
                yield Button("Start", id="bt-start", compact=True, variant="primary", tooltip="start the server (s)")
                yield Button("Stop", id="bt-stop", compact=True, tooltip="stop the server gracefully (s)")
                yield Button("Sweep", id="bt-sweep", compact=True, tooltip="batch sweep and recommendation (w)")
                yield Button("On vs off", id="bt-compare", compact=True,
                             tooltip="load the server with batching on, then off (c)")
                yield Button("Triton", id="bt-triton", compact=True, tooltip="export a Triton model repository (t)")
            yield FieldErrors(id="bt-errors")   # under the buttons: showing it moves no button
            yield Static(self._server_text(), id="bt-server", markup=False)
            yield TaskPanel("Idle: start the server, or run a sweep", id="bt-task")
            with Horizontal(id="bt-results"):
                yield PlotextPlot(id="bt-plot")
                with VerticalScroll(id="bt-tables"):
                    yield Static(self._placeholder(target), id="bt-text")

    def on_mount(self) -> None:
        self._redraw()
        self.set_interval(1.0, self._tick_server)   # live counters while the server runs

    def _tick_server(self) -> None:
        if self.server is not None and self.app.screen is self and self.query("#bt-server"):
            self.query_one("#bt-server", Static).update(self._server_text())

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
        if target is None:
            return ("No ONNX or TFLite model open: type a path above (or export the model to ONNX "
                    "on the Optimize screen).")
        return "Results appear here: batch sweep (w) and batching on vs off (c)."

    def _value(self, ident: str) -> Any:
        return self.query_one(f"#{ident}", NumberField).number()

    def _levels(self) -> list[int]:
        raw = self.query_one("#bt-levels", Input).value
        try:
            levels = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"levels must be whole numbers separated by commas, not {raw!r}") from None
        if not levels or min(levels) < 1 or max(levels) > 512:
            raise ValueError("levels must be between 1 and 512")
        return levels

    def _target(self) -> Any:
        raw = self.query_one("#bt-model", Input).value.strip()
        if not raw:
            raise ValueError("no model: type the path of an .onnx or .tflite file")
        path = Path(raw).expanduser()
        if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
            path = REPO_ROOT / path              # shown relative to the repository
        target = wiring.target_from_path(path)
        if target is None:
            raise ValueError(f"{raw} is not an .onnx or .tflite file")
        return target

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
        try:
            build()
        except ValueError as exc:
            self.notify(str(exc), severity="error")

    # -- actions ---------------------------------------------------------------
    @property
    def server(self) -> Any:
        entry = self.session.server
        return entry if entry is not None and entry.running else None

    def action_toggle_server(self) -> None:
        if self.server is not None:
            self.action_stop_server()
        else:
            self.action_start_server()

    def action_start_server(self) -> None:
        def go() -> None:
            if self.server is not None:
                self.notify(f"already serving at {self.server.url}")
                return
            t, st = self._target(), self._settings()
            self._start("start server", wiring.start_server, str(t.path), t.format,
                        max_batch=st["max_batch"], max_delay_ms=st["max_delay_ms"], model_name=t.name)
        self._guard(go)

    def action_stop_server(self) -> None:
        if self.server is None:
            self.notify("the server is not running")
            return
        self._start("stop server", wiring.stop_server, self.server)

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
                        max_batch=st["max_batch"], max_delay_ms=st["max_delay_ms"])
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
        match message.result:
            case ServerStarted(server=server):
                self.session.server = server
            case ServerStopped():
                self.session.server = None
            case SweepDone(sweep=sweep):
                state.sweep = sweep
                self._apply_recommendation(sweep)
            case BatchingCompared(result=result):
                state.batching_comparison = result
            case TritonExported(details=r):
                state.triton_export = message.result
                self.notify(f"Triton repository written: {r['model_dir']} (max batch {r['max_batch_size']}, "
                            f"preferred {r['preferred_batch_size']}, delay {r['max_queue_delay_microseconds']} µs)",
                            title="Export Triton", timeout=10)
        self._redraw()

    def _apply_recommendation(self, sweep: Any) -> None:
        try:
            budget = self._value("bt-budget")
        except ValueError:
            return
        if not sweep.points:
            return
        rec = wiring.recommend(sweep, budget)
        self.session.model_state.batching_recommendation = rec
        if rec["meets_budget"]:
            self.query_one("#bt-max-batch", Input).value = str(rec["max_batch"])
            self.query_one("#bt-delay", Input).value = f"{rec['max_delay_ms']:g}"

    def _server_text(self) -> str:
        srv = self.server
        if srv is None:
            return "Server stopped."
        stats = wiring.server_stats(srv)
        mode = f"max batch {stats['max_batch']}, delay {stats['max_delay_ms']:g} ms" if stats["max_batch"] > 1 \
            else "batching off"
        counters = (f"requests {stats['requests']:,} · mean batch {stats['mean_batch']:.1f} · queue depth "
                    f"{stats['queue_depth']} · rejected {stats['rejected_full']} · failures {stats['failures']}")
        try:
            example = wiring.curl_example(srv)
        except Exception:  # noqa: BLE001 - an example is a convenience, never a reason to fail the view
            example = f"curl -s {srv.url}/metadata"
        return (f"Serving at {srv.url} ({mode}) · GET /ping · POST /invocations\nLive: {counters} (p99: run On vs "
                f"off, c)\nTry: {example}")

    def show_comparison(self, result: dict[str, Any]) -> None:
        """Draw a comparison (also used by tests with fixed figures)."""
        self.session.model_state.batching_comparison = result
        self._redraw()

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
        plt.title("p99 latency vs throughput")
        plt.xlabel("requests/s")
        plt.ylabel("p99 ms")
        if result:
            for key, label, color in (("on", "batching on", "green"), ("off", "batching off", "red")):
                pts = result.get(key) or []
                if pts:
                    plt.plot([p["throughput_rps"] for p in pts], [p["latency_ms"]["p99"] for p in pts],
                             label=label, marker="dot", color=color)
        plot.refresh()
        parts: list[Any] = []
        if result:
            parts.append(comparison_table(result))
            on, off = result.get("on") or [], result.get("off") or []
            if on and off and off[-1]["throughput_rps"] > 0:
                ratio = on[-1]["throughput_rps"] / off[-1]["throughput_rps"]
                parts.append(Text(f"at concurrency {on[-1]['level']:g}: batching gives {ratio:.2f}x the throughput"))
        exported = state.triton_export
        if exported is not None:
            parts.append(Text(f"Triton repository: {display_path(exported.model_dir)}", style="bold"))
        if sweep is not None:
            parts.append(sweep_table(sweep))
            rec = state.batching_recommendation
            if rec:
                parts.append(Text(f"recommended: max batch {rec['max_batch']}, queue delay "
                                  f"{rec['max_delay_ms']:g} ms — {rec['reason']}"))
            if sweep.points:
                p = sweep.points[0]
                parts.append(Text(wiring.right_sizing_hint(p.run_metrics, p.batch), style="italic"))
        if parts:
            from rich.console import Group

            self.query_one("#bt-text", Static).update(Group(*parts))
