"""Pruning engines: one import for the pipeline.

- :func:`prune_structured` removes channels (Torch-Pruning DepGraph, L1) - real MACs/latency cuts.
- :func:`prune_unstructured_torch` / :func:`prune_unstructured_onnx` zero the smallest weights -
  smaller compressed files, no speedup on dense kernels.
- :func:`prune_24_torch` / :func:`prune_24_onnx` apply 2:4 masks - faster only on sparse-capable GPUs.
"""

from __future__ import annotations

from engines.optimize.prune_24 import is_24_sparse, mask_24, prune_24_onnx, prune_24_torch
from engines.optimize.prune_report import MAX_AMOUNT, PruneReport, check_amount
from engines.optimize.prune_structured import channel_counts, find_classifier, prune_structured
from engines.optimize.prune_unstructured import prune_unstructured_onnx, prune_unstructured_torch

__all__ = [
    "MAX_AMOUNT", "PruneReport", "check_amount", "channel_counts", "find_classifier", "is_24_sparse", "mask_24",
    "prune_24_onnx", "prune_24_torch", "prune_structured", "prune_unstructured_onnx", "prune_unstructured_torch",
]
