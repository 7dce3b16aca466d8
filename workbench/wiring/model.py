"""Model wiring: the model handle types the Overview shows, and the format vocabulary's labels."""

from __future__ import annotations

from engines.formats import label as format_label
from engines.models.model_info import ModelInfo, TensorSpec

__all__ = ["ModelInfo", "TensorSpec", "format_label"]
