"""What to serve or sweep: a runnable model file, or a variant of a model's workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engines import formats as F
from engines.errors import ModelLoadError, UnsupportedError
from engines.targets import ENGINE_SUFFIXES, RUNNABLE_SUFFIXES, Target
from engines.targets import resolve_target as _resolve



def resolve_target(ref: str, model: str | os.PathLike | None = None,
                   workspace: str | os.PathLike | None = None) -> Target:
    """``ref`` is a model file (.onnx, .tflite) or a variant id/name of ``model``'s workspace."""
    return _resolve(ref, model=model, workspace=workspace, formats=RUNNABLE_SUFFIXES, purpose="run")


def runnable_target(model_path: str | os.PathLike | None, workspace: object = None,
                    selected_id: str | None = None) -> Target | None:
    """The model the Batching screen serves by default: the selected variant if runnable, else the open
    model if it is ONNX/TFLite, else the newest runnable variant; None when there is none."""
    own = None
    if model_path is not None and Path(model_path).suffix.lower() in RUNNABLE_SUFFIXES:
        p = Path(model_path)
        own = Target(p.stem, p, RUNNABLE_SUFFIXES[p.suffix.lower()])
    variants = [v for v in workspace.variants() if v.status == "ok"] if workspace is not None else []  # type: ignore
    chosen = [Target.of_variant(workspace, v) for v in variants if v.id == selected_id]
    rest = [Target.of_variant(workspace, v) for v in reversed(variants) if v.id != selected_id]
    candidates = chosen + ([own] if own is not None else []) + rest
    for t in candidates:
        if t.format in RUNNABLE_SUFFIXES.values() and Path(t.path).is_file():
            return t
    return None


# what `serve` and `sweep` open besides ONNX/TFLite/IR: PyTorch files (eager, CPU or CUDA), AOTInductor
# packages and TensorRT engines; the .pt/.pt2 format is read from the archive, not trusted from the name
SERVED_SUFFIXES = {**ENGINE_SUFFIXES, ".pt": F.TORCHSCRIPT, ".pth": F.TORCHSCRIPT, ".ts": F.TORCHSCRIPT}
TORCH_RUNTIMES = (F.TORCHSCRIPT, F.TORCH_EXPORT, F.TORCH_PICKLE, F.AOTI)


def file_format(path: str | os.PathLike, by_suffix: str) -> str:
    """The runner format of a file: a ``.pt`` may hold TorchScript, a torch.export program or a pickle; a
    ``.pt2`` is an AOTInductor package when it carries compiled code (``data/aotinductor/``)."""
    p = Path(path)
    if by_suffix == F.TORCHSCRIPT:
        from engines.models.loader import detect_format

        return detect_format(p)
    if p.suffix.lower() == ".pt2":
        import zipfile

        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelLoadError(f"{p.name} is not a .pt2 archive (a zip): {exc}") from exc
        return F.AOTI if any("/data/aotinductor/" in f"/{n}" for n in names) else F.TORCH_EXPORT
    return by_suffix


def resolve_served(ref: str, model: str | os.PathLike | None = None,
                   workspace: str | os.PathLike | None = None) -> Target:
    """Like :func:`resolve_target`, also taking PyTorch files, AOTInductor packages and TensorRT engines."""
    t = _resolve(ref, model=model, workspace=workspace, formats=SERVED_SUFFIXES, purpose="served")
    if t.variant is None:
        t.format = file_format(t.path, t.format)
    return t


def cuda_available(fmt: str) -> bool:
    """Whether this machine can run ``fmt`` on CUDA (ONNX Runtime's CUDA provider, a CUDA build of PyTorch
    that sees a GPU, or TensorRT, which runs only there)."""
    if fmt == F.TENSORRT:
        return True
    if fmt == F.ONNX:
        from engines.measure.sweep import available_devices

        return "cuda" in available_devices()
    if fmt in TORCH_RUNTIMES:
        try:
            import torch
        except ImportError:
            return False
        return bool(torch.cuda.is_available())
    return False


def pick_device(fmt: str, asked: str) -> str:
    """``auto`` becomes ``cuda`` where this format can run on a GPU here, else ``cpu``; an explicit ``cuda``
    is kept (the runner refuses it with the reason when there is no GPU); TensorRT is always ``cuda``."""
    if fmt == F.TENSORRT:
        return "cuda"
    if asked == "auto":
        return "cuda" if cuda_available(fmt) else "cpu"
    if asked == "cuda" and fmt in (F.TFLITE, F.OPENVINO):
        raise UnsupportedError(f"the {F.label(fmt)} runtime runs on the CPU here: use --device cpu, or serve "
                               "the ONNX variant on CUDA")
    return asked


def open_served_runner(target: Target, *, device: str = "auto", threads: int | None = None, dtype: str = "fp32",
                       trust_pickle: bool = False) -> tuple[Any, str]:
    """The runner for ``target`` on the device picked by :func:`pick_device`, and that device."""
    from engines.measure.runners import open_runner

    dev = pick_device(target.format, device)
    if dtype != "fp32" and target.format not in (F.TORCHSCRIPT, F.TORCH_EXPORT, F.TORCH_PICKLE):
        raise UnsupportedError(f"--dtype {dtype} applies to PyTorch models run eagerly; {target.name} is "
                               f"{F.label(target.format)} (its precision is fixed when it is built)")
    kw: dict[str, Any] = {}
    if target.format in TORCH_RUNTIMES:
        kw["trust_pickle"] = trust_pickle
    if target.format in (F.TORCHSCRIPT, F.TORCH_EXPORT, F.TORCH_PICKLE):
        kw["dtype"] = dtype
    return open_runner(target.path, target.format, threads=threads, device=dev, **kw), dev
