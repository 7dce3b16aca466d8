"""Cost: what the current variant costs to serve, from its measured throughput and latency.

The table prices the benchmark of this machine on the instance it is taken to
be, plus any instance the user gives a throughput for (shown as estimates),
and serverless for the traffic profile. The chart is the break-even of
serverless vs an always-on instance vs spot. The price catalog's date is
always shown. The report is recomputed when the variant or its benchmark
changes (``VariantsChanged`` / ``VariantSelected``).
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from workbench.wiring.cost import break_even_sentence, gpu_vs_cpu_sentence, spot_finetune_sentence, usd
from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from screens.widgets.fields import FieldErrors, NumberField
from screens.widgets.task_panel import TaskPanel
from screens.widgets.traffic_inputs import TrafficInputs
from screens.widgets.variant_picker import VariantPicker
from workbench.events import TaskDone, VariantSelected, VariantsChanged

TASK = "cost"
BASELINE_TASK = "baseline"
MEMORY = [(f"{m} MB", m) for m in (1024, 2048, 3072, 4096, 5120, 6144)]
FINETUNE = (("ft-hours", "fine-tune h", "", "cost-num"), ("ft-instance", "on", "g5.xlarge", "cost-inst"),
            ("ft-ckpt", "ckpt h", "1", "cost-num"), ("ft-rate", "interrupt/h", "", "cost-num"))


def cost_table(r: dict[str, Any]) -> Table:
    """One row per priced option: measured or estimate basis, $/1M, monthly always-on and spot."""
    t = Table(expand=True, padding=(0, 1), pad_edge=False, box=None, header_style="bold")
    for col in ("option", "inf/s", "basis", "$/h", "$/1M", "n@pk", "$/month", "spot/mo"):
        t.add_column(col, justify="left" if col in ("option", "basis") else "right", no_wrap=True)
    for row in r["instances"]:
        label = Text(row["label"], style={"measured": "green", "served": "cyan"}.get(row["label"], "yellow"))
        t.add_row(row["instance"], f"{row['ips']:,.0f}", label,
                  f"{row['usd_per_hour']:.4f}" + ("" if row["price_label"] == "verified" else "*"),
                  usd(row["cost_per_1m"]), str(row["instances_for_peak"]), usd(row["monthly_always_on"]),
                  usd(row.get("monthly_spot")) + ("†" if row.get("monthly_spot") is not None else ""))
    s = r.get("serverless")
    if s:
        t.add_row(f"serverless {s['memory_mb'] // 1024}G", "—", Text("measured", style="green"),
                  f"{s['rate']['usd'] * 3600:.4f}", usd(s["cost_per_1m"]), "—", usd(s["monthly"]), "—")
    return t


class CostScreen(WorkbenchScreen):
    AREA = "cost"
    CSS_PATH = "cost.tcss"
    BINDINGS = [Binding("r", "compute", "Recompute"), Binding("b", "baseline", "Build baseline")]

    def compose_body(self) -> ComposeResult:
        from workbench.wiring.cost import PRICED_FORMATS, catalog_summary
        from workbench.wiring.variants import area_target

        self._target = area_target(self.session, PRICED_FORMATS)
        cat = catalog_summary()
        catalog = f"Price catalog {cat['as_of']} ({cat['origin']})"
        if cat["error"]:
            catalog += f" — {cat['error']}"
        with AreaScroll(id="cost"):
            yield VariantPicker(PRICED_FORMATS, label="Pricing")
            yield Static(Text(catalog, style="italic"), id="cost-target")
            yield TrafficInputs(self.session.traffic, prefix="cost")   # shared with Deploy
            with Horizontal(id="cost-form2"):
                yield Label("memory", classes="cost-label")
                yield Select(MEMORY, value=2048, allow_blank=False, id="cost-memory", compact=True)
                yield Label("assume", classes="cost-label")
                yield Input("", placeholder="INSTANCE=IPS, e.g. g4dn.xlarge=5000", id="cost-assume", compact=True)
                yield Button("Compute", id="cost-go", compact=True, variant="primary", tooltip="recompute (r)")
            with Horizontal(id="cost-form3"):
                for ident, label, value, width in FINETUNE:
                    yield Label(label, classes="cost-label")
                    if ident == "ft-instance":
                        yield Input(value, id=f"cost-{ident}", compact=True, classes=width)
                    else:
                        yield NumberField(value, name=label, integer=False, minimum=0, optional=True,
                                          id=f"cost-{ident}", classes=width)
            yield FieldErrors(id="cost-errors")
            yield TaskPanel("Idle", id="cost-task")
            yield Static("", id="cost-table")
            yield PlotextPlot(id="cost-plot")
            yield Static("", id="cost-notes")

    def on_mount(self) -> None:
        report = self.session.model_state.cost_report
        if report and self._target is not None and report.get("target", {}).get("path") == str(self._target.path):
            self.show_report(report)
        elif self._target is not None:
            self.action_compute()
        else:
            self._notes("No ONNX/TFLite variant yet: press b to build the baseline (export + benchmark).")
        self._dirty = False

    # -- actions --------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        problems = self.check_fields()
        if problems:
            raise ValueError(problems[0])
        traffic = self.query_one(TrafficInputs).values()
        ft: dict[str, Any] = {"instance": self.query_one("#cost-ft-instance", Input).value.strip()}
        for key, ident in (("hours", "ft-hours"), ("checkpoint_h", "ft-ckpt"), ("rate", "ft-rate")):
            value = self.query_one(f"#cost-{ident}", NumberField).number()
            ft[key] = None if value is None else float(value)
        realtime = (self.session.model_state.deploy_form.get("form") or {}).get("instance_type") or "ml.c5.xlarge"
        return {"avg_rps": traffic["avg_rps"], "peak_rps": traffic["peak_rps"],
                "hours_per_day": traffic["hours_per_day"], "content_type": traffic["content_type"],
                "memory_mb": int(self.query_one("#cost-memory", Select).value), "realtime_instance": realtime,
                "assumptions": self.query_one("#cost-assume", Input).value, "finetune": ft}

    def action_compute(self) -> None:
        from workbench.wiring.cost import compute_cost

        try:
            options = self._options()
        except ValueError as exc:
            self._notes(str(exc))
            return
        self._computed_traffic = dict(vars(self.session.traffic))
        self.query_one(TaskPanel).start(TASK, compute_cost, self._target, options,
                                        comparison=self.session.model_state.batching_comparison)

    def action_baseline(self) -> None:
        from workbench.wiring.cost import build_baseline

        s = self.session
        if s.model_path is None or s.workspace is None:
            self._notes("Open a model first (o).")
            return
        self.query_one(TaskPanel).start(BASELINE_TASK, build_baseline, s.model_path, s.workspace, s.data_path)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cost-go":
            event.stop()
            self.action_compute()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_compute()

    # -- variant changes ------------------------------------------------------------
    async def on_variants_changed(self, message: VariantsChanged) -> None:
        await self._variant_update()

    async def on_variant_selected(self, message: VariantSelected) -> None:
        await self._variant_update()

    async def _variant_update(self) -> None:
        self.session.model_state.cost_report = None  # the figures behind it may have changed
        if self.app.screen is self:
            await self.refresh_body()
        else:
            self._dirty = True

    async def on_screen_resume(self) -> None:
        if getattr(self, "_dirty", False):
            self._dirty = False
            await self.refresh_body()
            return
        # traffic changed on the Deploy screen: show it here and price it
        if self.query(TrafficInputs) and self.query_one(TrafficInputs).sync() and self._target is not None:
            self.action_compute()

    async def refresh_body(self) -> None:
        await super().refresh_body()
        self.on_mount()

    def on_task_done(self, message: TaskDone) -> None:
        if message.task == BASELINE_TASK and message.result:
            self.session.selected_variant_id = self.session.selected_variant_id or message.result
            self.app.broadcast(VariantsChanged)  # type: ignore[attr-defined]
        elif message.task == TASK:
            if message.error:
                self._notes(f"Cost projection failed: {message.error}")
            elif message.result is not None:
                self.session.model_state.cost_report = message.result
                self.show_report(message.result)

    # -- drawing ----------------------------------------------------------------------
    def _notes(self, text: str | Text) -> None:
        self.query_one("#cost-notes", Static).update(text)

    def show_report(self, r: dict[str, Any]) -> None:
        self.query_one("#cost-table", Static).update(cost_table(r))
        self._draw_chart(r.get("break_even"))
        self._notes(self._notes_text(r))

    def _draw_chart(self, be: dict[str, Any] | None) -> None:
        plot = self.query_one("#cost-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("monthly cost vs average req/s")
        plt.xlabel("req/s")
        plt.ylabel("USD/month")
        if be:
            # each series its own glyph as well as colour: told apart without colour too
            plt.plot(be["rps"], be["serverless"], label="serverless", color="cyan", marker="•")
            plt.plot(be["rps"], be["instance"], label=f"{be['instance_name']} on-demand", color="red", marker="x")
            if be.get("spot"):
                plt.plot(be["rps"], be["spot"], label="spot (derived)", color="green", marker="+")
        plot.refresh()

    def _notes_text(self, r: dict[str, Any]) -> Text:
        m, p = r["measured"], r["profile"]
        t = Text()
        t.append(f"Measured ({m['source']}): {m['ips']:,.0f}/s at batch {m['batch']}, mean "
                 f"{m['latency_ms'].get('mean', 0):.3f} ms at batch {m.get('latency_batch', 1)}, "
                 f"{m['threads']} threads, {m['device']}\n")
        t.append(f"Traffic {p['avg_rps']:g} req/s avg, {p['peak_rps']:g} peak, {p['hours_per_day']:g} h/day: "
                 f"{p['requests_per_month']:,.0f} requests/month\n")
        if r.get("break_even"):
            t.append(break_even_sentence(r["break_even"]) + "\n", style="bold")
        t.append(gpu_vs_cpu_sentence(r["gpu_vs_cpu"]) + "\n")
        s = r.get("serverless")
        if s:
            t.append(f"Serverless: billed {s['billed_ms']} ms/request, {s['request_bytes']} B in + "
                     f"{s['response_bytes']} B out; {s['label']}"
                     + ("; THROTTLED at peak" if s["throttled_at_peak"] else "") + "\n")
        if r.get("spot_finetune"):
            t.append(spot_finetune_sentence(r["spot_finetune"]) + "\n")
        for fit in r.get("instance_fit") or []:
            if fit.get("warning"):
                t.append(f"⚠ right-size: {fit['line']}\n", style="bold yellow")
            else:
                t.append(f"Right-size: {fit['line']}\n")
        if not r.get("served"):
            t.append("Always-on is priced from the model-only benchmark: run the Batching area's compare to price "
                     "what the server reaches\n", style="dim")
        for note in r["notes"][1:]:
            t.append(f"• {note}\n", style="dim")
        t.append("* unverified price   † spot is derived and for interruptible work, not serving\n", style="dim")
        t.append(f"Price catalog {r['catalog']['as_of']}", style="italic")
        return t
