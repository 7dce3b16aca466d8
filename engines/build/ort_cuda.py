"""ONNX Runtime's CUDA execution provider, when ``onnxruntime-gpu`` is installed.

The CPU wheel ``onnxruntime`` has no CUDA provider. ``onnxruntime-gpu`` (a
different wheel: uninstall ``onnxruntime`` first) brings
``CUDAExecutionProvider`` and needs an NVIDIA GPU with a matching CUDA and
cuDNN. Availability is read from ``onnxruntime.get_available_providers()``;
when it is missing, :func:`cuda_ep_status` says exactly what and how to fix it.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from engines.errors import UnsupportedError

INSTALL_HINT = ("pip uninstall -y onnxruntime && pip install onnxruntime-gpu (on a machine with an NVIDIA GPU, "
                "its driver, CUDA 12 and cuDNN 9)")


def nvidia_gpu_present() -> bool:
    """True when an NVIDIA driver is visible (device node or nvidia-smi)."""
    return os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi") is not None


def cuda_ep_status() -> dict[str, Any]:
    """``{"available": bool, "reason": str, "providers": [...]}`` without raising."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {"available": False, "providers": [], "reason": "onnxruntime is not installed: " + INSTALL_HINT}
    providers = list(ort.get_available_providers())
    if "CUDAExecutionProvider" in providers:
        return {"available": True, "providers": providers,
                "reason": f"onnxruntime {ort.__version__} with CUDAExecutionProvider"}
    gpu = nvidia_gpu_present()
    why = (f"onnxruntime {ort.__version__} here is the CPU build (providers: {', '.join(providers)})"
           + ("" if gpu else " and this machine has no NVIDIA GPU"))
    return {"available": False, "providers": providers, "reason": f"{why}: {INSTALL_HINT}"}


def require_cuda_ep() -> None:
    """Raise a one-line :class:`UnsupportedError` unless the CUDA execution provider can be used."""
    status = cuda_ep_status()
    if not status["available"]:
        raise UnsupportedError(f"ONNX Runtime CUDA is not available: {status['reason']}")


def open_cuda_runner(path: str | os.PathLike, threads: int | None = None) -> Any:
    """An :class:`engines.measure.runners.OnnxRunner` on the CUDA provider (CPU fallback for unsupported nodes)."""
    from engines.measure.runners import OnnxRunner

    require_cuda_ep()
    return OnnxRunner(path, threads=threads, device="cuda")
