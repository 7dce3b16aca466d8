"""Number fields that take only numbers and say inline what is wrong with them.

``NumberField`` is an :class:`~textual.widgets.Input` of type ``integer`` or
``number`` (other characters are not accepted) with a range validator. A
screen puts one :class:`FieldErrors` line under its form; it lists the invalid
fields that are enabled, so a field that does not apply to the chosen options
(disabled by the screen) is never checked. ``value_of`` reads a field for a
task and raises ``ValueError`` with the same one-line message.
"""

from __future__ import annotations

from typing import Iterable

from textual.validation import Integer, Number
from textual.widget import Widget
from textual.widgets import Input, Static


class NumberField(Input):
    """A compact numeric input: ``name`` is how the error line calls it."""

    def __init__(self, value: str, *, name: str, integer: bool = True, minimum: float | None = None,
                 maximum: float | None = None, optional: bool = False, id: str | None = None,
                 classes: str | None = None, placeholder: str = "") -> None:
        kind = Integer if integer else Number
        super().__init__(value, type="integer" if integer else "number",
                         validators=[kind(minimum=minimum, maximum=maximum)],
                         valid_empty=optional, id=id, classes=classes, compact=True, placeholder=placeholder)
        self.label, self.integer, self.minimum, self.maximum = name, integer, minimum, maximum
        self.optional = optional

    def problem(self) -> str | None:
        """The one-line reason this field's value is not accepted, or None."""
        raw = self.value.strip()
        if not raw and self.optional:
            return None
        try:
            value = int(raw) if self.integer else float(raw)
        except ValueError:
            return f"{self.label} must be {'a whole number' if self.integer else 'a number'}, not {raw!r}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.label} must be at least {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.label} must be at most {self.maximum:g}"
        return None

    def number(self) -> float | int | None:
        """The value (None when optional and empty); ``ValueError`` with the inline message otherwise."""
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)
        raw = self.value.strip()
        if not raw:
            return None
        return int(raw) if self.integer else float(raw)


class FieldErrors(Static):
    """One line under a form naming the enabled fields whose values are not accepted."""

    DEFAULT_CSS = """
    FieldErrors { height: auto; color: $text-error; }
    FieldErrors.-empty { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="field-errors -empty", markup=False)

    def show(self, fields: Iterable[NumberField]) -> list[str]:
        problems = [p for f in fields if not f.disabled and (p := f.problem())]
        self.update(" · ".join(f"✗ {p}" for p in problems))
        self.set_class(not problems, "-empty")
        return problems


def check_fields(root: Widget) -> list[str]:
    """Refresh every :class:`FieldErrors` under ``root`` from its enabled number fields; the problems."""
    fields = list(root.query(NumberField))
    problems: list[str] = []
    for errors in root.query(FieldErrors):
        problems = errors.show(fields)
    return problems
