"""What this machine offers TensorRT, and whether an engine file was built for it.

A serialized TensorRT engine runs only with the TensorRT version that built it
and on the same GPU model (compute capability and SM count matter). TensorRT
refuses a foreign engine with an opaque message, or worse, so every engine the
workbench writes gets a sidecar ``<engine>.json`` with the TensorRT version, the
GPU name and its compute capability and the engine's SHA-256; it is checked
*before* deserializing, and a mismatch is refused with the reason.

Nothing here imports TensorRT at module level; the checks are plain Python so
they can be tested on a machine without it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engines.errors import ModelLoadError, UnsupportedError, first_line
from engines.fsutil import sha256_file, write_text_atomic

INSTALL_HINT = ("pip install tensorrt --extra-index-url https://pypi.nvidia.com on a machine with an NVIDIA GPU "
                "and driver (TensorRT wheels come only from NVIDIA's index)")
TORCH_CUDA_HINT = ("PyTorch with CUDA for the engine's GPU buffers "
                   "(pip install torch --index-url https://download.pytorch.org/whl/cu124)")
SIDECAR_SUFFIX = ".json"
SIDECAR_VERSION = 1


@dataclass(frozen=True)
class EnvFacts:
    tensorrt_version: str | None = None     # None: not importable
    tensorrt_error: str | None = None
    gpu_name: str | None = None             # None: no NVIDIA GPU visible
    compute_capability: str | None = None   # "8.6"
    torch_cuda: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gpu_from_nvml() -> tuple[str | None, str | None]:
    try:
        import pynvml
    except ImportError:
        return None, None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver
        return None, None
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return None, None
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        try:
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            cc = f"{major}.{minor}"
        except Exception:
            cc = None
        return name, cc
    except Exception:
        return None, None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def local_facts() -> EnvFacts:
    """TensorRT version, GPU and whether torch can hold CUDA buffers, read without raising."""
    trt_version = trt_error = None
    try:
        import tensorrt as trt

        trt_version = str(trt.__version__)
    except Exception as exc:  # ImportError, or the PyPI stub failing to fetch the real wheel
        trt_error = f"{type(exc).__name__}: {first_line(exc)}"
    torch_cuda = False
    gpu = cc = None
    try:
        import torch

        torch_cuda = bool(torch.cuda.is_available())
        if torch_cuda:
            gpu = torch.cuda.get_device_name(0)
            major, minor = torch.cuda.get_device_capability(0)
            cc = f"{major}.{minor}"
    except Exception:
        torch_cuda = False
    if gpu is None:
        gpu, cc = _gpu_from_nvml()
    return EnvFacts(trt_version, trt_error, gpu, cc, torch_cuda)


def missing_parts(facts: EnvFacts) -> list[str]:
    """Each thing that stops a TensorRT build here, with how to get it."""
    missing = []
    if facts.tensorrt_version is None:
        missing.append(f"the tensorrt Python package is not installed: {INSTALL_HINT}")
    if facts.gpu_name is None:
        missing.append("no NVIDIA GPU or driver is visible (NVML/CUDA found none): TensorRT runs only on "
                       "NVIDIA GPUs; use a GPU machine (e.g. AWS g5/g6) with the NVIDIA driver")
    elif not facts.torch_cuda:
        missing.append(f"this PyTorch cannot use the GPU: install {TORCH_CUDA_HINT}")
    return missing


def tensorrt_status(facts: EnvFacts | None = None) -> dict[str, Any]:
    """``{"available", "missing": [...], "summary", "facts"}`` for the UI and the CLI."""
    facts = facts or local_facts()
    missing = missing_parts(facts)
    if missing:
        summary = "TensorRT unavailable here: " + "; ".join(missing)
    else:
        summary = f"TensorRT {facts.tensorrt_version} on {facts.gpu_name} (compute {facts.compute_capability})"
    return {"available": not missing, "missing": missing, "summary": summary, "facts": facts.to_dict()}


def require_tensorrt(facts: EnvFacts | None = None) -> Any:
    """The ``tensorrt`` module, or a one-line :class:`UnsupportedError` naming what is missing."""
    status = tensorrt_status(facts)
    if not status["available"]:
        raise UnsupportedError(status["summary"])
    import tensorrt as trt

    return trt


# -- sidecar -----------------------------------------------------------------
def sidecar_path(engine: str | os.PathLike) -> Path:
    return Path(str(engine) + SIDECAR_SUFFIX)


def write_sidecar(engine: str | os.PathLike, facts: EnvFacts, settings: dict[str, Any],
                  target: str | os.PathLike | None = None) -> dict[str, Any]:
    """Record what ``engine`` was built with; written atomically next to ``target`` (default: the engine)."""
    meta = {
        "sidecar_version": SIDECAR_VERSION,
        "format": "tensorrt",
        "tensorrt_version": facts.tensorrt_version,
        "gpu_name": facts.gpu_name,
        "compute_capability": facts.compute_capability,
        "engine_sha256": sha256_file(engine),
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings,
    }
    write_text_atomic(sidecar_path(target or engine), json.dumps(meta, indent=1))
    return meta


def read_sidecar(engine: str | os.PathLike) -> dict[str, Any]:
    path = sidecar_path(engine)
    if not path.is_file():
        raise UnsupportedError(f"{Path(engine).name} has no {path.name} sidecar recording the TensorRT version "
                               "and GPU it was built for, so it is not loaded: rebuild it with workbench build")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path.name} is unreadable ({exc}): rebuild the engine") from exc
    if not isinstance(meta, dict) or meta.get("format") != "tensorrt":
        raise ModelLoadError(f"{path.name} is not a TensorRT engine sidecar: rebuild the engine")
    return meta


def incompatibility(meta: dict[str, Any], facts: EnvFacts) -> str | None:
    """Why an engine described by ``meta`` cannot run here, or None when it can."""
    built_trt, built_gpu = meta.get("tensorrt_version"), meta.get("gpu_name")
    built_cc = meta.get("compute_capability")
    reasons = []
    if facts.tensorrt_version is None:
        reasons.append("TensorRT is not installed here")
    elif built_trt != facts.tensorrt_version:
        major = (str(built_trt).split(".")[0], str(facts.tensorrt_version).split(".")[0])
        reasons.append(f"TensorRT here is {facts.tensorrt_version}" + (
            f" (a TensorRT {major[0]} engine cannot be deserialized by TensorRT {major[1]}: plans do not carry "
            "across major versions)" if major[0] != major[1] else ""))
    if facts.gpu_name is None:
        reasons.append("this machine has no NVIDIA GPU")
    elif built_cc != facts.compute_capability or built_gpu != facts.gpu_name:
        reasons.append(f"the GPU here is {facts.gpu_name} (compute {facts.compute_capability})")
    if not reasons:
        return None
    return (f"built with TensorRT {built_trt} for {built_gpu} (compute {built_cc}), but "
            + " and ".join(reasons))


def check_engine_file(engine: str | os.PathLike, facts: EnvFacts | None = None) -> dict[str, Any]:
    """Refuse, with the reason, an engine from another TensorRT version or GPU (or a tampered file)."""
    engine = Path(engine)
    if not engine.is_file():
        raise ModelLoadError(f"{engine} does not exist")
    meta = read_sidecar(engine)
    facts = facts or local_facts()
    why = incompatibility(meta, facts)
    if why:
        raise UnsupportedError(f"engine {engine.name} refused: {why}; rebuild it on this machine "
                               "(workbench build --backend tensorrt)")
    if meta.get("engine_sha256") and meta["engine_sha256"] != sha256_file(engine):
        raise ModelLoadError(f"engine {engine.name} does not match its sidecar (different SHA-256): the file was "
                             "replaced or corrupted; rebuild it")
    return meta
