"""A progress bar, a status line and a Cancel button for one long task at a time.

Screens start work through the panel so its messages reach it::

    panel = self.query_one(TaskPanel)
    panel.start("quantize", engine_fn, model_path, mode="int8")

:class:`workbench.events.TaskProgress` and :class:`workbench.events.TaskDone`
update the panel and then bubble on to the screen, which reads the result in
its own ``on_task_done`` handler.
"""

from __future__ import annotations

from typing import Any, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, ProgressBar, Static
from textual.worker import Worker

from workbench.events import TaskDone, TaskProgress
from workbench.tasks import run_task


class TaskPanel(Horizontal):
    """Shows the progress of the task it started; cancel with the button or Escape."""

    DEFAULT_CSS = """
    TaskPanel {
        height: 1;
        width: 1fr;
    }
    TaskPanel > ProgressBar {
        width: auto;
        padding-right: 1;
    }
    TaskPanel > ProgressBar > Bar {
        width: 20;
    }
    TaskPanel > .task-status {
        width: 1fr;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    TaskPanel > Button {
        min-width: 8;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel task", show=False)]

    def __init__(self, idle_text: str = "Idle", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.idle_text = idle_text
        self.worker: Worker | None = None
        self.task_name: str | None = None

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, show_percentage=True)
        yield Static(self.idle_text, classes="task-status", markup=False)
        yield Button("Cancel", variant="error", compact=True, disabled=True, classes="task-cancel")

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.is_finished

    def start(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Worker:
        """Run ``fn(*args, task=ctx, **kwargs)`` in a thread worker reporting to this panel."""
        self.task_name = name
        self._set(0.0, f"{name}: starting…", running=True)
        self.worker = run_task(self, name, fn, *args, **kwargs)
        return self.worker

    def cancel(self) -> bool:
        """Ask the running task to stop; the engine stops at its next ``task.check()``."""
        if not self.running:
            return False
        assert self.worker is not None
        self.worker.cancel()
        self.query_one(Static).update(f"{self.task_name}: cancelling…")
        return True

    def set_status(self, text: str) -> None:
        self.query_one(Static).update(text)

    def action_cancel(self) -> None:
        self.cancel()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.cancel()

    def on_task_progress(self, message: TaskProgress) -> None:
        if message.task == self.task_name:
            self._set(message.fraction, f"{message.task}: {message.text}", running=True)

    def on_task_done(self, message: TaskDone) -> None:
        if message.task != self.task_name:
            return
        if message.cancelled:
            self._set(None, f"{message.task}: cancelled", running=False)
        elif message.error:
            self._set(None, f"{message.task} failed: {message.error}", running=False)
        else:
            self._set(1.0, f"{message.task}: done", running=False)

    def _set(self, fraction: float | None, text: str, *, running: bool) -> None:
        if fraction is not None:
            self.query_one(ProgressBar).update(progress=round(100 * fraction, 1))
        self.query_one(Static).update(text)
        self.query_one(Button).disabled = not running
        self.set_class(running, "-running")
