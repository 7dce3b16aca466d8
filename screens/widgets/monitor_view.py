"""The Deploy screen's live view of a deployed endpoint: CloudWatch metrics and cost so far, re-read on a timer.

Polls never overlap (Dolphie's rule): the next read is scheduled only when the last one finished. ``w``
starts and stops watching; nothing here calls AWS: the screen runs the read as a task and hands the lines in.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from textual.widgets import Static

POLL_S = 30.0


class MonitorView(Static):
    DEFAULT_CSS = """
    MonitorView {
        display: none;
        height: auto;
        border: round $accent;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)
        self.watching = False
        self.endpoint = ""
        self.reads = 0
        self._timer: Any = None

    def start(self, endpoint: str) -> None:
        self.watching, self.endpoint = True, endpoint
        self.border_title = f"Watching {endpoint} — CloudWatch, every {POLL_S:g} s (w stops)"
        self.update(f"Reading CloudWatch for {endpoint}…")
        self.display = True

    def stop(self) -> None:
        self.watching = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.border_title = f"{self.endpoint}: not watching (w watches again)"

    def show(self, lines: list[str] | None, error: str | None = None) -> None:
        self.reads += 1
        stamp = time.strftime("%H:%M:%S UTC", time.gmtime())
        body = [f"could not read {self.endpoint}: {error}"] if error else list(lines or [])
        self.update("\n".join(body + [f"read at {stamp}" + (f"; next in {POLL_S:g} s" if self.watching else "")]))

    def schedule(self, poll: Callable[[], None]) -> None:
        if self.watching:
            self._timer = self.set_timer(POLL_S, poll)
