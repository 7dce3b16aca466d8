"""The traffic inputs Cost and Deploy share: avg and peak req/s, active h/day, payload encoding.

One :class:`workbench.session.Traffic` lives in the session; each screen shows
it through a ``TrafficInputs`` row. A valid edit is written to the session at
once; the other area reads it back when it is shown again (:meth:`sync`), so a
change in one area shows in the other.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Select

from screens.widgets.fields import NumberField

FIELDS = (("rps", "avg_rps", "avg req/s"), ("peak", "peak_rps", "peak req/s"), ("hours", "hours_per_day", "h/day"))
PAYLOADS = [("JSON", "application/json"), ("NPY", "application/x-npy")]


def _text(x: float) -> str:
    return f"{x:g}"


class TrafficInputs(Horizontal):
    """``prefix``-rps, -peak, -hours number fields and a -payload select, bound to ``session.traffic``."""

    DEFAULT_CSS = """
    TrafficInputs { height: 1; margin-bottom: 1; }
    TrafficInputs .traffic-label { width: auto; padding: 0 1; color: $text-muted; }
    TrafficInputs NumberField { width: 8; }
    TrafficInputs Select { width: 10; }
    """

    def __init__(self, traffic: Any, *, prefix: str, id: str | None = None) -> None:
        super().__init__(id=id or f"{prefix}-traffic")
        self.traffic, self.prefix = traffic, prefix

    def compose(self) -> ComposeResult:
        for ident, attr, label in FIELDS:
            yield Label(label, classes="traffic-label")
            yield NumberField(_text(getattr(self.traffic, attr)), name=label, integer=False, minimum=0,
                              maximum=24 if attr == "hours_per_day" else None, id=f"{self.prefix}-{ident}")
        yield Label("payload", classes="traffic-label")
        yield Select(PAYLOADS, value=self.traffic.content_type, allow_blank=False, compact=True,
                     id=f"{self.prefix}-payload")

    def on_input_changed(self, event: Input.Changed) -> None:
        """A value that parses goes to the session at once (the other area shows it when visited)."""
        for ident, attr, _ in FIELDS:
            if event.input.id == f"{self.prefix}-{ident}" and isinstance(event.input, NumberField):
                if event.input.problem() is None and event.input.value.strip():
                    setattr(self.traffic, attr, float(event.input.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == f"{self.prefix}-payload" and isinstance(event.value, str):
            self.traffic.content_type = event.value

    def sync(self) -> bool:
        """Show the session's values (changed in the other area); True when something changed."""
        changed = False
        for ident, attr, _ in FIELDS:
            field = self.query_one(f"#{self.prefix}-{ident}", NumberField)
            want = getattr(self.traffic, attr)
            try:
                same = float(field.value) == want
            except ValueError:
                same = False
            if not same:
                field.value, changed = _text(want), True
        sel = self.query_one(f"#{self.prefix}-payload", Select)
        if sel.value != self.traffic.content_type:
            sel.value, changed = self.traffic.content_type, True
        return changed

    def values(self) -> dict[str, Any]:
        """The fields as numbers; ``ValueError`` with the inline message when one is not accepted."""
        out: dict[str, Any] = {attr: float(self.query_one(f"#{self.prefix}-{ident}", NumberField).number() or 0)
                               for ident, attr, _ in FIELDS}
        out["content_type"] = str(self.query_one(f"#{self.prefix}-payload", Select).value)
        return out
