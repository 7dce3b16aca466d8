"""The sparse-kernel crossover for a model's own layers (ONNX or PyTorch weights).

:func:`model_layers` reads every Conv / Linear (Gemm, MatMul) weight of a model
with its present sparsity; :func:`model_sparse_report` times the largest Linear
shapes (each once) through :func:`engines.measure.sparse.measure_crossover`
with the model's weights, and lists every layer the sparse kernels cannot take
(Conv, weights that are not 2-D) with the dense fallback and its reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engines.errors import UnsupportedError
from engines.measure.sparse import (SPARSITIES, TIMED_KERNELS, CrossoverResult, KernelPlan, LayerShape,
                                    measure_crossover, plan_kernel)
from engines.tasks import TaskContext, ensure_task


@dataclass
class ModelLayer:
    name: str
    op: str                          # Linear | Gemm | MatMul | Conv | ...
    shape: tuple[int, ...]           # the weight as the kernel sees it ([out, in] for a Linear)
    sparsity: float                  # fraction of zero weights now
    weight: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def linear(self) -> bool:
        return self.weight is not None and len(self.shape) == 2


def _zero_fraction(a: np.ndarray) -> float:
    return float(np.count_nonzero(a == 0)) / max(1, a.size)


def _onnx_layers(path: Path) -> list[ModelLayer]:
    from onnx import numpy_helper

    from engines.optimize.prune_unstructured import load_onnx, onnx_weight_initializers

    model = load_onnx(path)
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for name, op, axis in onnx_weight_initializers(model):
        arr = numpy_helper.to_array(inits[name])
        weight = None
        if arr.ndim == 2 and op == "Gemm":
            weight = arr if axis == 1 else arr.T          # transB=1 stores [out, in] already
        elif arr.ndim == 2 and op == "MatMul" and axis == -2:
            weight = arr.T                                 # x @ B with B [in, out]
        shape = tuple(weight.shape) if weight is not None else tuple(arr.shape)
        out.append(ModelLayer(name, op if weight is not None or op != "MatMul" else "MatMul (left operand)",
                              shape, _zero_fraction(arr), None if weight is None else
                              np.ascontiguousarray(weight, dtype=np.float32)))
    return out


def _torch_layers(path: Path, trust_pickle: bool) -> list[ModelLayer]:
    import torch.nn as nn

    from engines.models.torch_load import load_torch_module
    from engines.optimize.prune_unstructured import torch_weight_params

    module = load_torch_module(path, trust_pickle=trust_pickle)
    kinds = {f"{n}.weight" if n else "weight": ("Linear" if isinstance(m, nn.Linear) else "Conv")
             for n, m in module.named_modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))}
    out = []
    for name, p in torch_weight_params(module):
        arr = p.detach().cpu().float().numpy()
        op = kinds.get(name, "Linear" if arr.ndim == 2 else "Conv")
        out.append(ModelLayer(name.removesuffix(".weight"), op, tuple(arr.shape), _zero_fraction(arr),
                              np.ascontiguousarray(arr) if op == "Linear" and arr.ndim == 2 else None))
    return out


def model_layers(path: str | os.PathLike, *, trust_pickle: bool = False) -> list[ModelLayer]:
    """Every Conv / Linear weight of an ONNX or PyTorch model, with its present sparsity."""
    from engines.models.loader import detect_format

    p = Path(path)
    fmt = detect_format(p)
    if fmt == "onnx":
        layers = _onnx_layers(p)
    elif fmt.startswith("torch"):
        layers = _torch_layers(p, trust_pickle)
    else:
        raise UnsupportedError(f"{p.name} is {fmt}: the sparse-kernel sweep reads ONNX or PyTorch weights "
                               "(export the model to ONNX first)")
    if not layers:
        raise UnsupportedError(f"{p.name} has no float Conv or Linear weights for a sparse kernel")
    return layers


@dataclass
class ModelSparseReport:
    model: str
    layers: list[dict[str, Any]]               # every weight: name, op, shape, sparsity, what runs it
    results: list[CrossoverResult]
    fallbacks: list[KernelPlan]                # layers a kernel could not take (dense, with why)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "layers": self.layers, "results": [r.to_dict() for r in self.results],
                "fallbacks": [f.to_dict() for f in self.fallbacks], "notes": list(self.notes)}


def model_sparse_report(path: str | os.PathLike, *, sparsities: Sequence[float] = SPARSITIES,
                        kernels: Sequence[str] = TIMED_KERNELS, max_layers: int = 2, batch: int = 1,
                        threads: int | None = None, rounds: int = 7, iterations: int = 20,
                        trust_pickle: bool = False, task: TaskContext | None = None) -> ModelSparseReport:
    """The crossover for the ``max_layers`` largest Linear shapes of a model, with its own weights."""
    task = ensure_task(task)
    p = Path(path)
    layers = model_layers(p, trust_pickle=trust_pickle)
    table, fallbacks = [], []
    for layer in layers:
        plans = [plan_kernel(k, layer.name, layer.shape, op="Linear" if layer.linear else layer.op)
                 for k in kernels]
        fallbacks += [pl for pl in plans if pl.fallback]
        table.append({"name": layer.name, "op": layer.op, "shape": list(layer.shape),
                      "sparsity": round(layer.sparsity, 4), "runs": {pl.kernel: pl.runs for pl in plans}})
    linear = sorted((lay for lay in layers if lay.linear), key=lambda lay: -int(np.prod(lay.shape)))
    chosen, seen = [], set()
    for lay in linear:
        if lay.shape not in seen:
            seen.add(lay.shape)
            chosen.append(lay)
    chosen = chosen[:max(1, max_layers)]
    notes = []
    if not chosen:
        notes.append(f"{p.name} has no Linear layer a sparse kernel can take: every layer stays dense "
                     "(unstructured pruning buys only size here: a smaller compressed file)")
    results = []
    for i, lay in enumerate(chosen):
        task.check()
        own = tuple(sorted(set(sparsities) | ({round(lay.sparsity, 2)} if lay.sparsity >= 0.05 else set())))
        results.append(measure_crossover(LayerShape(lay.name, lay.shape[1], lay.shape[0]), sparsities=own,
                                         kernels=kernels, batch=batch, threads=threads, rounds=rounds,
                                         iterations=iterations, weight=lay.weight, weights_from=p.name,
                                         task=task.sub(i / len(chosen), (i + 1) / len(chosen))))
    return ModelSparseReport(model=str(p), layers=table, results=results, fallbacks=fallbacks, notes=notes)
