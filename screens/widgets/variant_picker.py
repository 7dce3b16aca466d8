"""The current-variant picker: one compact selector that Engine, Batching, Cost and Deploy share.

It shows the variant the area acts on (the session's current variant when the area can use it, else the
baseline, said so) with its file, recipe, MACs, size and where/when it was measured. Choosing another one
sets the session's current variant and tells every area (``VariantSelected``); highlighting a row in
Optimize does the same.
"""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static

from workbench.events import VariantSelected
from workbench.wiring import variants as wiring


class VariantPicker(Vertical):
    DEFAULT_CSS = """
    VariantPicker { height: auto; }
    VariantPicker > Horizontal { height: 1; }
    VariantPicker .vp-label { width: auto; padding: 0 1 0 0; text-style: bold; }
    VariantPicker #vp-select { width: 1fr; max-width: 56; }
    VariantPicker #vp-why { width: 1fr; padding: 0 0 0 1; color: $text-muted; }
    VariantPicker #vp-info { height: auto; color: $text-muted; }
    """

    def __init__(self, formats: Iterable[str] = wiring.RUNNABLE, *, label: str = "Variant",
                 id: str | None = "variant-picker") -> None:
        super().__init__(id=id)
        self.formats = tuple(formats)
        self.label = label

    @property
    def session(self):  # noqa: ANN201
        return self.app.session  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        options = wiring.choices(self.session, self.formats)
        v, why = wiring.current(self.session, self.formats)
        with Horizontal():
            yield Label(self.label, classes="vp-label")
            yield Select(options, value=v.id if v is not None else Select.NULL, allow_blank=True,
                         prompt="no variant yet", compact=True, id="vp-select")
            yield Static("" if why == "chosen" else why, id="vp-why", markup=False)
        yield Static(self._info(), id="vp-info", markup=False)

    def _info(self) -> Text | str:
        summary, why = wiring.current_summary(self.session, self.formats)
        if summary is not None:
            return summary.line()
        target = wiring.area_target(self.session, self.formats)
        if target is not None:   # no baseline variant yet: the open model file itself is used
            from workbench.formatting import display_path

            return f"using the open model file {display_path(target.path)} ({target.format})"
        if why.endswith("no baseline yet"):   # said once, beside the selector: here, how to get one
            return "nothing to act on yet: Apply in Optimize (2) exports and times the baseline"
        return why

    @property
    def variant_id(self) -> str | None:
        value = self.query_one("#vp-select", Select).value
        return None if value is Select.NULL else str(value)

    def sync(self) -> None:
        """Follow the session (another area chose a variant, or the variants changed)."""
        select = self.query_one("#vp-select", Select)
        options = wiring.choices(self.session, self.formats)
        v, why = wiring.current(self.session, self.formats)
        with self.prevent(Select.Changed):
            select.set_options(options)
            select.value = v.id if v is not None else Select.NULL
        self.query_one("#vp-why", Static).update("" if why == "chosen" else why)
        self.query_one("#vp-info", Static).update(self._info())

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL:
            return
        vid = str(event.value)
        current, _ = wiring.current(self.session, self.formats)
        if current is not None and current.id == vid:   # the one shown already (also the mount-time event)
            return
        self.session.selected_variant_id = vid
        self.query_one("#vp-why", Static).update("")
        self.query_one("#vp-info", Static).update(self._info())
        self.app.broadcast(lambda: VariantSelected(vid))  # type: ignore[attr-defined]
