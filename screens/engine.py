"""Engine: build an ONNX Runtime optimized model, an AOTInductor package, a TensorRT engine or an OpenVINO IR.

Choose the source variant, backend, precision, device and batch profile, then
Build (b). The build runs in a thread worker through the :class:`TaskPanel`
(cancel with x, Escape or the panel's button); its progress lines stream into
the log, and the result card shows the measured build time, file size,
fusions or layers, latency against the source and fidelity. What this machine
cannot do (TensorRT, CUDA) is said up front, with how to install it. The form is in
:mod:`screens.engine_form`.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, RichLog, Select, Static

from screens import engine_form as form_ui
from screens.base import WorkbenchScreen
from screens.widgets.fields import NumberField
from screens.widgets.task_panel import TaskPanel
from screens.widgets.variant_picker import VariantPicker
from workbench.wiring.variants import BUILD_SOURCES
from workbench.events import TaskDone, TaskProgress, VariantSelected, VariantsChanged
from workbench.formatting import human_bytes
from workbench.wiring import engine as wiring
from workbench.wiring.results import BackendReport, EngineBuilt

BUILD_TASK = "engine build"
STATUS_TASK = "engine backends"


def _ms(lat: Any) -> str:
    return f"{lat['p50']:.3f} ms" if isinstance(lat, dict) and lat.get("p50") is not None else "n/a"


def card_table(c: dict[str, Any]) -> Table:
    """The result card of an engine variant (``engines.build.builder.describe``)."""
    t = Table(title=c["name"], show_header=False, expand=True, padding=(0, 1), title_justify="left")
    t.add_column("what", style="bold", no_wrap=True)
    t.add_column("value")
    src = c.get("source") or {}
    t.add_row("source", f"{src.get('name')} ({(src.get('id') or '')[:8]})")
    t.add_row("build", "cached" if c.get("build_s") is None else f"{c['build_s']:.1f} s")
    t.add_row("file", human_bytes(c.get("size_bytes")))
    if c.get("nodes"):
        t.add_row("graph", f"{c['nodes'][0]} → {c['nodes'][1]} nodes")
        t.add_row("fusions", "\n".join(f"{f['fusion']} ×{f['count']}" for f in c.get("fusions") or []) or "none")
    if c.get("layers") is not None:
        t.add_row("layers", f"{c['layers']} ({', '.join(f'{k} {v}' for k, v in (c.get('precisions') or {}).items())})")
    speed = f" ({c['speedup_p50']:.2f}x)" if c.get("speedup_p50") else ""
    iv = c.get("speedup_interval")
    if speed and iv:
        speed = f" ({c['speedup_p50']:.2f}x [{iv[0]:.2f}-{iv[1]:.2f}]{', within noise' if c.get('speedup_within_noise') else ''})"
    t.add_row("p50", f"{_ms(c.get('latency_ms'))} vs {_ms(src.get('latency_ms'))}{speed}")
    eager = c.get("eager") or {}
    if eager:
        t.add_row("vs eager", f"{eager['aoti_p50_ms']:.3f} ms vs PyTorch eager {eager['eager_p50_ms']:.3f} ms "
                              f"({eager.get('speedup_vs_eager') or 0:.2f}x)")
    tp = c.get("throughput") or {}
    if tp:
        t.add_row("throughput", f"{tp.get('ips', 0):,.0f}/s at batch {tp.get('batch')}")
    fid = c.get("fidelity") or {}
    if fid:
        agree = fid.get("top1_agreement")
        t.add_row("fidelity", (f"top-1 {agree:.2%}, " if agree is not None else "")
                  + f"cos {fid.get('cosine', 0):.5f}, max err {fid.get('max_abs_err', 0):.2g}"
                  + (f" vs original {c['fidelity_reference']}" if c.get("fidelity_vs_parent") else ""))
    parent = c.get("fidelity_vs_parent") or {}
    if parent:
        pa = parent.get("top1_agreement")
        t.add_row("vs parent", (f"top-1 {pa:.2%}, " if pa is not None else "") + f"cos {parent.get('cosine', 0):.5f}")
    if c.get("accuracy") is not None:
        t.add_row("accuracy", f"{c['accuracy']:.2%}")
    for note in c.get("notes") or []:
        t.add_row("note", Text(note, style="italic"))
    return t


class EngineScreen(WorkbenchScreen):
    AREA = "engine"
    CSS_PATH = "engine.tcss"

    BINDINGS = [
        Binding("b", "build", "Build", tooltip="build an engine: ORT optimized, AOTInductor, TensorRT or OpenVINO"),
        Binding("x", "cancel", "Cancel build"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="engine"):
            yield from form_ui.compose_form()
            yield Static(self._avail_text()[1], id="en-avail", markup=False)
            yield TaskPanel("Idle: choose a backend and press b to build", id="en-task")
            with Horizontal(id="en-results"):
                yield RichLog(id="en-log", wrap=True, markup=False, min_width=20, max_lines=500)
                yield Static(self._card(), id="en-card")

    def on_mount(self) -> None:
        if self.session.backends is None:
            from workbench.tasks import run_task

            run_task(self, STATUS_TASK, wiring.probe_backends)
        self._refresh_avail()

    async def refresh_body(self) -> None:
        await super().refresh_body()
        self._refresh_avail()

    # -- state ---------------------------------------------------------------
    def _value(self, ident: str) -> Any:
        return self.query_one(f"#{ident}", Select).value

    def _avail_text(self) -> tuple[bool, str]:
        info = self.session.model_info
        try:
            backend, device = self._value("en-backend"), self._value("en-device")
        except Exception:  # not composed yet
            backend, device = "ort", "cpu"
        return wiring.availability(self.session.backends, backend, device, info.format if info else None)

    def _refresh_avail(self) -> None:
        ok, text = self._avail_text()
        backend = self._value("en-backend")
        if backend == "openvino":
            text += "".join(f"\n  • {why}" for on, why in self._ov_options().values() if not on)
        self.query_one("#en-avail", Static).update(text)
        self.query_one("#en-avail", Static).set_class(not ok, "-missing")
        self.query_one("#en-build", Button).disabled = not ok or self._panel().running
        # each backend's own options are shown (and checked) only when it is chosen: the TensorRT
        # workspace is not validated for AOTInductor
        self.query_one("#en-trt").display = backend == "tensorrt"
        self.query_one("#en-wsmb", NumberField).disabled = backend != "tensorrt"
        self.query_one("#en-ov").display = backend == "openvino"
        if backend == "openvino":
            opts = self._ov_options()
            self.query_one("#en-frontend", Select).disabled = not opts["frontend"][0]
            if not opts["frontend"][0]:
                with self.prevent(Select.Changed):
                    self.query_one("#en-frontend", Select).value = "onnx"
            acc = self.query_one("#en-acc", Checkbox)
            acc.disabled = not opts["accuracy"][0]
            acc.tooltip = opts["accuracy"][1] or "INT8 with NNCF accuracy control (max drop 1 point)"
            if acc.disabled and acc.value:
                acc.value = False
        self.check_fields()

    def _ov_options(self) -> dict[str, tuple[bool, str]]:
        from workbench.wiring.variants import current

        chosen, _ = current(self.session, BUILD_SOURCES)
        return wiring.openvino_options(self.session, chosen is None or chosen.kind == "baseline",
                                       str(self._value("en-precision")))

    def _engine_options(self, backend: str) -> dict[str, Any]:
        """The chosen backend's own options (openvino: frontend, accuracy control), as the CLI passes them."""
        if backend != "openvino":
            return {}
        opts: dict[str, Any] = {}
        if self.query_one("#en-frontend", Select).value == "pytorch" and self._ov_options()["frontend"][0]:
            opts["frontend"] = "pytorch"
        acc = self.query_one("#en-acc", Checkbox)
        if acc.value and not acc.disabled:
            opts["accuracy_control"] = True
        return opts

    def _card(self) -> Any:
        last = self.session.model_state.engine_card
        if last is not None:
            return card_table(last)
        return "The result card appears here: build time, file size, fusions or layers, latency and fidelity."

    def _panel(self) -> TaskPanel:
        return self.query_one("#en-task", TaskPanel)

    def _log(self, text: str) -> None:
        self.query_one("#en-log", RichLog).write(text)

    def _int(self, ident: str) -> int:
        return int(self.query_one(f"#{ident}", NumberField).number() or 0)

    # -- events --------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        self._refresh_avail()

    def on_variants_changed(self, message: VariantsChanged) -> None:
        """New quantized or pruned variants become sources to build from."""
        self.query_one(VariantPicker).sync()

    def on_variant_selected(self, message: VariantSelected) -> None:
        self.query_one(VariantPicker).sync()
        self._refresh_avail()   # the PyTorch frontend is offered only from the baseline

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "en-build":
            event.stop()
            self.action_build()

    def action_cancel(self) -> None:
        if self._panel().cancel():
            self._log("cancel requested: the build stops at its next check, nothing is kept")

    def action_build(self) -> None:
        s = self.session
        ok, text = self._avail_text()
        if not ok:  # say why (TensorRT missing, wrong model format, still checking) and what works, never nothing
            info = s.model_info
            why = wiring.cannot_build_text(s.backends, self._value("en-backend"), self._value("en-device"),
                                           info.format if info else None)
            self._log(f"cannot build: {why}")
            self.app.notify(why, title="Cannot build", severity="warning")
            return
        if self._panel().running:
            self.app.notify("A build is already running: wait or cancel it (x).", severity="warning")
            return
        try:
            problems = self.check_fields()
            if problems:   # already said inline under the form: point at the first field, no toast
                bad = next(f for f in self.query(NumberField) if not f.disabled and f.problem())
                bad.focus()
                return
            profile = (self._int("en-min"), self._int("en-opt"), self._int("en-max"))
            if not profile[0] <= profile[1] <= profile[2]:
                raise ValueError("batch profile needs min <= opt <= max")
            wsmb = self.query_one("#en-wsmb", NumberField)
            opts = wiring.build_options(device=self._value("en-device"), sparse=self.query_one("#en-sparse", Checkbox).value,
                                **({} if wsmb.disabled else {"workspace_mb": self._int("en-wsmb")}),
                                timeout_s=float(self._int("en-timeout")), trust_pickle=s.trust_pickle,
                                engine_options=self._engine_options(self._value("en-backend")))
        except ValueError as exc:
            self.app.notify(str(exc), severity="error")
            return
        backend, precision = self._value("en-backend"), self._value("en-precision")
        from workbench.wiring.variants import current

        chosen, _ = current(s, BUILD_SOURCES)
        source = chosen.id if chosen is not None and chosen.kind != "baseline" else None
        self.query_one("#en-log", RichLog).clear()
        s.model_state.engine_card = None   # the card is of the build under way from now on
        self.query_one("#en-card", Static).update(Text(f"Building {backend} {precision}…", style="italic"))
        extra = "".join(f", {k.replace('_', ' ')} {v}" if v is not True else f", {k.replace('_', ' ')}"
                        for k, v in opts.engine_options.items())
        self._log(f"build {backend} {precision} on {opts.device}, batch {profile[0]}/{profile[1]}/{profile[2]}, "
                  f"from {'the baseline' if source is None else source[:8]}{extra}")
        self._panel().start(BUILD_TASK, wiring.build, s.model_path, backend, precision, variant=source,
                            data=s.data_path, workspace=s.workspace, profile=profile, options=opts)
        self._refresh_avail()

    def on_task_progress(self, message: TaskProgress) -> None:
        if message.task == BUILD_TASK and message.text != getattr(self, "_last_line", None):
            self._last_line = message.text
            pct = "" if message.fraction is None else f"{message.fraction:4.0%} "
            self._log(f"{pct}{message.text}")

    def on_task_done(self, message: TaskDone) -> None:
        if message.task not in (STATUS_TASK, BUILD_TASK):
            return
        message.stop()
        match message.result:
            case BackendReport() as report:
                self.session.backends = report
            case EngineBuilt(card=card):
                self.session.model_state.engine_card = card
                self._log(f"done: {card['name']} ({card['id'][:8]}) is now a variant")
                self.query_one("#en-card", Static).update(card_table(card))
                self.app.broadcast(VariantsChanged)  # type: ignore[attr-defined]
            case None if message.task == STATUS_TASK:
                self.session.backends = wiring.failed_probe(message.error or "cancelled")
            case None if message.cancelled:
                self.session.model_state.engine_card = None
                self._log("cancelled: no engine was written")
                self.query_one("#en-card", Static).update(Text("Build cancelled: no engine was written.",
                                                               style="italic"))
            case None:
                self.session.model_state.engine_card = None
                self._log(f"failed: {message.error}")
                self.query_one("#en-card", Static).update(Text(f"Build failed: {message.error}", style="bold red"))
        self._refresh_avail()
