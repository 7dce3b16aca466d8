"""TensorRT engines from ONNX, with the real ``tensorrt`` Python API of 10.x and 11.x.

Build: ``trt.Builder`` → a strongly typed network (where the release has it; see
:mod:`engines.build.tensorrt_typing`: FP16 from a float16 copy of the graph,
INT8 from Q/DQ nodes) from ``trt.OnnxParser`` (every parser error is
reported with its node) → ``IBuilderConfig`` (workspace pool limit, only the
builder flags the release still has, SPARSE_WEIGHTS, one optimization
profile over the batch, a timing cache persisted between builds, detailed
profiling verbosity for the inspector, a progress monitor that reports and
cancels) → ``build_serialized_network`` → the engine file and its sidecar
(:mod:`engines.build.tensorrt_env`), written atomically. The engine inspector's
JSON gives the layer and precision report.

Run: the runner deserializes the engine only after its sidecar matched this
machine, binds torch CUDA tensors with ``set_tensor_address`` and calls
``execute_async_v3`` on a CUDA stream, then synchronizes (so host-side timing
of ``run`` is real). Without TensorRT or a GPU every entry point raises an
:class:`UnsupportedError` that names what is missing and how to install it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engines.build.tensorrt_env import check_engine_file, local_facts, require_tensorrt, write_sidecar
from engines.build.tensorrt_settings import TensorRTSettings, profile_shapes
from engines.build.tensorrt_typing import io_tensors, layer_output_types, network_flags, plan_for_module
from engines.errors import Cancelled, ModelLoadError, UnsupportedError, WorkbenchError
from engines.fsutil import atomic_path
from engines.models.model_info import TensorSpec
from engines.tasks import TaskContext, ensure_task

_OOM_WORDS = ("out of memory", "outofmemory", "cudaerrormemoryallocation", "requested amount of gpu memory",
              "insufficient memory", "failed to allocate")


def _logger(trt: Any, sink: list[str]) -> Any:
    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if int(severity) <= int(trt.ILogger.Severity.WARNING):
                sink.append(f"{getattr(severity, 'name', severity)}: {msg}")

    return _Logger()


def _monitor(trt: Any, task: TaskContext, deadline: float | None, state: dict[str, Any]) -> Any:
    """A progress monitor that reports phases and stops the build on cancel or at the deadline."""

    class _Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.phases: dict[str, list] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.phases[phase_name] = [max(1, num_steps), 0, parent_phase]
            self._tell(phase_name)

        def phase_finish(self, phase_name: str) -> None:
            self.phases.pop(phase_name, None)

        def step_complete(self, phase_name: str, step: int) -> bool:
            if phase_name in self.phases:
                self.phases[phase_name][1] = step + 1
            self._tell(phase_name)
            if task.cancelled:
                state["stopped"] = "cancelled"
            elif deadline is not None and time.monotonic() > deadline:
                state["stopped"] = "timeout"
            return "stopped" not in state  # False asks TensorRT to abandon the build

        def _tell(self, phase: str) -> None:
            top = [v for v in self.phases.values() if v[2] is None]
            frac = top[0][1] / top[0][0] if top else None
            try:
                task.report(None if frac is None else 0.2 + 0.6 * frac, f"TensorRT: {phase}")
            except Cancelled:
                state["stopped"] = "cancelled"

    return _Monitor()


def parse_onnx(trt: Any, builder: Any, onnx_path: Path, logger: Any, flags: int = 0) -> tuple[Any, Any]:
    """Network from the ONNX parser; a failure lists every parser error with its node."""
    network = builder.create_network(flags)  # explicit batch is the only mode since TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if parser.parse_from_file(str(onnx_path)):
        return network, parser
    nodes = _onnx_nodes(onnx_path)
    errors = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        idx = err.node()
        name = err.node_name() if hasattr(err, "node_name") else ""
        op = err.node_operator() if hasattr(err, "node_operator") else ""
        if not name and 0 <= idx < len(nodes):
            name, op = nodes[idx]
        where = f"node {name or idx!r} ({op})" if (name or idx >= 0) else "the model"
        errors.append(f"{where}: {err.desc()}")
    raise UnsupportedError("TensorRT's ONNX parser cannot take " + "; ".join(errors[:5])
                           + (f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""))


@contextlib.contextmanager
def _graph_for(plan: Any, onnx_path: Path, task: TaskContext) -> Iterator[Path]:
    """The ONNX file to parse: the model itself, or (strongly typed FP16) a float16 copy in a private folder."""
    if not plan.convert_to_fp16:
        yield onnx_path
        return
    import onnx
    from onnxconverter_common import float16

    task.report(0.03, "converting the graph to FP16 (float32 inputs and outputs kept) for strong typing")
    with tempfile.TemporaryDirectory(prefix="workbench-trt-") as tmp:
        half = Path(tmp) / "model.fp16.onnx"
        onnx.save(float16.convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True), str(half))
        yield half


def _onnx_nodes(path: Path) -> list[tuple[str, str]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return [(n.name, n.op_type) for n in model.graph.node]


def _input_specs(network: Any) -> list[TensorSpec]:
    specs = []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        specs.append(TensorSpec(t.name, tuple(int(d) if d >= 0 else "batch" for d in t.shape), "float32"))
    return specs


def build_tensorrt_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike,
                          settings: TensorRTSettings, *, timing_cache: str | os.PathLike | None = None,
                          timeout_s: float | None = None, task: TaskContext | None = None) -> dict[str, Any]:
    """Build and write an engine (+ sidecar); return the build report (layers, precisions, timings)."""
    task = ensure_task(task)
    facts = local_facts()
    trt = require_tensorrt(facts)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    log: list[str] = []
    t0 = time.perf_counter()
    logger = _logger(trt, log)  # TensorRT keeps a raw pointer: hold the Python object for the whole build
    builder = trt.Builder(logger)
    plan = plan_for_module(trt, settings.precision, sparse=settings.sparse_weights)
    with _graph_for(plan, onnx_path, task) as graph:
        task.report(0.05, "parsing ONNX with TensorRT's parser")
        network, _parser = parse_onnx(trt, builder, graph, logger, network_flags(trt, plan))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    config.builder_optimization_level = settings.builder_optimization_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile_shapes(_input_specs(network), settings).items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    cache_bytes = Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).is_file() else b""
    config.set_timing_cache(config.create_timing_cache(cache_bytes), False)
    state: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s if timeout_s else None
    monitor = _monitor(trt, task, deadline, state)
    config.progress_monitor = monitor
    task.report(0.15, f"building ({plan.describe()}; workspace "
                      f"{settings.workspace_mb} MB; batch {settings.min_batch}/{settings.opt_batch}/"
                      f"{settings.max_batch})")
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if serialized is None:
        raise _build_failure(state, log, timeout_s, settings)
    with atomic_path(engine_path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(memoryview(serialized))
        task.check()
        write_sidecar(tmp, facts, {**settings.to_dict(), "typing": plan.to_dict()}, target=engine_path)
    if timing_cache:
        with atomic_path(timing_cache) as tmp:
            tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
    task.report(0.85, "inspecting the engine")
    report = inspect_engine(engine_path, trt=trt)
    report.update({"build_s": round(build_s, 3), "settings": settings.to_dict(), "warnings": log[-20:],
                   "tensorrt_version": facts.tensorrt_version, "gpu": facts.gpu_name,
                   "compute_capability": facts.compute_capability, "typing": plan.to_dict(),
                   "notes": list(settings.notes) + list(plan.notes)})
    task.report(1.0, f"engine built in {build_s:.1f} s")
    return report


def _build_failure(state: dict[str, Any], log: list[str], timeout_s: float | None,
                   settings: TensorRTSettings) -> Exception:
    if state.get("stopped") == "cancelled":
        return Cancelled("cancelled")
    if state.get("stopped") == "timeout":
        from engines.build.subproc import BuildTimeout

        return BuildTimeout(f"TensorRT build took longer than its {timeout_s:g} s time limit and was stopped; "
                            "nothing was written: raise the time limit (--timeout) or lower the optimization level")
    text = " | ".join(log[-5:])
    if any(w in text.lower() for w in _OOM_WORDS):
        from engines.build.subproc import BuildOutOfMemory

        return BuildOutOfMemory(f"TensorRT ran out of GPU memory while building (workspace {settings.workspace_mb} "
                                f"MB, max batch {settings.max_batch}); nothing was written: lower --max-batch or "
                                f"--workspace-mb, or free the GPU. Last messages: {text[:300]}")
    return WorkbenchError(f"TensorRT could not build the engine: {text[:400] or 'no message from TensorRT'}")


def inspect_engine(engine_path: str | os.PathLike, *, trt: Any = None) -> dict[str, Any]:
    """Layer count, layer types and output precisions from the engine inspector (JSON format)."""
    trt = trt or require_tensorrt()
    log: list[str] = []
    logger = _logger(trt, log)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
    if engine is None:
        raise ModelLoadError(f"TensorRT could not deserialize {Path(engine_path).name}: {' | '.join(log[-3:])}")
    inspector = engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    return summarize_layers(info)


def summarize_layers(info: dict[str, Any]) -> dict[str, Any]:
    """Turn the inspector's JSON into counts by layer type and by output precision."""
    layers = info.get("Layers", []) if isinstance(info, dict) else []
    types: Counter = Counter()
    precisions: Counter = Counter()
    rows = []
    for layer in layers:
        if isinstance(layer, str):  # LAYER_NAMES_ONLY verbosity
            rows.append({"name": layer})
            continue
        ltype = str(layer.get("LayerType", "?"))
        types[ltype] += 1
        prec = _precision_of(layer_output_types(layer))
        precisions[prec] += 1
        rows.append({"name": layer.get("Name", "?"), "type": ltype, "precision": prec,
                     "tactic": layer.get("TacticName", "")})
    return {"layers": len(layers), "layer_types": dict(types.most_common()),
            "precisions": dict(precisions.most_common()), "layer_table": rows[:500],
            "io_tensors": io_tensors(info) if isinstance(info, dict) else []}


def _precision_of(fmt: str) -> str:
    f = fmt.lower()
    for key, name in (("int8", "INT8"), ("fp8", "FP8"), ("bf16", "BF16"), ("fp16", "FP16"), ("half", "FP16"),
                      ("fp32", "FP32"), ("float", "FP32"), ("int32", "INT32"), ("int64", "INT64"), ("bool", "BOOL")):
        if key in f:
            return name
    return "other"


class TensorRTRunner:
    """Runs a checked engine with torch CUDA buffers; ``run`` returns numpy arrays after a stream sync."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: str = "cuda") -> None:
        facts = local_facts()
        check_engine_file(path, facts)       # refuses foreign engines before TensorRT sees the bytes
        trt = require_tensorrt(facts)
        import torch

        self._trt, self._torch = trt, torch
        log: list[str] = []
        self._logger = _logger(trt, log)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise ModelLoadError(f"TensorRT could not deserialize {Path(path).name}: {' | '.join(log[-3:])}")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.threads = threads
        self.device = f"cuda:0 ({facts.gpu_name})"
        self.inputs, self.outputs = [], []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))).name
            shape = tuple(int(d) if d >= 0 else "batch" for d in self.engine.get_tensor_shape(name))
            spec = TensorSpec(name, shape, dtype)
            (self.inputs if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else self.outputs).append(spec)

    def _bind(self, feeds: dict[str, np.ndarray]) -> tuple[list[Any], list[Any]]:
        """Copy inputs to the GPU, allocate outputs, bind every address; returns (inputs, outputs)."""
        torch = self._torch
        keep = []
        for spec in self.inputs:
            arr = np.ascontiguousarray(feeds[spec.name].astype(spec.dtype, copy=False))
            t = torch.from_numpy(arr).to("cuda", non_blocking=False)
            self.context.set_input_shape(spec.name, tuple(arr.shape))
            self.context.set_tensor_address(spec.name, t.data_ptr())
            keep.append(t)
        outs = []
        for spec in self.outputs:
            shape = tuple(self.context.get_tensor_shape(spec.name))
            t = torch.empty(shape, dtype=getattr(torch, spec.dtype), device="cuda")
            self.context.set_tensor_address(spec.name, t.data_ptr())
            outs.append(t)
        return keep, outs

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        _inputs, outs = self._bind(feeds)
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise WorkbenchError("TensorRT execution failed (execute_async_v3 returned False)")
        self.stream.synchronize()
        return [o.cpu().numpy() for o in outs]

    def device_time_ms(self, feeds: dict[str, np.ndarray], iterations: int = 100) -> float:
        """Mean GPU time of execute_async_v3 alone (CUDA events; buffers bound once, no copies)."""
        torch = self._torch
        bound = self._bind(feeds)  # keeps the buffers alive while the GPU uses them
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(10):
            self.context.execute_async_v3(self.stream.cuda_stream)
        start.record(self.stream)
        for _ in range(iterations):
            self.context.execute_async_v3(self.stream.cuda_stream)
        end.record(self.stream)
        end.synchronize()
        del bound
        return float(start.elapsed_time(end)) / iterations


def open_tensorrt_runner(path: str | os.PathLike, threads: int | None = None, device: str = "cuda",
                         **_: Any) -> TensorRTRunner:
    return TensorRTRunner(path, threads=threads, device=device)


def compare_with_ort(onnx_path: str | os.PathLike, engine_path: str | os.PathLike,
                     feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fidelity of the engine against ONNX Runtime (CPU) on the same inputs, as Polygraphy compares."""
    from engines.build.compare import compare_outputs
    from engines.measure.runners import open_onnx_runner

    reference = open_onnx_runner(onnx_path).run(feeds)
    got = open_tensorrt_runner(engine_path).run(feeds)
    return compare_outputs(reference, got)

