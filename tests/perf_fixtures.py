"""Tiny models and helpers shared by the performance-lab tests (built in the test, no downloads)."""

from __future__ import annotations

import os
import time
import types
from pathlib import Path

import numpy as np

from engines.models.model_info import TensorSpec


def tiny_onnx(path: Path, in_features: int = 16, out_features: int = 4, seed: int = 0) -> Path:
    """A dense layer + softmax with a dynamic batch axis: x float32 [N, in] -> y [N, out]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((in_features, out_features)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(out_features).astype(np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["z"]),
             helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_features])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_features])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


class SlowRunner:
    """A runner whose every call takes ``delay_s`` (to hold requests in flight); records batch sizes."""

    def __init__(self, delay_s: float = 0.05, features: int = 4) -> None:
        self.inputs = [TensorSpec("x", ("N", features), "float32")]
        self.outputs = [TensorSpec("y", ("N", 1), "float32")]
        self.device, self.threads = "cpu", 1
        self.delay_s = delay_s
        self.calls: list[int] = []

    def run(self, feeds):
        x = feeds["x"]
        self.calls.append(int(x.shape[0]))
        time.sleep(self.delay_s)
        return [x.sum(axis=1, keepdims=True)]


def _pynvml():
    import pynvml

    return pynvml


class FakeNvml(types.SimpleNamespace):
    """NVML failure injection: the real pynvml error classes and constants, scripted answers.

    Used only to drive the error paths (no GPU here); ``mode`` switches behaviour mid-run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mode = "ok"
        self.NVMLError = _pynvml().NVMLError
        for name in ("NVML_TEMPERATURE_GPU", "NVML_CLOCK_SM", "NVML_CLOCK_MEM", "NVML_ERROR_GPU_IS_LOST",
                     "NVML_ERROR_UNINITIALIZED", "NVML_ERROR_DRIVER_NOT_LOADED", "NVML_ERROR_NOT_FOUND"):
            setattr(self, name, getattr(_pynvml(), name))
        self.shutdowns = 0

    def _check(self) -> None:
        if self.mode == "fail":
            raise _pynvml().NVMLError(_pynvml().NVML_ERROR_UNKNOWN)
        if self.mode == "lost":
            raise _pynvml().NVMLError(_pynvml().NVML_ERROR_GPU_IS_LOST)

    def nvmlInit(self): pass
    def nvmlShutdown(self): self.shutdowns += 1
    def nvmlDeviceGetCount(self): return 1
    def nvmlDeviceGetHandleByIndex(self, i): return f"h{i}"
    def nvmlDeviceGetName(self, h): return b"Fake Test GPU"
    def nvmlDeviceGetUUID(self, h): return "GPU-test"
    def nvmlDeviceGetEnforcedPowerLimit(self, h): return 300_000

    def nvmlDeviceGetUtilizationRates(self, h):
        self._check()
        return types.SimpleNamespace(gpu=37, memory=12)

    def nvmlDeviceGetMemoryInfo(self, h):
        self._check()
        return types.SimpleNamespace(used=2 * 2**30, total=16 * 2**30, free=14 * 2**30)

    def nvmlDeviceGetPowerUsage(self, h):
        raise _pynvml().NVMLError(_pynvml().NVML_ERROR_NOT_SUPPORTED)   # a field this "driver" lacks

    def nvmlDeviceGetTemperature(self, h, sensor):
        self._check()
        return 55

    def nvmlDeviceGetClockInfo(self, h, kind):
        self._check()
        return 1400 if kind == _pynvml().NVML_CLOCK_SM else 5000

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        self._check()
        return [types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=512 * 2**20),
                types.SimpleNamespace(pid=1, usedGpuMemory=None)]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        self._check()
        return []
