"""2:4 semi-structured sparsity masks, for PyTorch modules and ONNX files.

In every group of 4 consecutive weights along a layer's input (reduction)
dimension, the 2 largest magnitudes are kept and the other 2 set to zero: the
pattern NVIDIA Ampere+ sparse tensor cores (and TensorRT's sparse-weights mode)
accelerate. Layers whose input dimension is not a multiple of 4 stay dense and
are listed with the reason. On a CPU or with dense kernels nothing gets faster.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UnsupportedError
from engines.optimize.prune_report import NOTE_24, PruneReport, zero_fraction, zlib_size
from engines.optimize.prune_unstructured import (load_onnx, onnx_weight_initializers, serialize_onnx, torch_weight_params,
                                        write_bytes_atomic)
from engines.tasks import TaskContext, ensure_task


def _groups(arr: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """View ``arr`` with ``axis`` moved last and split into groups of 4: shape (..., n/4, 4)."""
    moved = np.moveaxis(arr, axis, -1)
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // 4, 4), moved.shape


def mask_24(arr: np.ndarray, axis: int) -> np.ndarray:
    """A copy of ``arr`` with the 2 smallest |w| of every 4 along ``axis`` set to zero."""
    if arr.shape[axis] % 4:
        raise ValueError(f"dimension {axis} of size {arr.shape[axis]} is not a multiple of 4")
    grouped, moved_shape = _groups(arr, axis)
    drop = np.argsort(np.abs(grouped.astype(np.float32)), axis=-1, kind="stable")[..., :2]
    out = grouped.copy()
    np.put_along_axis(out, drop, np.zeros((), dtype=arr.dtype), axis=-1)
    return np.moveaxis(out.reshape(moved_shape), -1, axis)


def is_24_sparse(arr: np.ndarray, axis: int) -> bool:
    """True when every group of 4 along ``axis`` has at most 2 non-zeros."""
    if arr.shape[axis] % 4:
        return False
    grouped, _ = _groups(arr, axis)
    return bool(np.all(np.count_nonzero(grouped, axis=-1) <= 2))


def _skip_reason(shape: tuple[int, ...], axis: int) -> str | None:
    size = shape[axis]
    return None if size % 4 == 0 else f"input dimension {size} is not a multiple of 4"


def prune_24_torch(module: Any, task: TaskContext | None = None) -> PruneReport:
    """Apply 2:4 masks to Conv/Linear weights (grouped along the input-channel axis 1), in place."""
    import torch

    task = ensure_task(task)
    params = torch_weight_params(module)
    if not params:
        raise UnsupportedError("the model has no Conv or Linear weights for 2:4 sparsity")
    start = time.perf_counter()
    sparsity, skipped, raw_before, raw_after, masked_all = {}, {}, [], [], []
    for i, (name, p) in enumerate(params):
        task.report(0.9 * i / len(params), f"2:4 mask on {name}")
        layer = name.removesuffix(".weight")
        arr = p.detach().cpu().numpy()
        raw_before.append(arr.tobytes())
        reason = _skip_reason(arr.shape, 1)
        if reason:
            skipped[layer] = reason
            raw_after.append(arr.tobytes())
            continue
        masked = mask_24(arr, 1)
        masked_all.append((p, masked))
        sparsity[layer] = zero_fraction(masked)
        raw_after.append(masked.tobytes())
    if not sparsity:
        raise UnsupportedError("no layer has an input dimension that is a multiple of 4: 2:4 sparsity cannot apply")
    task.report(0.9, f"2:4 pattern on {len(sparsity)} layers, {len(skipped)} left dense")
    with torch.no_grad():   # all masks computed first: a cancel above leaves the module untouched
        for p, masked in masked_all:
            p.copy_(torch.from_numpy(np.ascontiguousarray(masked)).to(p.device))
    return _report("torch", params_sizes(params, sparsity), sparsity, skipped, b"".join(raw_before),
                   b"".join(raw_after), start, module=module)


def params_sizes(params: list[tuple[str, Any]], sparsity: dict[str, float]) -> dict[str, int]:
    return {n.removesuffix(".weight"): int(p.numel()) for n, p in params if n.removesuffix(".weight") in sparsity}


def _report(framework: str, sizes: dict[str, int], sparsity: dict[str, float], skipped: dict[str, str],
            before: bytes, after: bytes, start: float, **extra: Any) -> PruneReport:
    total = sum(sizes.values())
    zeros = sum(sparsity[n] * sizes[n] for n in sizes)
    return PruneReport(mode="2:4", amount=0.5, framework=framework, layer_sparsity=sparsity,
                       sparsity=zeros / total if total else 0.0, skipped_layers=skipped,
                       compressed_size_before_bytes=zlib_size(before), compressed_size_bytes=zlib_size(after),
                       size_bytes_before=len(before), size_bytes_after=len(after),
                       elapsed_s=time.perf_counter() - start, note=NOTE_24, **extra)


def prune_24_onnx(src_path: str | os.PathLike, out_path: str | os.PathLike,
                  task: TaskContext | None = None) -> PruneReport:
    """Apply 2:4 masks to the float Conv/Gemm/MatMul weights of an ONNX file; write it atomically."""
    from onnx import numpy_helper

    task = ensure_task(task)
    start = time.perf_counter()
    task.report(0.0, f"loading {Path(src_path).name}")
    model = load_onnx(src_path)
    targets = onnx_weight_initializers(model)
    if not targets:
        raise UnsupportedError(f"{Path(src_path).name} has no float Conv/Gemm/MatMul weights for 2:4 sparsity "
                               f"(a quantized model?): apply 2:4 to the float model")
    original = serialize_onnx(model)
    inits = {i.name: i for i in model.graph.initializer}
    sparsity, skipped, sizes = {}, {}, {}
    for i, (name, op, axis) in enumerate(targets):
        task.report(0.1 + 0.6 * i / len(targets), f"2:4 mask on {name} ({op})")
        arr = numpy_helper.to_array(inits[name])
        reason = _skip_reason(arr.shape, axis)
        if reason:
            skipped[name] = reason
            continue
        masked = mask_24(arr, axis)
        inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(masked), name))
        sparsity[name], sizes[name] = zero_fraction(masked), int(arr.size)
    if not sparsity:
        raise UnsupportedError("no layer has an input dimension that is a multiple of 4: 2:4 sparsity cannot apply")
    data = serialize_onnx(model)
    report = _report("onnx", sizes, sparsity, skipped, original, data, start, output_path=str(out_path))
    task.report(0.95, f"2:4 pattern on {len(sparsity)} layers, {len(skipped)} left dense; writing")
    write_bytes_atomic(out_path, data)
    return report
