"""Deploy's form: mode, memory, the serverless and real-time fields, names, role and bucket; reading it back.

Composed by :class:`screens.deploy.DeployScreen` (its rules are in ``screens/deploy.tcss``). Only the chosen
mode's number fields are enabled, so the other mode's are never checked; :class:`DeployFieldErrors` adds the
checks between fields (autoscaling min <= count <= max).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select

from screens.widgets.fields import FieldErrors, NumberField
from screens.widgets.traffic_inputs import FIELDS as TRAFFIC_FIELDS

MEMORY = [(f"{m} MB", str(m)) for m in (1024, 2048, 3072, 4096, 5120, 6144)]
# (field, label, default, css width class)
ROWS = [
    [("region", "region", "us-east-1", "w16"), ("name", "name", "", "w1fr")],
    [("max_concurrency", "serverless: max concurrency", "5", "w5"), ("provisioned", "provisioned", "", "w5")],
    [("instance_type", "real-time: instance", "ml.c5.xlarge", "w16"), ("initial_count", "count", "1", "w5")],
    [("min_capacity", "autoscaling: min", "1", "w5"), ("max_capacity", "max", "4", "w5"),
     ("target_invocations", "target inv/min", "", "w8"), ("target_safety", "margin", "0.7", "w5")],
    [("role_arn", "role ARN", "", "w1fr")],
    [("bucket", "S3 bucket", "", "w24"), ("endpoint_url", "endpoint URL", "", "w1fr")],
]

# number fields: (minimum, maximum, optional, integer, the mode they belong to, placeholder); a field of the
# other mode is not checked. An empty target means "derived from the measured throughput x the margin".
NUMERIC = {"max_concurrency": (1, None, False, True, "serverless", ""),
           "provisioned": (0, None, True, True, "serverless", ""),
           "initial_count": (1, None, False, True, "realtime", ""),
           "min_capacity": (1, None, False, True, "realtime", ""),
           "max_capacity": (1, None, False, True, "realtime", ""),
           "target_invocations": (1, None, True, False, "realtime", "auto"),
           "target_safety": (0.01, 1, False, False, "realtime", "")}


class DeployFieldErrors(FieldErrors):
    """The number fields' own problems, then the ones between fields: autoscaling min <= count <= max."""

    def show(self, fields: Any) -> list[str]:
        fields = list(fields)
        problems = [p for f in fields if not f.disabled and (p := f.problem())]
        by_id = {f.id: f for f in fields}
        low, high, count = (by_id.get(f"dp-{k}") for k in ("min_capacity", "max_capacity", "initial_count"))
        if low is not None and high is not None and not low.disabled and not (low.problem() or high.problem()):
            lo, hi = int(low.value), int(high.value)
            if lo > hi:
                problems.append(f"autoscaling min {lo} is above max {hi}")
            elif count is not None and not count.problem() and not lo <= int(count.value) <= hi:
                problems.append(f"count {count.value} is outside autoscaling min-max {lo}-{hi}")
        self.update(" · ".join(f"✗ {p}" for p in problems))
        self.set_class(not problems, "-empty")
        return problems


def compose_form(form: dict[str, str]) -> ComposeResult:
    """Mode and memory, the field rows filled from ``form`` (what was typed before) or the defaults, the
    buttons, then the inline field errors."""
    with Horizontal(classes="dp-row"):
        yield Label("mode", classes="dp-label")
        yield Select([("serverless", "serverless"), ("real-time", "realtime")], allow_blank=False,
                     value=form.get("mode", "serverless"), id="dp-mode", compact=True)
        yield Label("memory", classes="dp-label")
        yield Select(MEMORY, value=form.get("memory_mb", "2048"), allow_blank=False, id="dp-memory_mb",
                     compact=True)
    for row in ROWS:
        with Horizontal(classes="dp-row"):
            for key, label, default, width in row:
                yield Label(label, classes="dp-label")
                if key in NUMERIC:
                    low, high, optional, integer, _, hint = NUMERIC[key]
                    yield NumberField(form.get(key, default), name=label.split(": ")[-1], minimum=low,
                                      maximum=high, optional=optional, integer=integer, id=f"dp-{key}",
                                      classes=width, placeholder=hint)
                else:
                    yield Input(form.get(key, default), id=f"dp-{key}", compact=True, classes=width,
                                placeholder="auto" if key == "name" else "")
    with Horizontal(classes="dp-row", id="dp-buttons"):
        yield Button("Plan", id="dp-plan-btn", compact=True, variant="primary", tooltip="dry run (p)")
        yield Button("Local check", id="dp-local-btn", compact=True, tooltip="serve the package here (l)")
        yield Button("Deploy", id="dp-deploy-btn", compact=True, variant="warning", tooltip="deploy (d)")
        yield Button("Teardown", id="dp-teardown-btn", compact=True, variant="error", tooltip="remove (t)")
    yield DeployFieldErrors(id="dp-errors")   # under the buttons: showing it moves no button


def read_form(screen: Any) -> dict[str, str]:
    """What the form (and the shared traffic inputs, prefix ``dp``) holds now, as the wiring takes it."""
    out = {"mode": str(screen.query_one("#dp-mode", Select).value),
           "memory_mb": str(screen.query_one("#dp-memory_mb", Select).value)}
    for row in ROWS:
        for key, *_ in row:
            out[key] = screen.query_one(f"#dp-{key}", Input).value
    for ident, attr, _ in TRAFFIC_FIELDS:
        out[attr] = screen.query_one(f"#dp-{ident}", Input).value
    out["content_type"] = str(screen.query_one("#dp-payload", Select).value)
    return out


def enable_mode_fields(screen: Any) -> None:
    """Only the chosen mode's number fields (and serverless memory) are editable, hence checked."""
    mode = str(screen.query_one("#dp-mode", Select).value)
    for key, (*_, belongs, _hint) in NUMERIC.items():
        screen.query_one(f"#dp-{key}", NumberField).disabled = belongs != mode
    screen.query_one("#dp-memory_mb", Select).disabled = mode != "serverless"
