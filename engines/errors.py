"""User-facing errors.

Every problem a user can cause (bad path, bad file, bad data, bad option) is
raised as a :class:`WorkbenchError` whose message is one line that says what is
wrong and, where it helps, what to do. The CLI prints it and exits with code 2;
the TUI shows it in an error dialog and keeps running.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can fix; ``str(err)`` is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class ModelLoadError(WorkbenchError):
    """The model file or folder cannot be read as the format it claims."""


class DataError(WorkbenchError):
    """Input data does not fit the model (shape, dtype, missing arrays)."""


class UnsupportedError(WorkbenchError):
    """The operation is not available for this model, format or machine."""


class Cancelled(Exception):
    """Raised inside a long task when the user cancelled it."""


def first_line(exc: BaseException | str, limit: int = 200) -> str:
    """The first non-empty line of an error (or its type name), cut to ``limit`` characters."""
    text = (exc if isinstance(exc, str) else str(exc)).strip()
    line = text.splitlines()[0].strip() if text else (type(exc).__name__ if not isinstance(exc, str) else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
