"""CLI progress on stderr with rich.progress (never on stdout, which ``--json`` owns).

Shown only when stderr is a terminal; a pipe or CI log gets nothing. Engines
report through :class:`engines.tasks.TaskContext`; this is its CLI callback.
"""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """A ``TaskContext`` callback that drives one rich progress bar; call :meth:`done` at the end."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._task: Any = None

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

        self._bar = RichProgress(TextColumn("{task.percentage:>3.0f}%"), BarColumn(bar_width=24),
                                 TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=Console(file=sys.stderr), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("starting", total=1.0)

    def __call__(self, ev: Any) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._start()
        kw: dict[str, Any] = {"description": str(ev.message)[:100]}
        if ev.fraction is not None:
            kw["completed"] = float(ev.fraction)
        self._bar.update(self._task, **kw)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
