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


def first_line(exc: BaseException | str, limit: int = 200, *, cause: bool = False) -> str:
    """The first non-empty line of an error (or its type name), cut to ``limit`` characters.

    ``cause=True`` adds the last line when the first one hides the cause (a short header, a line ending in
    ":", a "Traceback" line): runtimes such as ONNX Runtime put the reason at the end.
    """
    text = (exc if isinstance(exc, str) else str(exc)).strip()
    if not text:
        return "" if isinstance(exc, str) else type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[0]
    if cause and len(lines) > 1 and (len(line) < 60 or line.endswith(":") or "Traceback" in line):
        line = f"{line} … {lines[-1]}"
    return line if len(line) <= limit else line[: limit - 1] + "…"
