"""Availability checks named by the registry: each returns an :class:`Availability`, never raises.

A check says what it found ("onnxruntime 1.32 (CPU)") or exactly what is
missing and how to get it. Checks that only need to know whether a package is
installed use ``importlib.util.find_spec`` and import nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from engines.registry import Availability


def _installed(module: str, hint: str) -> Availability:
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return Availability(True, f"{module} installed")
    return Availability(False, f"{module} is not installed", (hint,))


def onnxruntime(**_: Any) -> Availability:
    return _installed("onnxruntime", "pip install onnxruntime")


def tensorflow(**_: Any) -> Availability:
    return _installed("tensorflow", "install the tf extra: pip install -e '.[tf]'")


def litert(**_: Any) -> Availability:
    return _installed("ai_edge_litert", "install the tf extra: pip install -e '.[tf]' (ai-edge-litert)")


def torch(**_: Any) -> Availability:
    return _installed("torch", "pip install torch==2.13.0")


def torch_pruning(**_: Any) -> Availability:
    return _installed("torch_pruning", "pip install torch-pruning")


def boto3(**_: Any) -> Availability:
    return _installed("boto3", "install the aws extra: pip install -e '.[aws]'")


def ort_backend(device: str = "cpu", **_: Any) -> Availability:
    """ONNX Runtime on ``device``: the CPU build, or the CUDA execution provider."""
    if device == "cuda":
        from engines.build.ort_cuda import cuda_ep_status

        st = cuda_ep_status()
        return Availability(st["available"], st["reason"] if st["available"] else "ONNX Runtime CUDA is not usable",
                            () if st["available"] else (st["reason"],))
    try:
        import onnxruntime as ort
    except ImportError:
        return Availability(False, "onnxruntime is not installed", ("pip install onnxruntime",))
    return Availability(True, f"onnxruntime {ort.__version__} (CPU)")


def aoti_backend(device: str = "cpu", **_: Any) -> Availability:
    """AOTInductor: PyTorch, a C++ compiler for CPU packages, CUDA for GPU packages."""
    from engines.build.aoti import compiler_status

    try:
        import torch as _torch
    except ImportError:
        return Availability(False, "PyTorch is not installed", ("pip install torch==2.13.0",))
    cuda = bool(_torch.cuda.is_available())
    if device == "cuda" and not cuda:
        return Availability(False, "AOTInductor for CUDA needs an NVIDIA GPU and a CUDA build of PyTorch",
                            (f"torch {_torch.__version__} here sees no CUDA device: use a GPU machine with a "
                             "CUDA build of PyTorch",))
    ok, why = compiler_status()
    where = "CUDA" if device == "cuda" else "CPU"
    if not ok:
        return Availability(False, f"AOTInductor on {where} cannot compile here", (why,))
    return Availability(True, f"torch {_torch.__version__} on {where}; {why}; needs a PyTorch model (.pt/.pt2)")


def tensorrt_backend(facts: Any = None, **_: Any) -> Availability:
    from engines.build.tensorrt_env import local_facts, tensorrt_status

    st = tensorrt_status(facts or local_facts())
    if st["available"]:
        try:
            import tensorrt as trt

            from engines.build.tensorrt_typing import plan_for_module

            plans = "; ".join(f"{p}: {plan_for_module(trt, p).describe().split(': ', 1)[-1]}"
                              for p in ("fp32", "fp16", "int8"))
            return Availability(True, f"{st['summary']} — {plans}")
        except Exception as exc:  # noqa: BLE001 - an unsupported release: say so instead of building
            return Availability(False, f"TensorRT found but not usable: {exc}", (str(exc),))
    return Availability(False, "TensorRT cannot be used here", tuple(st["missing"]))


def openvino(**_: Any) -> Availability:
    return _installed("openvino", "install the openvino extra: pip install -e '.[openvino]'")


def openvino_backend(device: str = "cpu", **_: Any) -> Availability:
    """OpenVINO on CPU, with NNCF for INT8; says which versions it found."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ov = version("openvino")
    except PackageNotFoundError:
        return Availability(False, "OpenVINO is not installed", ("install the openvino extra: pip install -e "
                                                                  "'.[openvino]' (openvino, nncf)",))
    if device != "cpu":
        return Availability(False, f"the workbench runs OpenVINO on cpu only, not {device}", ("choose cpu",))
    try:
        nncf = version("nncf")
    except PackageNotFoundError:
        return Availability(True, f"openvino {ov} (CPU); int8 needs NNCF: pip install nncf")
    return Availability(True, f"openvino {ov} (CPU), nncf {nncf} for int8")
