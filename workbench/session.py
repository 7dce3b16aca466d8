"""Session state shared by every screen: the open model, its data and variants.

Screens read ``self.app.session``; they never load models themselves.
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
class Session:
    model_path: Path | None = None
    data_path: Path | None = None
    trust_pickle: bool = False
    workspace_dir: Path | None = None          # explicit --workspace, else the model's default
    model_info: "ModelInfo | None" = None
    workspace: "Workspace | None" = None
    selected_variant_id: str | None = None
    device: str = "cpu"                        # "cpu" or e.g. "cuda:0 (NVIDIA H100)"
    extras: dict[str, Any] = field(default_factory=dict)  # per-area state that outlives a screen
    dataset: "Dataset | None" = None           # the --data file, checked against the model's input

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
