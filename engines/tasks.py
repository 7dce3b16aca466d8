"""Progress reporting and cancellation for long engine tasks.

Engines never know about Textual. A long function takes an optional
``task: TaskContext`` and calls ``task.report(fraction, message)`` and
``task.check()`` (raises :class:`Cancelled` once cancel was asked). The TUI
builds a context whose callback posts a Textual message; the CLI prints.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from engines.errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    fraction: float | None  # 0..1, or None when unknown
    message: str


ProgressCallback = Callable[[ProgressEvent], None]


class TaskContext:
    """Carries a progress callback and a cancel flag into engine code."""

    def __init__(
        self,
        on_progress: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self._on_progress = on_progress
        self._cancel_event = cancel_event or threading.Event()
        self._is_cancelled = is_cancelled

    def report(self, fraction: float | None, message: str) -> None:
        self.check()
        if self._on_progress is not None:
            if fraction is not None:
                fraction = min(1.0, max(0.0, float(fraction)))
            self._on_progress(ProgressEvent(fraction, message))

    def cancel(self) -> None:
        self._cancel_event.set()

    @property
    def cancelled(self) -> bool:
        if self._cancel_event.is_set():
            return True
        return bool(self._is_cancelled and self._is_cancelled())

    def check(self) -> None:
        """Raise :class:`Cancelled` if the task was cancelled."""
        if self.cancelled:
            raise Cancelled("cancelled")

    def sub(self, start: float, end: float) -> "TaskContext":
        """A child context mapping its 0..1 progress into [start, end]."""
        parent = self

        def forward(ev: ProgressEvent) -> None:
            frac = None if ev.fraction is None else start + (end - start) * ev.fraction
            if parent._on_progress is not None:
                parent._on_progress(ProgressEvent(frac, ev.message))

        return TaskContext(forward, self._cancel_event, self._is_cancelled)


def ensure_task(task: TaskContext | None) -> TaskContext:
    return task if task is not None else TaskContext()
