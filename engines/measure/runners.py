"""Runners: one small interface to execute a model file of any supported format.

``open_runner(path, fmt, threads=..., device=...)`` returns an object with
``inputs`` / ``outputs`` (lists of :class:`TensorSpec`) and
``run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]``. Backends register a
factory by format name (the ``runtime`` entries of :mod:`engines.registry`,
collected in :data:`RUNNER_FACTORIES`) as ``"module:function"`` strings, so
nothing heavy is imported until a runner is opened.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engines.errors import ModelLoadError, UnsupportedError
from engines.models.model_info import TensorSpec


class Runner(Protocol):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    device: str
    threads: int | None

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


def _runner_factories() -> dict[str, str]:
    from engines.registry import by_kind

    return {fmt: cap.entry for cap in by_kind("runtime") for fmt in cap.input_formats}


RUNNER_FACTORIES: dict[str, str] = _runner_factories()



def default_threads() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's or taskset's share)."""
    from engines.measure.paired import available_cores

    return available_cores()


def ort_dtype(type_str: str) -> str:
    from engines.models.dtypes import ort_dtype as from_onnx

    return from_onnx(type_str)


class OnnxRunner:
    """ONNX Runtime session with explicit thread count and providers."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                 optimization: str = "all", spinning: bool = True) -> None:
        """``spinning=False`` lets idle intra-op threads sleep: use it when several sessions are timed side
        by side, or the spin-waiting threads of one steal the cores another is being timed on."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        self.threads = threads or default_threads()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[optimization]
        so.log_severity_level = 3
        if not spinning:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise UnsupportedError("ONNX Runtime has no CUDA execution provider here: "
                                       "install onnxruntime-gpu on a machine with an NVIDIA GPU")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"ONNX Runtime cannot load {Path(path).name}: {first}") from exc
        self.device = device
        self.inputs = [TensorSpec(i.name, tuple(d if isinstance(d, int) else (d or "?") for d in i.shape),
                                  ort_dtype(i.type)) for i in self.session.get_inputs()]
        self.outputs = [TensorSpec(o.name, tuple(d if isinstance(d, int) else (d or "?") for d in o.shape),
                                   ort_dtype(o.type)) for o in self.session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]
        from engines.models.shapes import annotate_onnx_inputs

        self.inputs = annotate_onnx_inputs(path, self.inputs)  # token ids within the vocabulary

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self._output_names, feeds)


def open_onnx_runner(path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                     **kw: Any) -> OnnxRunner:
    return OnnxRunner(path, threads=threads, device=device, **kw)


def open_runner(path: str | os.PathLike, fmt: str, threads: int | None = None, device: str = "cpu",
                **kw: Any) -> Runner:
    spec = RUNNER_FACTORIES.get(fmt)
    if spec is None:
        raise UnsupportedError(f"no runner for format {fmt!r}; supported: {', '.join(sorted(RUNNER_FACTORIES))}")
    module, func = spec.split(":")
    try:
        factory = getattr(importlib.import_module(module), func)
    except ImportError as exc:
        raise UnsupportedError(f"the {fmt} runtime is not available here: {exc}") from exc
    return factory(path, threads=threads, device=device, **kw)


def example_feeds(inputs: list[TensorSpec], batch: int = 1, seed: int = 0,
                  data: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Feeds for a model: rows of ``data`` (tiled to ``batch``) for the first input, meaningful values for the
    others (masks of ones, ids within the vocabulary); see :func:`engines.models.shapes.make_feeds`."""
    from engines.models.shapes import make_feeds

    return make_feeds(inputs, batch=batch, seed=seed, data=data)
