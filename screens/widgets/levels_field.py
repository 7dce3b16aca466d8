"""A field for a comma-separated list of whole numbers (Batching's concurrency levels).

It is a :class:`~screens.widgets.fields.NumberField` to the form's inline error line: only digits, commas
and spaces can be typed, and what is wrong (an empty list, a level out of range) is said under the form.
"""

from __future__ import annotations

from screens.widgets.fields import NumberField


class LevelsField(NumberField):
    def __init__(self, value: str, *, name: str, minimum: int = 1, maximum: int = 512, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(value, name=name, integer=True, minimum=minimum, maximum=maximum, id=id, classes=classes)
        self.type = "text"                  # a list: digits, commas and spaces only
        self.restrict = r"[0-9, ]*"
        self.validators = []                # checked by problem(), said on the form's error line

    def _parts(self) -> list[str]:
        return [x.strip() for x in self.value.split(",") if x.strip()]

    def problem(self) -> str | None:
        parts = self._parts()
        if not parts:
            return f"{self.label} needs at least one whole number, e.g. 1,8,32"
        if any(not p.isdigit() for p in parts):
            return f"{self.label} must be whole numbers separated by commas, not {self.value!r}"
        levels = [int(p) for p in parts]
        if min(levels) < self.minimum or max(levels) > self.maximum:
            return f"{self.label} must each be between {self.minimum} and {self.maximum}"
        return None

    def levels(self) -> list[int]:
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)
        return [int(p) for p in self._parts()]
