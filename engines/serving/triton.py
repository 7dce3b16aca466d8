"""Export a Triton Inference Server model repository for an ONNX model.

Layout (also what KServe's Triton runtime loads)::

    <out>/<name>/config.pbtxt
    <out>/<name>/1/model.onnx

``config.pbtxt`` names the ONNX Runtime backend, ``max_batch_size``, the
inputs and outputs without their batch axis (``-1`` for dynamic dims) and a
``dynamic_batching`` block whose preferred sizes and queue delay come from a
batch sweep (:func:`engines.measure.sweep.recommend_batching`) when one is given.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

from engines.errors import UnsupportedError, WorkbenchError
from engines.fsutil import atomic_dir
from engines.models.model_info import TensorSpec
from engines.tasks import TaskContext, ensure_task

TRITON_TYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "float64": "TYPE_FP64", "bfloat16": "TYPE_BF16",
    "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32", "uint64": "TYPE_UINT64",
    "bool": "TYPE_BOOL", "string": "TYPE_STRING",
}


def _dims(spec: TensorSpec, batched: bool) -> list[int]:
    shape = list(spec.shape[1:] if batched else spec.shape)
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape] or [1]


def _tensor_block(kind: str, specs: Sequence[TensorSpec], batched: bool) -> str:
    rows = []
    for s in specs:
        dtype = TRITON_TYPES.get(s.dtype)
        if dtype is None:
            raise UnsupportedError(f"{kind} {s.name} has dtype {s.dtype}, which Triton's config cannot express")
        dims = ", ".join(str(d) for d in _dims(s, batched))
        rows.append(f'  {{\n    name: "{s.name}"\n    data_type: {dtype}\n    dims: [ {dims} ]\n  }}')
    return f"{kind} [\n" + ",\n".join(rows) + "\n]"


def config_pbtxt(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], *, max_batch_size: int,
                 preferred_batch_sizes: Sequence[int] = (), max_queue_delay_us: int = 0,
                 instance_kind: str = "KIND_CPU", instance_count: int = 1) -> str:
    """The text of ``config.pbtxt``; ``max_batch_size=0`` means the model takes no batch axis."""
    batched = max_batch_size > 0
    parts = [f'name: "{name}"', 'backend: "onnxruntime"', f"max_batch_size: {max_batch_size}",
             _tensor_block("input", inputs, batched), _tensor_block("output", outputs, batched),
             f"instance_group [\n  {{\n    count: {instance_count}\n    kind: {instance_kind}\n  }}\n]"]
    if batched:
        prefs = sorted({int(b) for b in preferred_batch_sizes if 0 < int(b) <= max_batch_size})
        lines = []
        if prefs:
            lines.append(f"  preferred_batch_size: [ {', '.join(str(b) for b in prefs)} ]")
        lines.append(f"  max_queue_delay_microseconds: {int(max_queue_delay_us)}")
        parts.append("dynamic_batching {\n" + "\n".join(lines) + "\n}")
    return "\n".join(parts) + "\n"


def external_data_files(model: Path) -> list[str]:
    """Relative paths of the external-data files an ONNX model refers to."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    found: set[str] = set()
    for init in proto.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            found.update(e.value for e in init.external_data if e.key == "location")
    return sorted(found)


def safe_model_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"
    return cleaned[:64]


def export_triton_repo(model: str | os.PathLike, out_dir: str | os.PathLike, *, name: str | None = None,
                       inputs: Sequence[TensorSpec] | None = None, outputs: Sequence[TensorSpec] | None = None,
                       sweep: Any = None, budget_ms: float | None = None, max_batch_size: int | None = None,
                       max_queue_delay_us: int | None = None, preferred: Sequence[int] | None = None,
                       device: str = "cpu", task: TaskContext | None = None) -> dict[str, Any]:
    """Write the repository; returns the paths and the batching settings chosen."""
    from engines.measure.sweep import preferred_batch_sizes, recommend_batching

    task = ensure_task(task)
    task.report(0.0, "writing the Triton repository")

    src = Path(model)
    if src.suffix.lower() != ".onnx" or not src.is_file():
        raise UnsupportedError(f"{src.name} is not an ONNX file: Triton export takes an .onnx model")
    if inputs is None or outputs is None:
        from engines.measure.runners import open_runner

        runner = open_runner(src, "onnx", threads=1)
        inputs, outputs = runner.inputs, runner.outputs
    name = safe_model_name(name or src.stem)
    first = inputs[0].shape[0] if inputs and inputs[0].shape else None
    fixed_batch = isinstance(first, int) and first > 0
    reason = "no sweep given: defaults"
    if fixed_batch:
        mbs, delay_us, prefs = 0, 0, []
        reason = f"the model's batch axis is fixed at {first}: dynamic batching off"
    else:
        mbs = max_batch_size or 32
        delay_us = max_queue_delay_us if max_queue_delay_us is not None else 5000
        prefs = list(preferred or [])
        if sweep is not None and sweep.points:
            if budget_ms is not None and max_batch_size is None:
                rec = recommend_batching(sweep, budget_ms)
                mbs = int(rec["max_batch"])
                if max_queue_delay_us is None:
                    delay_us = int(round(rec["max_delay_ms"] * 1000))
                reason = rec["reason"]
            elif max_batch_size is None:
                mbs = max(p.batch for p in sweep.points)
                reason = "largest batch measured in the sweep"
            if not prefs:
                prefs = preferred_batch_sizes(sweep, mbs)
    if mbs < 0:
        raise WorkbenchError("max batch size cannot be negative")
    text = config_pbtxt(name, inputs, outputs, max_batch_size=mbs, preferred_batch_sizes=prefs,
                        max_queue_delay_us=delay_us, instance_kind="KIND_GPU" if device == "cuda" else "KIND_CPU")
    root = Path(out_dir)
    target = root / name
    with atomic_dir(target) as tmp:
        (tmp / "1").mkdir()
        shutil.copy2(src, tmp / "1" / "model.onnx")
        for rel in external_data_files(src):    # ONNX external weights travel with the model
            dest = (tmp / "1" / rel).resolve()
            if not dest.is_relative_to((tmp / "1").resolve()):
                raise UnsupportedError(f"{src.name} points at external data outside its folder: {rel}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src.parent / rel, dest)
        (tmp / "config.pbtxt").write_text(text, encoding="utf-8")
        task.check()
    return {"repository": str(root), "model_dir": str(target), "config": str(target / "config.pbtxt"),
            "name": name, "max_batch_size": mbs, "preferred_batch_size": prefs,
            "max_queue_delay_microseconds": delay_us, "reason": reason}
