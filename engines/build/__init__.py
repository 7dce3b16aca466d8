"""Engine builds: ONNX Runtime offline optimization, AOTInductor packages, TensorRT engines.

Entry point: :func:`engines.build.builder.build_engine` (a workspace variant in,
a measured engine variant out). :func:`backend_status` says, without building
anything, which backends this machine can use and, for those it cannot, exactly
what is missing and how to install it. Heavy frameworks are imported inside
the functions that need them.
"""

from __future__ import annotations

from typing import Any

BACKEND_LABELS = {
    "ort": "ONNX Runtime optimized (CPU)",
    "ort-cuda": "ONNX Runtime CUDA",
    "aoti": "PyTorch AOTInductor (.pt2)",
    "tensorrt": "TensorRT",
}


def backend_status(facts: Any = None) -> dict[str, dict[str, Any]]:
    """``{backend: {"available": bool, "detail": str}}`` for ort, ort-cuda, aoti and tensorrt."""
    from engines.build.aoti import compiler_status
    from engines.build.ort_cuda import cuda_ep_status
    from engines.build.tensorrt_env import tensorrt_status

    out: dict[str, dict[str, Any]] = {}
    try:
        import onnxruntime as ort

        out["ort"] = {"available": True, "detail": f"onnxruntime {ort.__version__} (CPU)"}
    except ImportError:
        out["ort"] = {"available": False, "detail": "onnxruntime is not installed: pip install onnxruntime"}
    cuda = cuda_ep_status()
    out["ort-cuda"] = {"available": cuda["available"], "detail": cuda["reason"]}
    ok, why = compiler_status()
    try:
        import torch

        cuda_note = " and CUDA" if torch.cuda.is_available() else " (CPU; CUDA needs a GPU and a CUDA torch build)"
        out["aoti"] = {"available": ok, "detail": (f"torch {torch.__version__}{cuda_note}; {why}" if ok else why)
                       + "; needs a PyTorch model (.pt/.pt2)"}
    except ImportError:
        out["aoti"] = {"available": False, "detail": "PyTorch is not installed: pip install torch"}
    trt = tensorrt_status(facts)
    out["tensorrt"] = {"available": trt["available"], "detail": trt["summary"], "missing": trt["missing"]}
    return out
