"""Metrics: live CPU per core, RAM, RSS and NVIDIA GPU readings over a rolling window.

Readings come from the app's sampler (``workbench.metrics_service``), which
polls in its own thread and posts :class:`MetricsUpdated`; this screen only
draws. Without an NVIDIA GPU it says so and shows the CPU. Missing readings
show ``n/a``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Static

from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from workbench.metrics_service import MetricsUpdated, service_for

if TYPE_CHECKING:
    from workbench.wiring.metrics import Snapshot

RATES = (0.5, 1.0, 2.0, 4.0, 10.0)


def _num(value: Any) -> float:
    """A reading for a sparkline: n/a (or None) draws as 0."""
    from workbench.wiring.metrics import is_na

    return 0.0 if is_na(value) else float(value)


BLOCKS = " ▁▂▃▄▅▆▇█"


class SparkBar(Widget):
    """One column per sample, newest on the right, on a fixed scale (0..``top``) so 30% looks like 30%."""

    DEFAULT_CSS = """
    SparkBar {
        height: 1;
        color: $primary;
    }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.series: list[float] = []
        self.top: float | None = None

    def set_series(self, series: list[float], top: float | None) -> None:
        self.series, self.top = series, top
        self.refresh()

    def render(self) -> Text:
        width = max(1, self.size.width)
        data = self.series[-width:]
        top = self.top if self.top else max(data, default=0.0)
        cells = []
        for v in data:
            frac = 0.0 if top <= 0 else max(0.0, min(1.0, v / top))
            cells.append(BLOCKS[int(round(frac * (len(BLOCKS) - 1)))])
        return Text(" " * (width - len(data)) + "".join(cells), no_wrap=True)


class MetricRow(Horizontal):
    """A label with the latest value, then a bar chart of the window."""

    def __init__(self, key: str, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="metric-row")
        self.key = key
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="metric-label", markup=False)
        yield Static("", classes="metric-value", markup=False)
        yield SparkBar(classes="metric-spark")

    def show(self, value_text: str, series: list[float], top: float | None = None) -> None:
        self.query_one(".metric-value", Static).update(value_text)
        self.query_one(SparkBar).set_series(series, top)


class MetricsScreen(WorkbenchScreen):
    AREA = "metrics"
    CSS_PATH = "metrics.tcss"

    BINDINGS = [
        Binding("plus,equals_sign", "faster", "Faster", key_display="+"),
        Binding("minus", "slower", "Slower", key_display="-"),
    ]

    _unsubscribe: Callable[[], None] | None = None
    _layout: tuple[int, int] | None = None

    def compose_body(self) -> ComposeResult:
        service = service_for(self.app)
        latest = service.latest
        cores = len(latest.cpu.per_core_pct) if latest else 0
        gpus = latest.gpus if latest else ()
        self._layout = (cores, len(gpus))
        with AreaScroll(id="metrics"):
            yield Static("", id="gpu-status", markup=False)
            yield Static("", id="rate", markup=False)
            yield Static("", id="hint", markup=False)
            with Vertical(id="cpu-panel", classes="metrics-panel") as cpu:
                cpu.border_title = "CPU"
                yield MetricRow("cpu", "all cores", id="row-cpu")
                for i in range(cores):
                    yield MetricRow(f"core{i}", f"core {i}", id=f"row-core{i}")
                yield MetricRow("ram", "RAM", id="row-ram")
                yield MetricRow("rss", "this process", id="row-rss")
            for g in gpus:
                with Vertical(id=f"gpu-panel-{g.index}", classes="metrics-panel") as panel:
                    panel.border_title = f"GPU {g.index}"
                    yield MetricRow(f"gpu{g.index}-util", "busy", id=f"row-gpu{g.index}-util")
                    yield MetricRow(f"gpu{g.index}-mem", "memory", id=f"row-gpu{g.index}-mem")
                    yield MetricRow(f"gpu{g.index}-power", "power", id=f"row-gpu{g.index}-power")
                    yield MetricRow(f"gpu{g.index}-temp", "temperature", id=f"row-gpu{g.index}-temp")
                    yield Static("", id=f"gpu{g.index}-detail", classes="gpu-detail", markup=False)

    def on_mount(self) -> None:
        service = service_for(self.app)
        self._unsubscribe = service.subscribe(self)
        self.refresh_readings()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def on_metrics_updated(self, message: MetricsUpdated) -> None:
        snap = message.snapshot
        if (len(snap.cpu.per_core_pct), len(snap.gpus)) != self._layout:
            await self.refresh_body()          # a GPU appeared or the core count changed
        self.refresh_readings()

    async def on_model_loaded(self, message: Any) -> None:
        self.refresh_readings()                # readings do not depend on the model: keep the rows

    def refresh_readings(self) -> None:
        from workbench.wiring.metrics import fmt_bytes, fmt_num, fmt_pct

        service = service_for(self.app)
        history = service.history()
        if not history or not self.query("#gpu-status"):
            return
        snap = history[-1]
        if snap.gpus:
            names = ", ".join(str(g.name) for g in snap.gpus)
            status = f"{snap.gpu_status}: {names}"
        else:
            status = "no NVIDIA GPU detected: showing CPU"
            if snap.gpu_status and "no NVIDIA GPU detected" not in snap.gpu_status:
                status += f" ({snap.gpu_status})"
        self.query_one("#gpu-status", Static).update(status)
        sampler = service.sampler
        self.query_one("#rate", Static).update(
            f"sampling at {sampler.hz:g} Hz (+/- to change) · window {len(history)} samples"
            f" · last poll {snap.poll_ms:.1f} ms")
        self.query_one("#hint", Static).update(self._hint_text())
        self._row("cpu", f"{snap.cpu.total_pct:.0f}%", [h.cpu.total_pct for h in history], 100.0)
        for i, pct in enumerate(snap.cpu.per_core_pct):
            self._row(f"core{i}", f"{pct:.0f}%",
                      [h.cpu.per_core_pct[i] if i < len(h.cpu.per_core_pct) else 0.0 for h in history], 100.0)
        self._row("ram", f"{fmt_bytes(snap.cpu.ram_used)} / {fmt_bytes(snap.cpu.ram_total)}",
                  [float(h.cpu.ram_used) for h in history], float(snap.cpu.ram_total) or None)
        self._row("rss", fmt_bytes(snap.cpu.rss), [float(h.cpu.rss) for h in history])
        for g in snap.gpus:
            series = [next((x for x in h.gpus if x.index == g.index), None) for h in history]
            self._row(f"gpu{g.index}-util", fmt_pct(g.util_pct), [_num(x.util_pct if x else None) for x in series],
                      100.0)
            self._row(f"gpu{g.index}-mem", f"{fmt_bytes(g.mem_used)} / {fmt_bytes(g.mem_total)}",
                      [_num(x.mem_used if x else None) for x in series], _num(g.mem_total) or None)
            power, limit = fmt_num(g.power_w, unit="W"), fmt_num(g.power_limit_w, unit="W")
            self._row(f"gpu{g.index}-power", f"{power} / {limit}", [_num(x.power_w if x else None) for x in series],
                      _num(g.power_limit_w) or None)
            temp = fmt_num(g.temp_c, unit="°C")
            self._row(f"gpu{g.index}-temp", temp, [_num(x.temp_c if x else None) for x in series], 100.0)
            self._gpu_detail(g)

    def _row(self, key: str, value: str, series: list[float], top: float | None = None) -> None:
        rows = self.query(f"#row-{key}")
        if rows:
            rows.first(MetricRow).show(value, series, top)

    def _gpu_detail(self, g: Any) -> None:
        from workbench.wiring.metrics import fmt_bytes, fmt_num

        if g.lost:
            text = "the GPU stopped answering: readings n/a"
        else:
            procs = ", ".join(f"pid {p.pid}: {fmt_bytes(p.used_bytes)}" for p in g.processes[:6]) or "none"
            text = (f"SM clock {fmt_num(g.sm_clock_mhz, unit='MHz')} · "
                    f"memory clock {fmt_num(g.mem_clock_mhz, unit='MHz')} · "
                    f"this process {fmt_bytes(g.this_process_mem)} · processes: {procs}")
        self.query_one(f"#gpu{g.index}-detail", Static).update(text)

    def _hint_text(self) -> str:
        from workbench.wiring.metrics import right_sizing_hint

        v = self.session.selected_variant
        metrics = (v.metrics if v is not None else {}) or {}
        run_metrics = metrics.get("run_metrics")
        if run_metrics:
            batch = (metrics.get("throughput") or {}).get("batch", 1)
            return f"Last benchmark of {v.name}: {right_sizing_hint(run_metrics, batch)}"
        sweep = self.session.model_state.sweep
        if sweep is not None and sweep.points:
            p = sweep.points[0]
            return f"Batch sweep, batch {p.batch}: {right_sizing_hint(p.run_metrics, p.batch)}"
        return "Benchmark a variant (Optimize) or run a batch sweep (Batching) for a right-sizing hint."

    def _set_rate(self, step: int) -> None:
        sampler = service_for(self.app).sampler
        idx = min(range(len(RATES)), key=lambda i: abs(RATES[i] - sampler.hz))
        hz = RATES[max(0, min(len(RATES) - 1, idx + step))]
        sampler.set_hz(hz)
        self.refresh_readings()

    def action_faster(self) -> None:
        self._set_rate(+1)

    def action_slower(self) -> None:
        self._set_rate(-1)
