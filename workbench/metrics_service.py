"""The app-wide live metrics: one sampler per app, ticks delivered as messages.

The sampler (:class:`engines.measure.metrics.Sampler`) polls in its own thread, so the
UI never waits on psutil or NVML. Widgets that show metrics call
:func:`subscribe` when mounted; each tick posts a :class:`MetricsUpdated` to
them (``post_message`` is thread-safe, and a newer tick replaces an older one
still queued). ``install(app)`` starts the service with the app and
``shutdown(app)`` stops it; a widget mounted first starts it on demand.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from textual.message import Message

if TYPE_CHECKING:
    from textual.app import App
    from textual.widget import Widget

    from engines.measure.metrics import Sampler, Snapshot


class MetricsUpdated(Message):
    """A new metrics snapshot (``snapshot``) is available."""

    def __init__(self, snapshot: "Snapshot") -> None:
        self.snapshot = snapshot
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsUpdated)


class MetricsService:
    def __init__(self, hz: float = 2.0, window: int = 120, deterministic: bool | None = None,
                 sampler: "Sampler | None" = None) -> None:
        from engines.measure.metrics import Sampler

        self.sampler = sampler or Sampler(hz=hz, window=window, deterministic=deterministic)
        self._widgets: list["Widget"] = []
        self._lock = threading.Lock()
        self._unsub: Callable[[], None] | None = None
        self.started = False

    def start(self) -> "MetricsService":
        self.started = True
        if self._unsub is None:
            self._unsub = self.sampler.subscribe(self._deliver)
        self.sampler.start()
        return self

    def stop(self) -> None:
        self.sampler.stop()
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    @property
    def latest(self) -> "Snapshot | None":
        return self.sampler.latest

    def history(self) -> list["Snapshot"]:
        return self.sampler.history()

    @property
    def gpu_status(self) -> str:
        return self.sampler.gpu_status

    def subscribe(self, widget: "Widget") -> Callable[[], None]:
        with self._lock:
            self._widgets.append(widget)

        def unsubscribe() -> None:
            with self._lock:
                if widget in self._widgets:
                    self._widgets.remove(widget)

        return unsubscribe

    def _deliver(self, snap: "Snapshot") -> None:
        with self._lock:
            widgets = list(self._widgets)
        for w in widgets:
            w.post_message(MetricsUpdated(snap))


def service_for(app: "App") -> MetricsService:
    """The app's metrics service, created and started on first use."""
    service: MetricsService | None = getattr(app, "metrics_service", None)
    if service is None:
        config: Any = getattr(app, "config", None)
        hz = float(getattr(config, "refresh_hz", 2.0) or 2.0)
        deterministic = getattr(config, "deterministic", None)
        service = MetricsService(hz=hz, deterministic=deterministic)
        app.metrics_service = service  # type: ignore[attr-defined]
    if not service.started:
        service.start()
    return service


def install(app: "App") -> MetricsService:
    return service_for(app)


def shutdown(app: "App") -> None:
    service: MetricsService | None = getattr(app, "metrics_service", None)
    if service is not None:
        service.stop()
