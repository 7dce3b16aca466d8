"""Batching's form: the model to serve, the server and sweep numbers, the buttons; reading the model back.

Composed by :class:`screens.batching.BatchingScreen` (its rules are in ``screens/batching.tcss``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label

from screens.widgets.fields import FieldErrors, NumberField
from screens.widgets.levels_field import LevelsField
from workbench.formatting import REPO_ROOT, display_path
from workbench.wiring import batching as wiring

# (label, id, default, whole number, minimum); "levels" is a comma-separated list
NUMBERS = (("max batch", "bt-max-batch", "32", True, 1), ("delay ms", "bt-delay", "5", False, 0),
           ("p99 ms", "bt-budget", "50", False, 0.1), ("levels", "bt-levels", "1,8,32", True, 1),
           ("reqs", "bt-requests", "300", True, 1))


def compose_form(target: Any) -> ComposeResult:
    """The model row (``target``'s path, else empty), the numbers, the buttons and the inline field errors."""
    with Horizontal(classes="bt-row"):
        yield Label("Model", classes="bt-label")
        yield Input(display_path(target.path) if target else "", placeholder="an .onnx or .tflite file",
                    id="bt-model", compact=True)
    with Horizontal(classes="bt-row"):
        for label, ident, value, integer, low in NUMBERS:
            yield Label(label, classes="bt-label")
            if ident == "bt-levels":
                yield LevelsField(value, name=label, id=ident, classes="bt-num")
            else:
                yield NumberField(value, name=label, integer=integer, minimum=low, id=ident,
                                  classes="bt-num")
    with Horizontal(classes="bt-row", id="bt-buttons"):
        yield Button("Start", id="bt-start", compact=True, variant="primary", tooltip="start the server (s)")
        yield Button("Stop", id="bt-stop", compact=True, tooltip="stop the server gracefully (s)")
        yield Button("Sweep", id="bt-sweep", compact=True, tooltip="batch sweep and recommendation (w)")
        yield Button("On vs off", id="bt-compare", compact=True,
                     tooltip="load the server with batching on, then off (c)")
        yield Button("Triton", id="bt-triton", compact=True, tooltip="export a Triton model repository (t)")
    yield FieldErrors(id="bt-errors")   # under the buttons: showing it moves no button


def placeholder(session: Any, target: Any) -> str:
    """What the results column says before any result: what to press, or why there is nothing to serve."""
    if target is not None:
        return "Results appear here: batch sweep (w) and batching on vs off (c)."
    info = session.model_info
    if info is not None and session.model_path is not None:
        from workbench.wiring.model import format_label

        return (f"{Path(session.model_path).name} is {format_label(info.format)}: serving takes its exported "
                "baseline (ONNX or TFLite), not built yet. Press b to export and benchmark it (or type an .onnx/.tflite path).")
    return "No model open: press o to open one, or type the path of an .onnx or .tflite file above."


def read_target(raw: str, session: Any) -> Any:
    """The model typed in the Model field as a serving target; ValueError says what is wrong with it."""
    raw = raw.strip()
    if not raw:
        if session.model_path is not None:
            raise ValueError(f"{Path(session.model_path).name} has no baseline to serve yet: press b to "
                             "build it, or type the path of an .onnx or .tflite file")
        raise ValueError("no model: type the path of an .onnx or .tflite file")
    path = Path(raw).expanduser()
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path              # shown relative to the repository
    target = wiring.target_from_path(path)
    if target is None:
        raise ValueError(f"{raw} is not an .onnx or .tflite file")
    return target
