"""Session state shared by every screen: the open model, its data, its variants, and per-model results.

Screens read ``self.app.session``; they never load models themselves.
:class:`ModelState` holds what was computed for the open model (the last
engine card, sweep, comparison, cost report, deploy form); the app replaces
it with a fresh one whenever another model opens, so nothing from the
previous model stays on screen. Machine-wide facts (backend availability)
and the running server live on the session itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # engines are imported lazily: keep the first frame fast
    from engines.models.data import Dataset
    from engines.models.model_info import ModelInfo
    from engines.workspace import Variant, Workspace


@dataclass
class ModelState:
    """Results that belong to the open model; dropped when another model opens."""

    engine_card: dict[str, Any] | None = None            # engines.build.builder.describe(...)
    sweep: Any = None                                    # engines.measure.sweep.SweepResult
    batching_recommendation: dict[str, Any] | None = None
    batching_comparison: dict[str, Any] | None = None
    triton_export: Any = None                            # workbench.wiring.results.TritonExported
    cost_report: dict[str, Any] | None = None
    deploy_form: dict[str, Any] = field(default_factory=dict)
    optimize_ctx: Any = None                             # (key, OptimizeContext) cached by the wiring


@dataclass
class Traffic:
    """The traffic the Cost and Deploy areas price and plan for: one set for the session, shared by both."""

    avg_rps: float = 5.0
    peak_rps: float = 50.0
    hours_per_day: float = 24.0
    content_type: str = "application/json"     # the request encoding: payload size and data-processed cost


@dataclass
class Session:
    model_path: Path | None = None
    data_path: Path | None = None
    trust_pickle: bool = False
    workspace_dir: Path | None = None          # explicit --workspace, else the model's default
    model_info: "ModelInfo | None" = None
    workspace: "Workspace | None" = None
    selected_variant_id: str | None = None
    device: str = "cpu"                        # "cpu" or e.g. "cuda:0 (NVIDIA H100)"
    model_state: ModelState = field(default_factory=ModelState)   # reset when another model opens
    backends: Any = None                       # workbench.wiring.results.BackendReport (this machine)
    server: Any = None                         # the running inference server, if any
    dataset: "Dataset | None" = None           # the --data file, checked against the model's input
    traffic: Traffic = field(default_factory=Traffic)   # Cost and Deploy: kept when another model opens

    def reset_model_state(self) -> None:
        self.model_state = ModelState()

    @property
    def variants(self) -> list["Variant"]:
        return self.workspace.variants() if self.workspace is not None else []

    @property
    def selected_variant(self) -> "Variant | None":
        if self.workspace is None:
            return None
        if self.selected_variant_id:
            for v in self.workspace.variants():
                if v.id == self.selected_variant_id:
                    return v
        return self.workspace.baseline()
