"""OpenVINO engines: FP32/FP16 IR from ONNX, INT8 with NNCF calibrated on the user's data, and a runner.

:func:`build_openvino` (the ``openvino`` engine entry of :mod:`engines.registry`)
converts an ONNX file with ``openvino.convert_model`` and writes the IR
(``model.xml`` + ``model.bin``) with ``openvino.save_model``; ``fp16`` stores
the weights as float16, ``int8`` runs ``nncf.quantize`` on the float model
(or keeps the Q/DQ nodes of an already quantized ONNX variant). The runtime
settings (performance hint, streams) are saved next to the IR in
``model.openvino.json``, so every later runner (sweeps, serving) opens the
engine the way it was built. :func:`open_openvino_runner` is the ``openvino``
runtime entry. OpenVINO and NNCF are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import DataError, ModelLoadError, UnsupportedError, WorkbenchError, first_line
from engines.models.model_info import TensorSpec
from engines.tasks import TaskContext, ensure_task

HINTS = ("latency", "throughput")
SETTINGS_FILE = "model.openvino.json"
RANDOM_CALIBRATION = 32
MAX_CALIBRATION = 300


def _ov() -> Any:
    try:
        import openvino as ov
    except ImportError as exc:
        raise UnsupportedError("OpenVINO is not installed: pip install -e '.[openvino]' "
                               "(openvino, nncf)") from exc
    return ov


def _onnx_inputs(src: Path) -> list[TensorSpec]:
    import onnx

    from engines.models.dtypes import onnx_dtype

    graph = onnx.load(str(src), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    specs = []
    for vi in graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
        specs.append(TensorSpec(vi.name, dims, onnx_dtype(t.elem_type)))
    return specs


def _onnx_outputs(src: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(src), load_external_data=False).graph.output]


def check_calibration(x: np.ndarray, spec: TensorSpec) -> None:
    """Refuse data whose samples do not fit the model's first input, before any work is done."""
    want = tuple(spec.shape[1:])
    got = tuple(x.shape[1:])
    fits = len(got) == len(want) and all(not isinstance(w, int) or w <= 0 or w == g for w, g in zip(want, got))
    if not fits:
        shape = ", ".join(str(d) for d in want)
        raise DataError(f"calibration data has samples of shape {list(got)} and input {spec.name!r} takes "
                        f"[N, {shape}]: give data shaped (N, {shape}) for NNCF INT8")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"calibration data has dtype {x.dtype} and input {spec.name!r} takes {spec.dtype}")


def _unsupported(src: Path, message: str) -> str:
    """One line naming the first ONNX node whose op OpenVINO has no conversion for."""
    import onnx

    ops = [o.strip() for m in re.findall(r"(?:operations|failed for):\s*([^\n]+)", message) for o in m.split(",")]
    for node in onnx.load(str(src), load_external_data=False).graph.node:
        full = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
        if any(o in (full, node.op_type, f"ai.onnx.{node.op_type}") or o.startswith(f"{full}-") for o in ops):
            return (f"OpenVINO cannot convert node {node.name or '(unnamed)'!r} (op {full}) of {src.name}: "
                    "replace the op, or use the ort backend")
    return f"OpenVINO cannot convert {src.name}: {first_line(message)}"


def convert_onnx(src: str | os.PathLike) -> Any:
    """``openvino.convert_model`` of an ONNX file; an op it cannot take is named in one line."""
    ov = _ov()
    src = Path(src)
    try:
        return ov.convert_model(str(src))
    except Exception as exc:  # OpConversionFailure, GeneralFailure: OpenVINO's own types
        raise UnsupportedError(_unsupported(src, str(exc))) from exc


def _calibration_items(x: np.ndarray | None, inputs: list[TensorSpec],
                       notes: list[str]) -> list[dict[str, np.ndarray]]:
    from engines.measure.runners import example_feeds

    if x is None:
        x = example_feeds(inputs[:1], batch=RANDOM_CALIBRATION, seed=0)[inputs[0].name]
        notes.append(f"no data: INT8 calibrated on {RANDOM_CALIBRATION} random inputs (give --data for a "
                     "faithful INT8 model)")
    check_calibration(x, inputs[0])
    x = x[:MAX_CALIBRATION]
    others = {k: v for k, v in example_feeds(inputs, batch=1).items() if k != inputs[0].name}
    dtype = inputs[0].dtype if inputs[0].dtype != "bfloat16" else "float32"
    return [{inputs[0].name: np.ascontiguousarray(x[i:i + 1].astype(dtype)), **others} for i in range(len(x))]


def build_openvino(src: str | os.PathLike, out: str | os.PathLike, *, precision: str = "fp32",
                   data: np.ndarray | None = None, hint: str = "latency", streams: int | None = None,
                   preset: str = "performance", labels: np.ndarray | None = None, accuracy_control: bool = False,
                   max_drop: float = 1.0, torch_source: str | os.PathLike | None = None,
                   trust_pickle: bool = False, task: TaskContext | None = None, **_: Any) -> dict[str, Any]:
    """Write the OpenVINO IR of ONNX ``src`` at ``out`` (``.xml``; the ``.bin`` lands beside it).

    ``torch_source``: convert that PyTorch model (TorchScript, ``.pt2`` or a trusted pickle) with
    ``openvino.convert_model`` instead of the ONNX file (``src`` still gives the input names and shapes).
    ``accuracy_control`` (int8): ``nncf.quantize_with_accuracy_control`` on (``data``, ``labels``), keeping
    in float the layers that cost more than ``max_drop`` accuracy points.
    """
    task = ensure_task(task)
    src, out = Path(src), Path(out)
    if precision not in ("fp32", "fp16", "int8"):
        raise WorkbenchError(f"OpenVINO builds fp32, fp16 or int8, not {precision!r}")
    if hint not in HINTS:
        raise WorkbenchError(f"unknown performance hint {hint!r}: choose {', '.join(HINTS)}")
    if streams is not None and streams < 1:
        raise WorkbenchError("--streams must be 1 or more")
    if accuracy_control:
        from engines.build.openvino_accuracy import check_accuracy_control

        check_accuracy_control(precision, data, labels, max_drop)
    notes: list[str] = []
    inputs = _onnx_inputs(src)
    qdq = _has_qdq(src)
    if qdq and torch_source is not None:
        raise UnsupportedError(f"{src.name} is already quantized (Q/DQ): convert the float PyTorch model, or "
                               "build from the ONNX variant without the PyTorch frontend")
    items = _calibration_items(data, inputs, notes) if precision == "int8" and not qdq else None
    ov = _ov()
    report: dict[str, Any] = {"openvino": ov.__version__, "hint": hint, "streams": streams}
    if torch_source is not None:
        from engines.build.openvino_torch import convert_torch

        task.report(0.0, "converting the PyTorch model to OpenVINO IR (openvino.convert_model)")
        model = convert_torch(torch_source, inputs, data, outputs=_onnx_outputs(src), trust_pickle=trust_pickle)
        report["frontend"] = "pytorch"
    else:
        task.report(0.0, "converting ONNX to OpenVINO IR")
        model = convert_onnx(src)
        report["frontend"] = "onnx"
    if items is not None and accuracy_control:
        from engines.build.openvino_accuracy import quantize_with_accuracy

        task.report(0.3, f"NNCF INT8 with accuracy control: calibrating and validating on {len(items)} inputs")
        model, acc = quantize_with_accuracy(model, items, labels[:len(items)], max_drop, preset)
        report["calibration_samples"] = len(items)
        report["accuracy_control"] = acc
        notes.append(acc["note"])
    elif items is not None:
        task.report(0.3, f"NNCF INT8: calibrating on {len(items)} inputs")
        model = _nncf_quantize(model, items, preset)
        report["calibration_samples"] = len(items)
    elif precision == "int8":
        notes.append("INT8 from the variant's Q/DQ nodes (no NNCF calibration)")
    task.report(0.9, "saving the IR")
    ov.save_model(model, str(out), compress_to_fp16=precision == "fp16")
    # CPUs with bf16 units compute in bf16 by default: fp32 and int8 engines ask for f32 math (the source's
    # figures), fp16 leaves the choice to the plugin
    math = None if precision == "fp16" else "f32"
    if math is None:
        notes.append("FP16: weights stored as float16; OpenVINO computes in the CPU's preferred precision "
                     "(bf16/f16 where the CPU has it, else f32)")
    out.with_name(SETTINGS_FILE).write_text(json.dumps({"hint": hint, "streams": streams,
                                                        "inference_precision": math}))
    report["ops"] = len(model.get_ops())
    report["notes"] = notes
    return report


def _has_qdq(src: Path) -> bool:
    from engines.build.builder import quant_kind

    return quant_kind(src) != "float"


def _nncf_quantize(model: Any, items: list[dict[str, np.ndarray]], preset: str) -> Any:
    try:
        import nncf
    except ImportError as exc:
        raise UnsupportedError("NNCF is not installed: pip install -e '.[openvino]' (nncf)") from exc
    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}
    import contextlib
    import io
    import logging

    logging.getLogger("nncf").setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):   # NNCF draws progress bars on stdout (breaks --json)
            return nncf.quantize(model, nncf.Dataset(items), preset=presets[preset], subset_size=len(items))
    except Exception as exc:  # NNCF and OpenVINO raise their own types
        raise WorkbenchError(f"NNCF INT8 quantization failed: {first_line(exc)}") from exc


def _spec(port: Any) -> TensorSpec:
    ps = port.get_partial_shape()
    dims = tuple(d.get_length() if d.is_static else "?" for d in ps) if ps.rank.is_static else ("?",)
    try:
        dtype = np.dtype(port.get_element_type().to_dtype()).name
    except Exception:  # element types numpy has no name for
        dtype = "float32"
    return TensorSpec(port.get_any_name(), dims, dtype)


class OpenVinoRunner:
    """A compiled OpenVINO model on CPU with explicit threads, streams and performance hint."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                 hint: str | None = None, streams: int | None = None,
                 inference_precision: str | None = None) -> None:
        from engines.measure.runners import default_threads

        if device != "cpu":
            raise UnsupportedError(f"the OpenVINO runner runs on cpu here, not {device}: choose --device cpu")
        ov = _ov()
        path = Path(path)
        saved = _saved_settings(path)
        hint = hint or saved.get("hint") or "latency"
        streams = streams or saved.get("streams")
        math = inference_precision or saved.get("inference_precision")
        if hint not in HINTS:
            raise WorkbenchError(f"unknown performance hint {hint!r}: choose {', '.join(HINTS)}")
        self.threads = threads or default_threads()
        self.device, self.hint, self.streams = device, hint, streams
        config: dict[str, str] = {"PERFORMANCE_HINT": hint.upper(), "INFERENCE_NUM_THREADS": str(self.threads)}
        if streams:
            config["NUM_STREAMS"] = str(streams)
        if math and math != "default":
            config["INFERENCE_PRECISION_HINT"] = str(math)
        try:
            self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        except Exception as exc:  # OpenVINO's own exception types
            raise ModelLoadError(f"OpenVINO cannot load {path.name}: {first_line(exc)}") from exc
        math_type = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.inference_precision = getattr(math_type, "get_type_name", lambda: str(math_type))()   # "f32", "bf16"
        self.inputs = [_spec(p) for p in self.compiled.inputs]
        self.outputs = [_spec(p) for p in self.compiled.outputs]
        self._local = threading.local()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        req = getattr(self._local, "req", None)
        if req is None:   # an infer request is not thread-safe: one per calling thread
            req = self._local.req = self.compiled.create_infer_request()
        res = req.infer(feeds)
        return [np.asarray(res[port]) for port in self.compiled.outputs]


def _saved_settings(path: Path) -> dict[str, Any]:
    f = path.with_name(SETTINGS_FILE)
    try:
        got = json.loads(f.read_text()) if f.is_file() else {}
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def open_openvino_runner(path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                         **kw: Any) -> OpenVinoRunner:
    return OpenVinoRunner(path, threads=threads, device=device, hint=kw.get("hint"), streams=kw.get("streams"),
                          inference_precision=kw.get("inference_precision"))
