"""Optimize's recipe form: quantization, pruning with its schedule, QAT epochs, auto-tune limits.

Number fields take only numbers and say inline what is wrong (``screens.widgets.fields``); a field that does
not apply to the chosen options is hidden and disabled, so it is never checked. :func:`problems` names what
is wrong with the fields one action needs (Apply, Auto-tune, the curve), so a bad budget never blocks Apply.
"""

from __future__ import annotations

from typing import Any, Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Label, Select, Static

from screens.widgets.fields import FieldErrors, NumberField
from screens.widgets.percent_slider import PercentSlider
from workbench.wiring import curve as curve_wiring
from workbench.wiring import optimize as wiring

INT8_ONLY = ("#row-format", "#row-types", "#per-channel")
CALIBRATED = ("#row-calibration", "#row-samples")
SCHEDULES = [("one-shot", "one-shot"), ("iterative", "iterative"), ("regularized", "regularized")]
# the fields each action reads (only the enabled ones are checked)
FIELDS = {"apply": ("calib-samples", "qat-epochs", "prune-steps", "reg-epochs", "recover"),
          "tune": ("max-drop", "budget"),
          "curve": ("prune-steps", "reg-epochs", "recover", "curve-amounts", "max-drop")}


class AmountsField(NumberField):
    """Comma-separated pruning amounts in % (or fractions): only digits, commas, points and spaces typed."""

    def __init__(self, value: str, *, id: str) -> None:
        super().__init__(value, name="curve amounts", id=id)
        self.type = "text"
        self.restrict = r"[0-9., %]*"
        self.validators = []

    def problem(self) -> str | None:
        return curve_wiring.amounts_problem(self.value.replace("%", ""))

    def number(self) -> Any:   # the text, checked
        if (p := self.problem()) is not None:
            raise ValueError(p)
        return self.value.replace("%", "")


def _row(label: str, *widgets: Any, id: str, tip: str | None = None) -> Horizontal:
    row = Horizontal(Label(label, classes="opt-label"), *widgets, id=id, classes="opt-row")
    row.tooltip = tip
    return row


def compose_controls(fmt: str | None) -> ComposeResult:
    modes = wiring.quant_modes(fmt)
    first = wiring.default_mode(fmt)
    yield Label("Quantization", classes="opt-title")
    yield Select(modes, value=first, allow_blank=False, id="quant", compact=True)
    yield Static(wiring.mode_hint(first), id="mode-hint")
    yield _row("format", Select([("QDQ", "qdq"), ("QOperator", "qoperator")], value="qdq", allow_blank=False,
                                id="format", compact=True), id="row-format")
    yield _row("act/wt", Select([("U8", "u8"), ("S8", "s8")], value="u8", allow_blank=False, id="act", compact=True),
               Select([("S8", "s8"), ("U8", "u8")], value="s8", allow_blank=False, id="weights", compact=True),
               id="row-types")
    yield Checkbox("per-channel weights", True, id="per-channel", compact=True)
    yield _row("calib", Select([("MinMax", "minmax"), ("Entropy", "entropy"), ("Percentile", "percentile")],
                               value="minmax", allow_blank=False, id="calibration", compact=True), id="row-calibration")
    yield _row("samples", NumberField("128", name="calibration samples", minimum=1, id="calib-samples"),
               id="row-samples")
    yield _row("QAT", NumberField("2", name="QAT epochs", minimum=1, maximum=100, id="qat-epochs"),
               Label(" epochs"), id="row-qat",
               tip="quantization-aware fine-tune epochs (needs labelled data); then the same ORT QDQ as INT8 static")
    yield Label("Pruning", classes="opt-title")
    yield PercentSlider(0, id="prune")
    yield _row("mode", Select(wiring.prune_modes(), value="structured", allow_blank=False, id="prune-mode",
                              compact=True), id="row-prune-mode")
    yield _row("schedule", Select(SCHEDULES, value="one-shot", allow_blank=False, id="schedule", compact=True),
               id="row-schedule", tip="structured pruning: one-shot (prune, then recover), iterative or "
                                      "regularized; the curve (c) uses it too")
    yield _row("steps", NumberField("3", name="prune steps", minimum=1, maximum=20, id="prune-steps"),
               Label(" rounds"), id="row-steps",
               tip="iterative: prune in N rounds (importance re-ranked each time), the recovery epochs shared "
                   "between them")
    yield _row("reg", NumberField("2", name="regularized epochs", minimum=0, maximum=100, id="reg-epochs"),
               Label(" epochs"), id="row-reg",
               tip="regularized: epochs of group-sparsity training before the one prune (extra training), then "
                   "the recovery epochs")
    yield _row("recover", NumberField("0", name="recovery epochs", minimum=0, maximum=100, id="recover"),
               Label(" epochs"), id="row-recover")
    yield Button("Apply", id="apply", variant="primary", compact=True)
    yield FieldErrors(id="opt-errors")
    yield Label("Auto-tune", classes="opt-title")
    yield _row("max drop", NumberField("1", name="max drop", integer=False, minimum=0, id="max-drop"),
               Label(" pts"), id="row-max-drop")
    yield _row("budget", NumberField("120", name="time budget", minimum=1, id="budget"), Label(" s"), id="row-budget")
    yield Button("Auto-tune", id="tune", compact=True)


def value(root: Widget, selector: str, default: Any = None) -> Any:
    try:
        widget = root.query_one(selector)
    except Exception:
        return default
    return getattr(widget, "value", default)


def number(root: Widget, ident: str, default: float | int) -> Any:
    """A number field's value, or ``default`` when it is hidden, disabled or not accepted (shown inline)."""
    try:
        field = root.query_one(f"#{ident}", NumberField)
        got = None if field.disabled else field.number()
    except Exception:   # absent, or not accepted: the inline error says so, an action refuses to start
        return default
    return default if got is None else got


def read_form(root: Widget) -> dict[str, Any]:
    v = lambda sel, default=None: value(root, sel, default)   # noqa: E731
    return {"quant": v("#quant", "none"), "format": v("#format", "qdq"), "act": v("#act", "u8"),
            "weights": v("#weights", "s8"), "per_channel": v("#per-channel", True), "calibration": v("#calibration"),
            "calib_samples": number(root, "calib-samples", 128), "prune_pct": v("#prune", 0),
            "prune_mode": v("#prune-mode", "structured"), "recover_epochs": number(root, "recover", 0),
            "schedule": v("#schedule", "one-shot"), "prune_steps": number(root, "prune-steps", 3),
            "reg_epochs": number(root, "reg-epochs", 2), "qat_epochs": number(root, "qat-epochs", 2)}


def _show(root: Widget, selectors: Iterable[str], on: bool) -> None:
    for sel in selectors:
        widget = root.query_one(sel)
        widget.display = on
        for field in widget.query(NumberField) if not isinstance(widget, NumberField) else [widget]:
            field.disabled = not on


def sync_controls(root: Widget) -> None:
    """Show (and enable) only the fields the chosen options use; the mode's hint in full."""
    quant = value(root, "#quant", "none")
    _show(root, INT8_ONLY, quant == "int8-static")
    _show(root, CALIBRATED, quant in ("int8-static", "tflite-int8"))
    _show(root, ("#row-qat",), quant == "int8-qat")
    structured = value(root, "#prune-mode", "structured") == "structured"
    schedule = value(root, "#schedule", "one-shot")
    _show(root, ("#row-schedule",), structured)
    _show(root, ("#row-steps",), structured and schedule == "iterative")
    _show(root, ("#row-reg",), structured and schedule == "regularized")
    hint = root.query_one("#mode-hint", Static)
    hint.update(wiring.mode_hint(quant))


def problems(root: Widget, action: str) -> list[str]:
    """What is wrong with the enabled fields ``action`` reads (empty: go)."""
    out = []
    for ident in FIELDS[action]:
        try:
            field = root.query_one(f"#{ident}", NumberField)
        except Exception:
            continue
        if not field.disabled and (p := field.problem()):
            out.append(p)
    return out
