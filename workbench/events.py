"""Typed messages between workers, screens and the app."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ModelLoaded(Message):
    """A model was opened and inspected; ``session.model_info`` is set."""

    def __init__(self, info: Any) -> None:
        self.info = info
        super().__init__()


class VariantsChanged(Message):
    """The workspace gained, lost or re-measured variants."""


class VariantSelected(Message):
    def __init__(self, variant_id: str | None) -> None:
        self.variant_id = variant_id
        super().__init__()


class TaskProgress(Message):
    """Progress of a long task (coalesced: a newer one replaces an older one of the same task)."""

    def __init__(self, task: str, fraction: float | None, text: str) -> None:
        self.task = task
        self.fraction = fraction
        self.text = text
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskProgress) and message.task == self.task


class TaskDone(Message):
    """A long task finished: ``result`` on success, ``error`` (one line) on failure, or ``cancelled``."""

    def __init__(self, task: str, result: Any = None, error: str | None = None, cancelled: bool = False) -> None:
        self.task = task
        self.result = result
        self.error = error
        self.cancelled = cancelled
        super().__init__()


class ModelLoadFailed(Message):
    """Opening a model failed (``error`` is one line); the previous model, if any, stays loaded."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__()
