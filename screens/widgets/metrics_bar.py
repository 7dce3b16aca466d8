"""A one-line live metrics bar shown at the bottom of every screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual.widgets import Static

from workbench.metrics_service import MetricsUpdated, service_for

if TYPE_CHECKING:
    from workbench.wiring.metrics import Snapshot


def bar_text(snap: "Snapshot | None", gpu_status: str = "") -> str:
    """Plain text of the bar for ``snap`` (``n/a`` where a reading is missing)."""
    from workbench.wiring.metrics import fmt_bytes, fmt_pct

    if snap is None:
        return "metrics: starting…"
    cpu = snap.cpu
    parts = [f"CPU {cpu.total_pct:.0f}% ({len(cpu.per_core_pct)} cores)",
             f"RAM {fmt_bytes(cpu.ram_used)}/{fmt_bytes(cpu.ram_total)}",
             f"RSS {fmt_bytes(cpu.rss)}"]
    if snap.gpus:
        for g in snap.gpus:
            if g.lost:
                parts.append(f"GPU{g.index} n/a (lost)")
            else:
                parts.append(f"GPU{g.index} {fmt_pct(g.util_pct)} {fmt_bytes(g.mem_used)}/{fmt_bytes(g.mem_total)}")
    else:
        parts.append("no NVIDIA GPU")
    return " │ ".join(parts)


class MetricsBar(Static):
    """CPU %, RAM, this process's RSS and GPU utilisation/memory (or "no NVIDIA GPU")."""

    DEFAULT_CSS = """
    MetricsBar {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, id: str | None = "metrics-bar", classes: str | None = None) -> None:
        super().__init__("metrics: starting…", id=id, classes=classes, markup=False)
        self._unsubscribe: Callable[[], None] | None = None

    def on_mount(self) -> None:
        service = service_for(self.app)
        self._unsubscribe = service.subscribe(self)
        self.update(bar_text(service.latest, service.gpu_status))

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_metrics_updated(self, message: MetricsUpdated) -> None:
        message.stop()
        self.update(bar_text(message.snapshot))
