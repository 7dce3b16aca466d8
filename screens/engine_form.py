"""Engine's build form: source, backend, precision, device, batch profile, each backend's own options.

Composed by :class:`screens.engine.EngineScreen` (its rules are in ``screens/engine.tcss``); which options show
and are checked for the chosen backend is the screen's ``_refresh_avail``.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Checkbox, Label, Select

from screens.widgets.fields import FieldErrors, NumberField
from screens.widgets.variant_picker import VariantPicker
from workbench.wiring import engine as wiring
from workbench.wiring.variants import BUILD_SOURCES

FRONTENDS = [("ONNX export", "onnx"), ("PyTorch model", "pytorch")]
BATCH = (("en-min", "1", "min batch"), ("en-opt", "8", "opt batch"), ("en-max", "32", "max batch"))


def compose_form() -> ComposeResult:
    """The form's rows, from the source picker to the Build button and the inline field errors."""
    yield VariantPicker(BUILD_SOURCES, label="Source")
    with Horizontal(classes="en-row"):
        yield Label("Backend", classes="en-label")
        yield Select(wiring.backend_choices(), value="ort", allow_blank=False, compact=True, id="en-backend")
    with Horizontal(classes="en-row"):
        yield Label("Precision", classes="en-label")
        yield Select(wiring.precision_choices(), value="fp32", allow_blank=False, compact=True, id="en-precision")
        yield Label("Device", classes="en-label")
        yield Select(wiring.device_choices(), value="cpu", allow_blank=False, compact=True, id="en-device")
        yield Label("Batch min/opt/max", classes="en-label")
        for ident, value, name in BATCH:
            yield NumberField(value, name=name, minimum=1, id=ident, classes="en-num")
    with Horizontal(classes="en-row", id="en-options"):
        with Horizontal(id="en-trt", classes="en-group"):   # TensorRT only
            yield Label("TRT workspace MB", classes="en-label")
            yield NumberField("1024", name="TRT workspace MB", minimum=16, id="en-wsmb", classes="en-num")
            yield Checkbox("2:4 sparse", id="en-sparse", compact=True)
        with Horizontal(id="en-ov", classes="en-group"):    # OpenVINO only
            yield Label("Frontend", classes="en-label")
            yield Select(FRONTENDS, value="onnx", allow_blank=False, compact=True, id="en-frontend",
                         tooltip="convert the ONNX export, or the PyTorch model itself (convert_model)")
            yield Checkbox("accuracy control", id="en-acc", compact=True,
                           tooltip="INT8 with NNCF accuracy control: layers costing over 1 point stay "
                                   "float (needs labels)")
        yield Label("Timeout s", classes="en-label")
        yield NumberField("900", name="timeout", minimum=1, id="en-timeout", classes="en-num")
        yield Button("Build", id="en-build", variant="primary", compact=True, tooltip="build the engine (b)")
    yield FieldErrors(id="en-errors")
