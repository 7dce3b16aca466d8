"""Engine builds as workspace variants: build, benchmark and compare with the source, in one call.

``build_engine(workspace, variant, backend, precision)`` turns a variant (ONNX
for ``ort``/``tensorrt``; the PyTorch model file for ``aoti``) into an engine
variant (``kind="engine"``, format ``onnx``/``aoti``/``tensorrt``). The build,
its fidelity check against the source on the same inputs and the latency of
both (side by side, same harness, same threads) all happen inside
``Workspace.create``'s temp folder, so a failure, a time-out or a cancel leaves
no files. The recipe (source id and file hash, backend, precision, profile,
options, and the TensorRT version and GPU for TensorRT) keys the variant: the
same build is never done twice.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import Cancelled, UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task
from engines.workspace import Variant, Workspace, default_home

from engines import formats as F
from engines.registry import by_kind as _by_kind

_ENGINES = {c.id: c for c in _by_kind("engine")}
BACKENDS = tuple(_ENGINES)
PRECISIONS = tuple(dict.fromkeys(p for c in _ENGINES.values() for p in c.precisions))
ENGINE_FORMATS = {k: c.output_format for k, c in _ENGINES.items()}
ENGINE_FILES = {k: c.output_file for k, c in _ENGINES.items()}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
QOPERATOR_OPS = {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
                 "MatMulIntegerToFloat", "QGemm", "QLinearAdd"}
RANDOM_SAMPLES = 32


@dataclass(frozen=True)
class BuildOptions:
    profile: tuple[int, int, int] = (1, 8, 32)
    device: str = "cpu"                 # cpu | cuda
    ort_level: str = "all"              # basic | extended | layout | all
    workspace_mb: int = 1024            # TensorRT workspace pool
    sparse: bool = False                # TensorRT 2:4 sparse weights
    timeout_s: float | None = 900.0
    memory_limit_mb: int | None = None  # address-space cap of the build process (ort, aoti)
    bench_iterations: int = 200
    bench_budget_s: float = 2.0
    threads: int | None = None          # inference threads for the measurements (default: the cores available)
    trust_pickle: bool = False
    engine_options: dict[str, Any] = field(default_factory=dict)  # backend-specific (openvino: hint, streams)

    def recipe_part(self, backend: str) -> dict[str, Any]:
        part: dict[str, Any] = {"profile": list(self.profile), "device": self.device}
        if backend == "ort":
            part["ort_level"] = self.ort_level
        if backend == "tensorrt":
            part.update(workspace_mb=self.workspace_mb, sparse=self.sparse)
        if self.engine_options:
            part["options"] = dict(sorted(self.engine_options.items()))
        return part


def quant_kind(onnx_path: str | os.PathLike) -> str:
    """"qdq", "qoperator" or "float" for an ONNX model."""
    import onnx

    ops = {n.op_type for n in onnx.load(str(onnx_path), load_external_data=False).graph.node}
    if ops & QOPERATOR_OPS:
        return "qoperator"
    return "qdq" if ops & QDQ_OPS else "float"


def _check_choices(backend: str, precision: str) -> None:
    if backend not in BACKENDS:
        raise WorkbenchError(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise WorkbenchError(f"unknown precision {precision!r}: choose {', '.join(PRECISIONS)}")


def _check_precision(backend: str, precision: str, source: Variant, qkind: str | None) -> None:
    _check_choices(backend, precision)
    if F.ONNX in _ENGINES[backend].input_formats and source.format != "onnx":
        raise UnsupportedError(f"the {backend} backend builds from ONNX and variant {source.name!r} is "
                               f"{source.format}: pick an ONNX variant")
    if qkind is None:
        return
    if precision == "int8" and qkind == "float" and not _ENGINES[backend].meta.get("int8_from_float"):
        raise UnsupportedError(f"variant {source.name!r} is not quantized: int8 engines are built from an INT8 "
                               "variant (Optimize → int8 static, QDQ), or choose fp32/fp16")
    if precision != "int8" and qkind != "float":
        raise UnsupportedError(f"variant {source.name!r} is already INT8 ({qkind.upper()}): choose --precision int8")
    if backend == "tensorrt" and qkind == "qoperator":
        raise UnsupportedError(f"variant {source.name!r} uses the QOperator format (QLinearConv...), which "
                               "TensorRT cannot parse: quantize with the QDQ format for TensorRT")


def _dataset(data: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    if data is None:
        return None, None
    if isinstance(data, (str, os.PathLike)):
        from engines.models.data import load_data

        data = load_data(data)
    if hasattr(data, "x"):
        return np.asarray(data.x), None if getattr(data, "y", None) is None else np.asarray(data.y)
    if isinstance(data, tuple):
        return np.asarray(data[0]), None if len(data) < 2 or data[1] is None else np.asarray(data[1])
    return np.asarray(data), None


def _name(backend: str, precision: str, opts: BuildOptions) -> str:
    lo, opt, hi = opts.profile
    if backend == "ort":
        return f"ORT {opts.ort_level}-opt {precision}" + (" cuda" if opts.device == "cuda" else "")
    if backend == "aoti":
        return f"AOTI {opts.device} {precision} b{lo}-{hi}"
    if backend == "tensorrt":
        return f"TensorRT {precision}{' sparse' if opts.sparse else ''} b{lo}/{opt}/{hi}"
    options = " ".join(k.replace("_", "-") if v is True else f"{v}" for k, v in sorted(opts.engine_options.items())
                       if v is not None and v is not False)
    return f"{_ENGINES[backend].label} {precision}" + (f" {options}" if options else "")


def build_engine(workspace: Workspace, variant: Variant | str, backend: str, precision: str, *,
                 profile: tuple[int, int, int] = (1, 8, 32), task: TaskContext | None = None,
                 model_path: str | os.PathLike | None = None, data: Any = None,
                 options: BuildOptions | None = None) -> Variant:
    """Build ``backend`` at ``precision`` from ``variant``; return the measured engine variant."""
    from engines.build.subproc import BuildOutOfMemory, BuildTimeout
    from engines.optimize.context import cached_sha256

    task = ensure_task(task)
    opts = replace(options or BuildOptions(), profile=tuple(int(p) for p in profile))
    source = workspace.resolve(variant) if isinstance(variant, str) else variant
    if source.status != "ok":
        raise WorkbenchError(f"variant {source.name!r} failed to build ({source.error}): pick another one")
    src_path = workspace.model_path(source)
    precision, backend = str(precision).lower(), str(backend).lower()
    keras_src = _keras_source(backend, source, model_path)  # a Keras baseline reaches ORT through tf2onnx
    if keras_src is not None:
        _check_precision(backend, precision, replace(source, format="onnx"), "float")
    else:
        _check_precision(backend, precision, source, quant_kind(src_path) if source.format == "onnx" else None)
    lo, opt, hi = opts.profile
    if not 1 <= lo <= opt <= hi:
        raise WorkbenchError(f"batch profile {lo}/{opt}/{hi} is invalid: need 1 <= min <= opt <= max")
    recipe: dict[str, Any] = {"engine": backend, "precision": precision, "source": source.id,
                              "source_sha256": cached_sha256(src_path), **opts.recipe_part(backend)}
    torch_src: Path | None = None
    if backend == "aoti":
        if source.kind != "baseline":
            raise UnsupportedError(f"AOTInductor compiles the open PyTorch model itself, not variant {source.name!r} "
                                   "(an ONNX file): build it from the baseline, or use the ort backend for variants")
        torch_src = _torch_source(model_path)
        recipe["torch_sha256"] = cached_sha256(torch_src)
    if backend == "openvino" and opts.engine_options.get("frontend") == "pytorch":
        if source.kind != "baseline":   # convert_model takes the open PyTorch model, not an ONNX variant
            raise UnsupportedError(f"the PyTorch frontend converts the open PyTorch model, not variant "
                                   f"{source.name!r}: build it from the baseline, or use --frontend onnx")
        torch_src = _torch_source(model_path, "OpenVINO's PyTorch frontend")
        recipe["torch_sha256"] = cached_sha256(torch_src)
    if keras_src is not None:
        recipe["keras_sha256"] = cached_sha256(keras_src)
    if backend == "tensorrt":
        from engines.build.tensorrt_env import local_facts, require_tensorrt

        facts = local_facts()
        require_tensorrt(facts)
        recipe.update(tensorrt=facts.tensorrt_version, gpu=facts.gpu_name)
    found = workspace.find(recipe)
    if found is not None and found.status == "ok":
        task.report(1.0, f"{found.name}: already built")
        return found
    x, y = _dataset(data)
    name = _name(backend, precision, opts)

    base = workspace.baseline()
    original = (base, workspace.model_path(base)) if base is not None and base.id != source.id else None

    def build(folder: Path) -> dict[str, Any]:
        if keras_src is None:
            return _build_and_measure(folder, backend, precision, opts, source, src_path, torch_src, x, y, task,
                                      original=original)
        from engines.models.export_keras import keras_to_onnx

        onnx_src = folder / ".keras-source.onnx"
        conv = keras_to_onnx(keras_src, onnx_src)
        try:
            done = _build_and_measure(folder, backend, precision, opts, source, src_path, torch_src, x, y, task,
                                      build_src=onnx_src, original=original)
        finally:
            onnx_src.unlink(missing_ok=True)
        done["extra"]["converted"] = conv
        return done

    try:
        return workspace.create(recipe, build, name=name, kind="engine", parent=source.id)
    except (Cancelled, BuildTimeout, BuildOutOfMemory):
        raise
    except UnsupportedError as exc:  # a property of the recipe: remember it in the variants table
        workspace.record_failure(recipe, name=name, kind="engine", error=str(exc), parent=source.id)
        raise


def _keras_source(backend: str, source: Variant, model_path: str | os.PathLike | None) -> Path | None:
    """The Keras/SavedModel file behind a TFLite baseline, when an ORT engine is asked of it."""
    if backend != "ort" or source.format != "tflite" or source.kind != "baseline" or model_path is None:
        return None
    from engines.models.loader import detect_format

    path = Path(model_path).expanduser().resolve()
    return path if detect_format(path) in ("keras", "savedmodel") else None


def _torch_source(model_path: str | os.PathLike | None, who: str = "AOTInductor") -> Path:
    from engines.models.loader import detect_format

    if model_path is None:
        raise UnsupportedError(f"{who} compiles PyTorch models and no PyTorch model was given: open the "
                               f".pt/.pt2 model (ONNX variants cannot be compiled by {who})")
    path = Path(model_path).expanduser().resolve()
    if not F.is_torch(detect_format(path)):
        raise UnsupportedError(f"{who} compiles PyTorch models and {path.name} is not one: open the .pt "
                               "(TorchScript) or .pt2 (torch.export) model, or use the ort backend")
    return path


def _build_and_measure(folder: Path, backend: str, precision: str, opts: BuildOptions, source: Variant,
                       src_path: Path, torch_src: Path | None, x: np.ndarray | None, y: np.ndarray | None,
                       task: TaskContext, build_src: Path | None = None,
                       original: tuple[Variant, Path] | None = None) -> dict[str, Any]:
    out = folder / ENGINE_FILES[backend]
    fmt = ENGINE_FORMATS[backend]
    t0 = time.perf_counter()
    extra: dict[str, Any] = {"backend": backend, "precision": precision, "device": opts.device,
                             "profile": list(opts.profile), "source_id": source.id, "source_name": source.name}
    build_task = task.sub(0.0, 0.6)
    if backend == "ort":
        extra.update(_build_ort(build_src or src_path, out, folder, precision, opts, build_task))
    elif backend == "aoti":
        from engines.build.aoti import build_aoti
        from engines.models.loader import inspect_model

        assert torch_src is not None
        from engines.models.shapes import resolve_inputs

        inputs = resolve_inputs(inspect_model(torch_src, trust_pickle=opts.trust_pickle).inputs, (), x)
        extra["aoti"] = build_aoti(torch_src, out, inputs=inputs, profile=opts.profile, device=opts.device,
                                   precision=precision, trust_pickle=opts.trust_pickle, timeout_s=opts.timeout_s,
                                   memory_limit_mb=opts.memory_limit_mb, task=build_task)
    elif backend == "tensorrt":
        extra["tensorrt"] = _build_trt(src_path, out, precision, opts, build_task)
    else:  # any other backend: its registry entry point, called the same way
        report = _ENGINES[backend].load()(src_path, out, precision=precision, data=x, labels=y, device=opts.device,
                                          threads=opts.threads, torch_source=torch_src,
                                          trust_pickle=opts.trust_pickle, task=build_task, **opts.engine_options)
        extra.setdefault("notes", []).extend(report.pop("notes", []))
        extra[backend] = report
    extra["build_s"] = round(time.perf_counter() - t0, 3)
    task.report(0.6, "comparing outputs with the source")
    metrics = _measure(out, fmt, source, src_path, opts, x, y, extra, task.sub(0.6, 1.0),
                       torch_src if backend == "aoti" else None, original)
    metrics["build_s"] = extra["build_s"]
    return {"file": out.name, "format": fmt, "metrics": metrics, "extra": extra}


def _build_ort(src: Path, out: Path, folder: Path, precision: str, opts: BuildOptions,
               task: TaskContext) -> dict[str, Any]:
    from engines.build.ort_optimize import optimize_onnx

    level, notes = opts.ort_level, []
    if opts.device == "cuda" and level in ("layout", "all"):
        level = "extended"
        notes.append("CUDA: saved at level 'extended' (the 'all'/'layout' levels add CPU-only layout changes)")
    if precision == "fp16":
        from onnxconverter_common import float16

        import onnx

        half = folder / ".fp16-source.onnx"
        task.report(0.0, "converting weights to FP16 (inputs and outputs stay FP32)")
        onnx.save(float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(half))
        src = half
        if opts.device == "cpu":
            notes.append("FP16 on CPU: ONNX Runtime computes most FP16 ops via casts; FP16 pays off on GPUs")
    try:
        report = optimize_onnx(src, out, level=level, device=opts.device, timeout_s=opts.timeout_s,
                               memory_limit_mb=opts.memory_limit_mb, report_path=folder / "fusions.json",
                               task=task)
    finally:
        if precision == "fp16":
            src.unlink(missing_ok=True)
    if report.get("note"):
        notes.append(report["note"])
    return {"fusions": report, "notes": notes, "ort_level": level}


def _build_trt(src: Path, out: Path, precision: str, opts: BuildOptions, task: TaskContext) -> dict[str, Any]:
    from engines.build.tensorrt_engine import build_tensorrt_engine
    from engines.build.tensorrt_env import local_facts
    from engines.build.tensorrt_settings import settings_from_choices

    facts = local_facts()
    cc = tuple(int(v) for v in facts.compute_capability.split(".")) if facts.compute_capability else None
    lo, opt, hi = opts.profile
    settings = settings_from_choices(precision, sparse=opts.sparse, workspace_mb=opts.workspace_mb, min_batch=lo,
                                     opt_batch=opt, max_batch=hi, model_has_qdq=quant_kind(src) == "qdq",
                                     compute_capability=cc)
    cache = default_home() / "cache" / "tensorrt" / f"timing-{facts.tensorrt_version}-{facts.compute_capability}.cache"
    report = build_tensorrt_engine(src, out, settings, timing_cache=cache, timeout_s=opts.timeout_s, task=task)
    report["layer_table"] = report.get("layer_table", [])[:200]  # keep the manifest small
    return report


def _measure(engine: Path, fmt: str, source: Variant, src_path: Path, opts: BuildOptions, x: np.ndarray | None,
             y: np.ndarray | None, extra: dict[str, Any], task: TaskContext,
             torch_src: Path | None = None, original: tuple[Variant, Path] | None = None) -> dict[str, Any]:
    """Fidelity against the ORIGINAL model (the workspace baseline; also against the source variant where that
    differs), then source and engine timed interleaved in the same rounds (a paired speedup with its interval)."""
    from engines.measure.evaluate import evaluate_model, fidelity
    from engines.measure.runners import example_feeds, open_runner
    from engines.measure.speed import measure_paired

    lo, opt, hi = opts.profile
    if x is None:
        spec = open_runner(src_path, source.format).inputs
        x = example_feeds(spec[:1], batch=RANDOM_SAMPLES, seed=0)[spec[0].name]
        extra.setdefault("notes", []).append(f"no data: fidelity measured on {RANDOM_SAMPLES} random inputs")
    eval_batch = min(64, hi)
    src_metrics, src_out = evaluate_model(src_path, source.format, x, batch_size=eval_batch, threads=opts.threads,
                                          task=_labelled(task, 0.0, 0.1, "source outputs"), who=source.name)
    ref, ref_name = src_out, source.name
    if original is not None:
        base, base_path = original
        _, ref = evaluate_model(base_path, base.format, x, batch_size=eval_batch, threads=opts.threads,
                                task=_labelled(task, 0.1, 0.15, "original outputs"), who=base.name)
        ref_name = base.name
    if src_metrics.get("degenerate") and original is None:
        extra.setdefault("notes", []).append(src_metrics["degenerate"])
    metrics, eng_out = evaluate_model(engine, fmt, x, y=y, reference=ref, batch_size=eval_batch,
                                      threads=opts.threads, task=_labelled(task, 0.15, 0.2, "engine outputs"),
                                      who="the engine")
    metrics["fidelity_reference"] = ref_name
    if original is not None:   # vs the variant it was built from, shown beside the figure vs the original
        metrics["fidelity_vs_parent"] = fidelity(src_out, eng_out).to_dict()
    timed = measure_paired({"source": (src_path, source.format), "engine": (engine, fmt)}, "source",
                           threads=opts.threads, data=x, throughput_batch=opt, iterations=opts.bench_iterations,
                           budget_s=opts.bench_budget_s, warmup=5, devices={"engine": opts.device},
                           task=_labelled(task, 0.2, 1.0, "timing source and engine, interleaved"))
    if torch_src is not None:  # AOTI: also the same PyTorch model run eagerly, in the same conditions
        extra["eager_speed"] = _eager_speed(torch_src, engine, x, opts, task)
    metrics.update(timed["engine"])
    metrics["paired"]["reference"] = source.id
    extra["source_speed"] = timed["source"]
    speed = metrics["paired"]["speedup"]
    extra["speedup_p50"] = speed["value"]
    extra["speedup_interval"] = speed["interval"]
    extra["speedup_within_noise"] = speed["within_noise"]
    extra["bench_rounds"] = metrics["paired"]["rounds"]
    return metrics


def _eager_speed(torch_src: Path, package: Path, x: np.ndarray, opts: BuildOptions,
                 task: TaskContext) -> dict[str, Any]:
    """Batch-1 latency of eager PyTorch and of the AOTI package, timed interleaved in one process."""
    from engines.measure.paired import runner_calls, time_paired
    from engines.build.aoti import AotiRunner, EagerRunner

    aoti = AotiRunner(package, threads=opts.threads)
    eager = EagerRunner(torch_src, aoti.inputs, threads=opts.threads, trust_pickle=opts.trust_pickle)
    feeds = {aoti.inputs[0].name: np.ascontiguousarray(x[:1])}
    t = time_paired(runner_calls({"eager": eager, "aoti": aoti}, {"eager": feeds, "aoti": feeds}), "eager",
                    iterations=max(3, opts.bench_iterations // 7), round_budget_s=opts.bench_budget_s / 7,
                    threads=opts.threads, task=task)
    r = t.ratios["aoti"]
    return {"eager_p50_ms": t.latency_ms["eager"]["p50"], "aoti_p50_ms": t.latency_ms["aoti"]["p50"],
            "speedup_vs_eager": r.value, "speedup_interval": [r.low, r.high], "within_noise": r.within_noise}


def _labelled(task: TaskContext, start: float, end: float, label: str) -> TaskContext:
    """A child context over [start, end] whose messages say which stage they come from."""
    sub = task.sub(start, end)
    return TaskContext(lambda ev: sub.report(ev.fraction, f"{label}: {ev.message}"),
                       is_cancelled=lambda: task.cancelled)


def preflight(backend: str, precision: str, model_path: str | os.PathLike | None,
              options: BuildOptions | None = None) -> None:
    """Cheap checks before any work: known choices, the backend usable here, the right kind of model."""
    _check_choices(backend, precision)
    cap = _ENGINES[backend]
    device = (options or BuildOptions()).device
    if backend == "aoti":
        _torch_source(model_path)
    if device not in cap.devices:
        raise UnsupportedError(f"{cap.label} runs on {', '.join(cap.devices)}, not {device}: choose --device "
                               f"{cap.devices[0]}")
    avail = cap.availability(device=device)
    if not avail.ok:
        raise UnsupportedError(f"{cap.label} cannot be used here: " + "; ".join(avail.missing or (avail.detail,)))


def build_for_model(model_path: str | os.PathLike, backend: str, precision: str, *, variant: str | None = None,
                    data: Any = None, workspace: Any = None, profile: tuple[int, int, int] = (1, 8, 32),
                    options: BuildOptions | None = None, task: TaskContext | None = None,
                    input_shapes: Any = None) -> Variant:
    """Open the model's workspace, make sure its baseline exists, then build from ``variant`` (or the baseline)."""
    from engines.optimize.pipeline import ensure_baseline, open_context

    task = ensure_task(task)
    preflight(backend, precision, model_path, options)
    trust = bool(options and options.trust_pickle)
    ctx = open_context(model_path, data=data, workspace=workspace, trust_pickle=trust, input_shapes=input_shapes)
    task.report(0.0, "preparing the source variant")
    base = ensure_baseline(ctx, task.sub(0.0, 0.15))
    source = ctx.workspace.resolve(variant) if variant else base
    return build_engine(ctx.workspace, source, backend, precision, profile=profile, task=task.sub(0.15, 1.0),
                        model_path=ctx.model_path, data=(ctx.x, ctx.y), options=options)


def describe(v: Variant) -> dict[str, Any]:
    """The figures of an engine variant for a result card or ``--json``."""
    m, e = v.metrics, v.extra
    fus = (e.get("fusions") or {})
    trt = (e.get("tensorrt") or {})
    return {
        "id": v.id, "name": v.name, "format": v.format, "status": v.status, "error": v.error,
        "backend": e.get("backend"), "precision": e.get("precision"), "device": e.get("device"),
        "profile": e.get("profile"), "build_s": m.get("build_s", e.get("build_s")), "size_bytes": m.get("size_bytes"),
        "latency_ms": m.get("latency_ms"), "throughput": m.get("throughput"), "threads": m.get("threads"),
        "accuracy": m.get("accuracy"), "fidelity": m.get("fidelity"),
        "source": {"id": e.get("source_id"), "name": e.get("source_name"),
                   "latency_ms": (e.get("source_speed") or {}).get("latency_ms")},
        "speedup_p50": e.get("speedup_p50"), "speedup_interval": e.get("speedup_interval"),
        "speedup_within_noise": e.get("speedup_within_noise"), "measured": m.get("measured"),
        "fidelity_reference": m.get("fidelity_reference"), "fidelity_vs_parent": m.get("fidelity_vs_parent"),
        "eager": e.get("eager_speed"),
        "nodes": [fus.get("nodes_before"), fus.get("nodes_after")] if fus else None,
        "fusions": fus.get("fusions"), "layers": trt.get("layers"), "precisions": trt.get("precisions"),
        "notes": list(e.get("notes", [])) + list(trt.get("notes", [])),
    }
