"""Unstructured magnitude pruning, for PyTorch modules and ONNX files.

The smallest-magnitude weights of Conv / Linear (Gemm, MatMul) layers are set
to zero, across all layers at once (``scope="global"``) or the same fraction in
each layer (``scope="layer"``). Biases and normalisation weights are left alone.
The zeros are permanent (no masks or hooks stay behind). Dense kernels still
multiply the zeros, so latency does not change; what sparsity buys on dense
hardware is a smaller compressed file, which the report measures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import ModelLoadError, UnsupportedError
from engines.fsutil import atomic_path
from engines.optimize.prune_report import (NOTE_UNSTRUCTURED, PruneReport, check_amount, check_scope,
                                  zero_fraction, zlib_size)
from engines.tasks import TaskContext, ensure_task

ONNX_WEIGHT_OPS = {"Conv": (1,), "ConvTranspose": (1,), "Gemm": (1,), "MatMul": (0, 1)}
FLOAT_TYPES = {1, 10, 11, 16}   # onnx FLOAT, FLOAT16, DOUBLE, BFLOAT16


def magnitude_masks(weights: list[np.ndarray], amount: float, scope: str) -> list[np.ndarray]:
    """Boolean keep-masks zeroing exactly ``round(amount * n)`` smallest |w| (globally or per array)."""
    if scope == "layer":
        return [_keep_mask(np.abs(w.astype(np.float32)).ravel(), amount).reshape(w.shape) for w in weights]
    flat = np.concatenate([np.abs(w.astype(np.float32)).ravel() for w in weights]) if weights else np.zeros(0)
    keep = _keep_mask(flat, amount)
    out, pos = [], 0
    for w in weights:
        out.append(keep[pos:pos + w.size].reshape(w.shape))
        pos += w.size
    return out


def _keep_mask(abs_flat: np.ndarray, amount: float) -> np.ndarray:
    k = int(round(amount * abs_flat.size))
    keep = np.ones(abs_flat.size, dtype=bool)
    if k > 0:
        keep[np.argpartition(abs_flat, k - 1)[:k]] = False
    return keep


# --------------------------------------------------------------------------- torch

def torch_weight_params(module: Any) -> list[tuple[str, Any]]:
    """(name, parameter) of Conv/Linear weights; for TorchScript, every >=2-D '*weight' parameter."""
    import torch
    import torch.nn as nn

    if isinstance(module, (torch.jit.ScriptModule, torch.jit.RecursiveScriptModule)):
        return [(n, p) for n, p in module.named_parameters() if n.endswith("weight") and p.dim() >= 2]
    out = []
    for name, m in module.named_modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and not isinstance(m, nn.modules.conv._ConvTransposeNd):
            w = getattr(m, "weight", None)
            if isinstance(w, torch.Tensor) and w.dim() >= 2:
                out.append((f"{name}.weight" if name else "weight", w))
    if isinstance(module, torch.fx.GraphModule):  # a torch.export program: weights left as plain parameters
        seen = {id(p) for _, p in out}
        out += [(n, p) for n, p in module.named_parameters() if n.endswith("weight") and p.dim() >= 2
                and id(p) not in seen]
    return out


def _weights_bytes(params: list[tuple[str, Any]]) -> bytes:
    return b"".join(p.detach().cpu().contiguous().numpy().tobytes() for _, p in params)


def prune_unstructured_torch(module: Any, amount: float, *, scope: str = "global",
                             task: TaskContext | None = None) -> PruneReport:
    """Zero the smallest-magnitude Conv/Linear weights of ``module`` in place."""
    import torch

    task = ensure_task(task)
    amount, scope = check_amount(amount), check_scope(scope)
    params = torch_weight_params(module)
    if not params:
        raise UnsupportedError("the model has no Conv or Linear weights to prune (none of its parameters is a "
                               ">=2-D weight): prune the model it was made from, or use an ONNX export")
    start = time.perf_counter()
    task.report(0.0, "measuring the dense weights")
    raw = _weights_bytes(params)
    comp_before = zlib_size(raw)
    task.check()
    arrays = [p.detach().cpu().numpy() for _, p in params]
    task.report(0.3, f"ranking {sum(a.size for a in arrays):,} weights by magnitude ({scope})")
    masks = magnitude_masks(arrays, amount, scope)
    task.report(0.7, "zeroing the weights and compressing them")
    # from here on the module is changed: no more cancel points, so a cancel never leaves it half-done
    sparsity = {}
    with torch.no_grad():
        for (name, p), keep in zip(params, masks):
            p.mul_(torch.from_numpy(keep).to(device=p.device, dtype=p.dtype))
            sparsity[name.removesuffix(".weight")] = zero_fraction(p.detach().cpu().numpy())
    comp_after = zlib_size(_weights_bytes(params))
    total = sum(a.size for a in arrays)
    zeros = sum(sparsity[n.removesuffix(".weight")] * a.size for (n, _), a in zip(params, arrays))
    return PruneReport(mode="unstructured", amount=amount, framework="torch", scope=scope,
                       layer_sparsity=sparsity, sparsity=zeros / total,
                       compressed_size_before_bytes=comp_before, compressed_size_bytes=comp_after,
                       size_bytes_before=len(raw), size_bytes_after=len(raw),
                       elapsed_s=time.perf_counter() - start, note=NOTE_UNSTRUCTURED, module=module)


# --------------------------------------------------------------------------- ONNX

def load_onnx(path: str | os.PathLike) -> Any:
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} does not exist: give the path of an .onnx file")
    try:
        return onnx.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a readable ONNX model ({type(exc).__name__}): check the file") from exc


def onnx_weight_initializers(model: Any) -> list[tuple[str, str, int]]:
    """(initializer name, op type, reduction axis) for float weights of Conv/Gemm/MatMul.

    The reduction ("input") axis is the one a 2:4 pattern groups along:
    Conv weight [M, C, kH, kW] -> 1; Gemm B -> 1 if transB else 0; MatMul B -> -2, A -> -1.
    """
    inits = {i.name: i for i in model.graph.initializer}
    seen: dict[str, tuple[str, str, int]] = {}
    for node in model.graph.node:
        slots = ONNX_WEIGHT_OPS.get(node.op_type)
        if not slots:
            continue
        for slot in slots:
            if slot >= len(node.input) or node.input[slot] not in inits or node.input[slot] in seen:
                continue
            init = inits[node.input[slot]]
            if init.data_type not in FLOAT_TYPES or len(init.dims) < 2:
                continue
            if node.op_type == "Gemm":
                trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
                axis = 1 if trans_b else 0
            elif node.op_type == "MatMul":
                axis = -2 if slot == 1 else -1
            else:
                axis = 1
            seen[init.name] = (init.name, node.op_type, axis)
    return list(seen.values())


def serialize_onnx(model: Any) -> bytes:
    try:
        return model.SerializeToString()
    except ValueError as exc:  # protobuf refuses messages over 2 GB
        raise UnsupportedError("the model is over 2 GB, too large to rewrite as one ONNX file here") from exc


def write_bytes_atomic(out_path: str | os.PathLike, data: bytes) -> None:
    """Write the whole file under a temp name, then rename: a cancel leaves nothing half-written."""
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(data)


def prune_unstructured_onnx(src_path: str | os.PathLike, out_path: str | os.PathLike, amount: float, *,
                            scope: str = "global", task: TaskContext | None = None) -> PruneReport:
    """Zero the smallest-magnitude Conv/Gemm/MatMul weights of an ONNX file; write the result atomically."""
    from onnx import numpy_helper

    task = ensure_task(task)
    amount, scope = check_amount(amount), check_scope(scope)
    start = time.perf_counter()
    task.report(0.0, f"loading {Path(src_path).name}")
    model = load_onnx(src_path)
    targets = onnx_weight_initializers(model)
    if not targets:
        raise UnsupportedError(f"{Path(src_path).name} has no float Conv/Gemm/MatMul weights to prune "
                               f"(a quantized model?): prune the float model before quantizing")
    original = serialize_onnx(model)  # external data (if any) is inlined: both sizes are of one whole file
    inits = {i.name: i for i in model.graph.initializer}
    arrays = [numpy_helper.to_array(inits[name]) for name, _, _ in targets]
    task.check()
    task.report(0.2, f"ranking {sum(a.size for a in arrays):,} weights by magnitude ({scope})")
    masks = magnitude_masks(arrays, amount, scope)
    sparsity = {}
    for (name, _, _), arr, keep in zip(targets, arrays, masks):
        pruned = np.where(keep, arr, np.zeros((), dtype=arr.dtype)).astype(arr.dtype)
        inits[name].CopyFrom(numpy_helper.from_array(pruned, name))
        sparsity[name] = zero_fraction(pruned)
    task.report(0.6, "compressing both models to measure what sparsity buys")
    data = serialize_onnx(model)
    comp_before, comp_after = zlib_size(original), zlib_size(data)
    total = sum(a.size for a in arrays)
    zeros = sum(sparsity[n] * a.size for (n, _, _), a in zip(targets, arrays))
    task.report(0.9, f"{zeros / total:.0%} of the weights are zero; writing {Path(out_path).name}")
    write_bytes_atomic(out_path, data)
    return PruneReport(mode="unstructured", amount=amount, framework="onnx", scope=scope,
                       layer_sparsity=sparsity, sparsity=zeros / total,
                       compressed_size_before_bytes=comp_before, compressed_size_bytes=comp_after,
                       size_bytes_before=len(original), size_bytes_after=len(data),
                       output_path=str(out_path), elapsed_s=time.perf_counter() - start, note=NOTE_UNSTRUCTURED)
