"""A small focusable slider for a percentage (Textual ships none): keys and mouse.

Left/Right move by ``step``, PageUp/PageDown by ten steps, Home/End to the
ends; a click on the track jumps to that position. Posts
:class:`PercentSlider.Changed` whenever the value changes.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

SUFFIX = 5  # " 95%"


class PercentSlider(Widget, can_focus=True):
    DEFAULT_CSS = """
    PercentSlider {
        height: 1;
        width: 1fr;
        color: $text-muted;
    }
    PercentSlider:focus {
        color: $text;
        background: $boost;
    }
    """

    BINDINGS = [
        Binding("left", "step(-1)", "Less", show=False),
        Binding("right", "step(1)", "More", show=False),
        Binding("pageup", "step(10)", show=False),
        Binding("pagedown", "step(-10)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(1)", show=False),
    ]

    value: reactive[int] = reactive(0)

    class Changed(Message):
        def __init__(self, slider: "PercentSlider", value: int) -> None:
            self.slider = slider
            self.value = value
            super().__init__()

        @property
        def control(self) -> "PercentSlider":
            return self.slider

    def __init__(self, value: int = 0, *, minimum: int = 0, maximum: int = 95, step: int = 5,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.minimum, self.maximum, self.step = minimum, maximum, step
        self.set_reactive(PercentSlider.value, self._clamp(value))

    def _clamp(self, v: int) -> int:
        v = int(round(v / self.step) * self.step)
        return max(self.minimum, min(self.maximum, v))

    def validate_value(self, value: int) -> int:
        return self._clamp(value)

    def watch_value(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Changed(self, new))

    def action_step(self, steps: int) -> None:
        self.value = self.value + steps * self.step

    def action_jump(self, end: int) -> None:
        self.value = self.maximum if end else self.minimum

    def _track_width(self) -> int:
        return max(4, self.size.width - SUFFIX)

    def on_click(self, event: Click) -> None:
        width = self._track_width()
        x = min(max(event.x, 0), width - 1)
        self.value = self.minimum + (self.maximum - self.minimum) * x / max(1, width - 1)
        self.focus()

    def render(self) -> str:
        width = self._track_width()
        frac = (self.value - self.minimum) / max(1, self.maximum - self.minimum)
        knob = min(width - 1, int(round(frac * (width - 1))))
        return "━" * knob + "●" + "─" * (width - 1 - knob) + f" {self.value:>2}%"
