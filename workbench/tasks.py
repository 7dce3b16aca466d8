"""Run an engine function in a cancellable thread worker, reporting with typed messages.

Usage from a screen (``target`` is the widget that receives the messages)::

    run_task(self, "quantize", engine_fn, arg1, kw=...)

``engine_fn`` must accept ``task=`` (a :class:`engines.tasks.TaskContext`).
Progress arrives as :class:`TaskProgress`; the end as :class:`TaskDone`
(with ``result``, a one-line ``error`` for a :class:`WorkbenchError` or any
other exception, or ``cancelled``). Cancel with ``worker.cancel()``: the
engine sees it at its next ``task.check()``.
"""

from __future__ import annotations

from engines.errors import first_line

from typing import Any, Callable

from textual.widget import Widget
from textual.worker import Worker, get_current_worker

from workbench.events import TaskDone, TaskProgress


def run_task(target: Widget, name: str, fn: Callable[..., Any], *args: Any, exclusive: bool = True,
             **kwargs: Any) -> Worker:
    from engines.errors import Cancelled, WorkbenchError
    from engines.tasks import TaskContext

    def body() -> None:
        worker = get_current_worker()
        ctx = TaskContext(
            on_progress=lambda ev: target.post_message(TaskProgress(name, ev.fraction, ev.message)),
            is_cancelled=lambda: worker.is_cancelled,
        )
        try:
            result = fn(*args, task=ctx, **kwargs)
        except Cancelled:
            target.post_message(TaskDone(name, cancelled=True))
        except WorkbenchError as exc:
            target.post_message(TaskDone(name, error=str(exc)))
        except Exception as exc:  # an engine bug still reaches the user as one line, app keeps running
            first = first_line(exc)
            target.post_message(TaskDone(name, error=f"{type(exc).__name__}: {first}"))
        else:
            if worker.is_cancelled:
                target.post_message(TaskDone(name, cancelled=True))
            else:
                target.post_message(TaskDone(name, result=result))

    return target.run_worker(body, name=name, group=name, thread=True, exclusive=exclusive,
                             exit_on_error=False, description=name)
