"""PyTorch -> ONNX export, checked: ``onnx.checker`` plus an output comparison on the same inputs.

The exporter is ``torch.onnx.export(dynamo=True)`` (torch.export based, the
default since torch 2.9; needs onnxscript). When it cannot trace a model, or
the model is a TorchScript module, the legacy TorchScript exporter is used and
the report says so. The batch dimension is exported dynamic.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engines.errors import UnsupportedError, WorkbenchError, first_line
from engines.fsutil import atomic_path
from engines.models.model_info import TensorSpec
from engines.tasks import TaskContext, ensure_task


@dataclass
class ExportReport:
    path: str
    exporter: str                 # "dynamo" or "torchscript"
    opset: int | None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    checker_ok: bool
    max_abs_err: float
    cosine: float
    batch_checked: int
    seconds: float
    size_bytes: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _example_from_specs(specs: Sequence[TensorSpec], batch: int, seed: int = 0) -> tuple:
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for s in specs:
        shape = [batch if i == 0 and not isinstance(d, int) else (d if isinstance(d, int) and d > 0 else 1)
                 for i, d in enumerate(s.shape)]
        dt = getattr(torch, s.dtype)
        if dt.is_floating_point:
            out.append(torch.randn(shape, generator=g).to(dt))
        else:
            out.append(torch.randint(0, 100, shape, generator=g).to(dt))
    return tuple(out)


def _resolve_source(module_or_path: Any, trust_pickle: bool) -> tuple[Any, list[TensorSpec] | None, str | None]:
    """(module, input specs if recorded, arch ref if known)."""
    if not isinstance(module_or_path, (str, os.PathLike)):
        return module_or_path, None, None
    from engines.models.loader import inspect_model
    from engines.models.torch_load import load_torch_module

    info = inspect_model(module_or_path, trust_pickle=trust_pickle)
    if info.format not in ("torchscript", "torch_export", "torch_pickle"):
        raise UnsupportedError(f"{info.name} is {info.format}, not a PyTorch model: nothing to export to ONNX")
    specs = [s for s in info.inputs if s.dtype != "unknown"] or None
    return load_torch_module(module_or_path, trust_pickle=trust_pickle), specs, info.arch


def export_to_onnx(module_or_path: Any, out_path: str | os.PathLike, example_inputs: tuple | None = None, *,
                   input_spec: Sequence[TensorSpec] | None = None, opset: int = 17, dynamic_batch: bool = True,
                   exporter: str = "auto", trust_pickle: bool = False, input_names: Sequence[str] | None = None,
                   arch: str | None = None, task: TaskContext | None = None) -> ExportReport:
    """Export a module (or .pt/.pt2 file) to ``out_path``, validate it and compare outputs."""
    import torch

    task = ensure_task(task)
    t0 = time.perf_counter()
    task.report(0.0, "loading the PyTorch model")
    module, recorded, known_arch = _resolve_source(module_or_path, trust_pickle)
    arch = arch or known_arch
    known = [s for s in (input_spec or []) if s.dtype != "unknown" and s.shape != ("?",)]
    specs = known or recorded
    if example_inputs is None:
        if not specs:
            raise WorkbenchError("the model's input shapes are unknown (TorchScript stores none): give its input "
                                 "shape, e.g. [batch, 3, 224, 224] float32, to export it to ONNX")
        example_inputs = _example_from_specs(specs, batch=2 if dynamic_batch else 1)
    example_inputs = tuple(example_inputs)
    names = list(input_names or [s.name for s in specs or []])
    if len(names) != len(example_inputs):
        names = ["input"] if len(example_inputs) == 1 else [f"input_{i}" for i in range(len(example_inputs))]
    with contextlib.suppress(NotImplementedError):  # torch.export modules have no eval()
        module.eval()
    with torch.no_grad():
        ref = module(*example_inputs)
    refs = [r for r in (ref if isinstance(ref, (tuple, list)) else [ref]) if isinstance(r, torch.Tensor)]
    out_names = ["output"] if len(refs) == 1 else [f"output_{i}" for i in range(len(refs))]
    task.check()
    notes: list[str] = []
    is_script = isinstance(module, torch.jit.ScriptModule)
    order = ["torchscript"] if is_script or exporter == "torchscript" else (
        ["dynamo"] if exporter == "dynamo" else ["dynamo", "torchscript"])
    used = None
    errors = []
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        for kind in order:
            task.report(0.1, f"exporting with the {kind} exporter")
            try:
                _export(kind, module, example_inputs, tmp, names, out_names, opset, dynamic_batch)
                used = kind
                break
            except Exception as exc:  # exporter failures are many types; try the next exporter
                errors.append(f"{kind}: {first_line(exc)}")
                task.check()
        if used is None:
            raise UnsupportedError("ONNX export failed: " + "; ".join(errors))
        if errors:
            notes.append("fell back to the TorchScript exporter (" + errors[0] + ")")
        if arch:
            _stamp_metadata(tmp, {"workbench_arch": arch})
        task.report(0.7, "checking the exported model")
        checker_ok, opset_used, in_specs, out_specs = _check(tmp)
        task.report(0.8, "comparing outputs with the source model")
        max_err, cos, batch = _compare(tmp, example_inputs, refs, names)
        if not checker_ok:
            notes.append("onnx.checker rejected the exported model")
        if cos < 0.999:
            notes.append(f"exported outputs differ from the source (cosine {cos:.4f}, max abs err {max_err:.3g})")
    _readable(out_path)
    if opset_used != opset:
        notes.append(f"exported at opset {opset_used} (asked {opset}): the exporter could not convert it")
    task.report(1.0, "export done")
    return ExportReport(path=str(out_path), exporter=used, opset=opset_used, inputs=in_specs, outputs=out_specs,
                        checker_ok=checker_ok, max_abs_err=max_err, cosine=cos, batch_checked=batch,
                        seconds=round(time.perf_counter() - t0, 3), size_bytes=out_path.stat().st_size, notes=notes)


def _readable(path: Path) -> None:
    """Temp files are created 0600; give the exported model the usual rw-r--r--."""
    path.chmod(0o644)


def _export(kind: str, module: Any, args: tuple, path: Path, names: list[str], out_names: list[str],
            opset: int, dynamic_batch: bool) -> None:
    import torch

    sink = io.StringIO()
    # the exporter logs progress and optional-op warnings; onnxscript's version converter logs a whole
    # traceback at WARNING when it falls back (the model is still exported; the opset note says so)
    logs = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        _export_quietly(kind, module, args, path, names, out_names, opset, dynamic_batch, sink)
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def _export_quietly(kind: str, module: Any, args: tuple, path: Path, names: list[str], out_names: list[str],
                    opset: int, dynamic_batch: bool, sink: io.StringIO) -> None:
    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        if kind == "dynamo":
            dyn = None
            if dynamic_batch:
                batch = torch.export.Dim("batch")
                dyn = tuple({0: batch} for _ in args)
            torch.onnx.export(module, args, str(path), dynamo=True, input_names=names, output_names=out_names,
                              opset_version=opset, dynamic_shapes=dyn, external_data=False, verbose=False)
        else:
            axes = {n: {0: "batch"} for n in names + out_names} if dynamic_batch else None
            torch.onnx.export(module, args, str(path), dynamo=False, input_names=names, output_names=out_names,
                              opset_version=opset, dynamic_axes=axes)


def _stamp_metadata(path: Path, props: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))


def _check(path: Path) -> tuple[bool, int | None, list[dict], list[dict]]:
    import onnx

    from engines.models.inspect_onnx import inspect_onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
        ok = True
    except onnx.checker.ValidationError:
        ok = False
    info = inspect_onnx(path)
    specs = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in info.inputs]
    outs = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in info.outputs]
    return ok, info.opset, specs, outs


def _compare(path: Path, args: tuple, refs: list, names: list[str]) -> tuple[float, float, int]:
    """Run the ONNX file in ONNX Runtime on the same inputs; max abs error and cosine vs the source."""
    from engines.measure.runners import OnnxRunner

    runner = OnnxRunner(path, threads=1)
    feeds = {spec.name: a.detach().cpu().numpy() for spec, a in zip(runner.inputs, args)}
    outs = runner.run(feeds)
    max_err, dots, na, nb = 0.0, 0.0, 0.0, 0.0
    for got, want in zip(outs, refs):
        w = want.detach().cpu().numpy().astype(np.float64)
        g = np.asarray(got, dtype=np.float64)
        if g.shape != w.shape:
            raise WorkbenchError(f"exported model output shape {list(g.shape)} differs from the source's {list(w.shape)}")
        max_err = max(max_err, float(np.max(np.abs(g - w))) if w.size else 0.0)
        dots += float(np.sum(g * w))
        na += float(np.sum(g * g))
        nb += float(np.sum(w * w))
    cos = dots / (np.sqrt(na) * np.sqrt(nb)) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)
    return max_err, float(cos), int(args[0].shape[0]) if args else 0
