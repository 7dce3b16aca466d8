"""OpenVINO IR straight from PyTorch: ``openvino.convert_model`` on the module (no ONNX in between).

The module is loaded the way the rest of the workbench loads it
(:func:`engines.models.torch_load.load_torch_module`: TorchScript files,
``.pt2`` torch.export programs, pickles only when trusted) and traced by
OpenVINO's PyTorch frontend on one example input shaped like the model's
first input (from the user's data when given). The batch dimension stays
dynamic, like the ONNX path's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UnsupportedError, first_line
from engines.models.model_info import TensorSpec


def _example(inputs: list[TensorSpec], data: np.ndarray | None) -> tuple[Any, ...]:
    import torch

    from engines.measure.runners import example_feeds

    feeds = example_feeds(inputs, batch=1, data=None if data is None else data[:1])
    return tuple(torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in inputs)


def _dynamic_batch(model: Any) -> None:
    """Mark the first dimension of every input dynamic (the trace fixed it to the example's batch)."""
    import openvino as ov

    shapes = {}
    for port in model.inputs:
        ps = port.get_partial_shape()
        if ps.rank.is_static and len(ps) > 0:
            dims = [ov.Dimension(-1)] + [ps[i] for i in range(1, len(ps))]
            shapes[port] = ov.PartialShape(dims)
    if shapes:
        model.reshape(shapes)


def convert_torch(path: str | os.PathLike, inputs: list[TensorSpec], data: np.ndarray | None = None, *,
                  outputs: list[str] | None = None, trust_pickle: bool = False) -> Any:
    """An ``openvino.Model`` of the PyTorch model at ``path``, its inputs named like ``inputs``."""
    import openvino as ov

    from engines.models.torch_load import load_torch_module

    path = Path(path)
    module = load_torch_module(path, trust_pickle=trust_pickle)
    if hasattr(module, "eval"):
        module.eval()
    example = _example(inputs, data)
    try:
        model = ov.convert_model(module, example_input=example)
    except Exception as exc:  # the frontend raises OpConversionFailure and friends
        raise UnsupportedError(f"OpenVINO cannot convert the PyTorch model {path.name}: {first_line(exc)} "
                               "(build from its ONNX export instead: leave out --frontend pytorch)") from exc
    for port, spec in zip(model.inputs, inputs):
        port.get_tensor().set_names({spec.name})
    for port, name in zip(model.outputs, outputs or []):
        port.get_tensor().set_names({name})
    try:
        _dynamic_batch(model)
    except Exception:  # noqa: BLE001 - a graph that cannot take a dynamic batch keeps the traced one
        pass
    return model
