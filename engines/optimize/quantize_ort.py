"""ONNX Runtime quantization: FP16, INT8 dynamic, INT8 static, INT4 weight-only.

Static INT8 runs ORT's ``quant_pre_process`` first (shape inference, Conv+BN
fusion): without it, on the CPUs measured here, QDQ graphs come out slower than
FP32. Calibration reads N samples of the user's data (or the sample's) through
a :class:`CalibrationDataReader` that reports progress and honours cancel.
Every function writes only to the output path it is given; the pipeline gives
it a path inside a temporary variant folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engines import registry as _registry
from engines.errors import Cancelled, UnsupportedError, WorkbenchError, first_line
from engines.tasks import TaskContext, ensure_task

# What each mode is for, shown next to the selector and in reports.
# What each mode speeds up: the registry's words (engines.registry), one place for the CLI, UI and reports.
SPEEDS_UP: dict[str, str] = {c.id: c.speeds_up for c in _registry.by_kind("quantize") if c.output_format == "onnx"}

_CALIB = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "consider to run pre-processing" not in str(record.msg)


def quiet_ort_quantization() -> None:
    """ORT's calibrators ``print`` progress to stdout (which would tear a TUI frame): route it nowhere.

    Only the calibrate module's own ``print`` is replaced; the workbench reports progress itself.
    """
    from onnxruntime.quantization import calibrate

    calibrate.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    root = logging.getLogger()
    if not any(isinstance(f, _DropPreprocessHint) for f in root.filters):
        root.addFilter(_DropPreprocessHint())


def _quant_type(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    return {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}[name]


def _first_line(exc: BaseException) -> str:
    return first_line(exc, 400, cause=True)


_CWD_LOCK = threading.RLock()
MIN_QUANT_OPSET = 13


@contextlib.contextmanager
def private_cwd() -> Iterator[Path]:
    """Run a step whose library writes temp files into the working directory (ORT's symbolic shape inference
    writes ``sym_shape_infer_temp.onnx`` and ``<uuid>.data``) inside a private temp folder, removed after.

    The working directory is process-wide: one step at a time holds it (every path passed is absolute).
    """
    with _CWD_LOCK, tempfile.TemporaryDirectory(prefix="workbench-ort-") as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def fix_legacy_inputs(src: Path, folder: Path) -> tuple[Path, list[str]]:
    """A copy of ``src`` without initializers listed as graph inputs (IR 3 style), or ``src`` unchanged.

    ONNX IR < 4 lists every initializer as a graph input too; ORT's pre-processing then keeps folded
    constants (e.g. ``ConstantOfShape`` shapes) as inputs and calibration would feed made-up tensors.
    """
    import onnx

    model = onnx.load(str(src), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    dup = [i.name for i in model.graph.input if i.name in inits]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_QUANT_OPSET)
    if not dup and model.ir_version >= 4 and opset >= MIN_QUANT_OPSET:
        return src, []
    model = onnx.load(str(src))
    keep = [i for i in model.graph.input if i.name not in inits]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    notes = []
    if dup:
        notes.append(f"{len(dup)} initializers were also listed as graph inputs (ONNX IR {model.ir_version} style): "
                     "dropped from the inputs before quantization")
    if model.ir_version < 4:
        model.ir_version = 4
    if opset < MIN_QUANT_OPSET:  # per-channel Q/DQ needs opset 13
        try:
            from onnx import version_converter

            model = version_converter.convert_version(model, MIN_QUANT_OPSET)
            notes.append(f"converted from opset {opset} to {MIN_QUANT_OPSET} (per-channel Q/DQ needs it)")
        except Exception as exc:  # noqa: BLE001 - converter errors vary; quantize what we have
            notes.append(f"opset {opset} could not be converted to {MIN_QUANT_OPSET}: {_first_line(exc)}")
    out = folder / "legacy-fixed.onnx"
    onnx.save(model, str(out), save_as_external_data=_large(src))
    return out, notes


def _large(path: Path) -> bool:
    """Write the result with external data: the source is near protobuf's 2 GB limit or already uses it."""
    path = Path(path)
    siblings = (path.with_name(path.name + ".data"), path.with_suffix(".data"))
    return path.stat().st_size > 1_800_000_000 or any(p.is_file() for p in siblings)


class ArrayCalibrationReader:
    """Feeds ``x`` (first input) in batches to ORT's calibrator; other inputs get example values.

    Supports ORT's strided calibration (``__len__`` / ``set_range`` over batches) so
    only a few batches of intermediate tensors are held in memory at a time.
    """

    def __init__(self, model_path: str | os.PathLike, x: np.ndarray, *, samples: int,
                 task: TaskContext | None = None, batch: int = 8) -> None:
        from engines.measure.runners import example_feeds

        self.specs = onnx_input_specs(model_path)
        first = self.specs[0].shape[0] if self.specs and self.specs[0].shape else None
        fixed = isinstance(first, int) and first > 0
        size = int(first) if fixed else max(1, batch)
        n = max(1, min(int(samples), len(x)))
        pick = np.linspace(0, len(x) - 1, n).round().astype(int) if n < len(x) else np.arange(n)
        xs = np.ascontiguousarray(x[pick].astype(self.specs[0].dtype if self.specs else "float32"))
        self.batches: list[np.ndarray] = []
        for i in range(0, n, size):
            chunk = xs[i:i + size]
            if fixed and len(chunk) < size:  # a fixed batch dimension: pad by repeating rows
                chunk = np.concatenate([chunk, np.resize(xs, (size - len(chunk),) + xs.shape[1:])])
            self.batches.append(chunk)
        self.samples = n
        self.task = ensure_task(task)
        self._example = example_feeds
        self._range = (0, len(self.batches))
        self._pos = 0
        self._done = 0

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._range = (start_index, min(end_index, len(self.batches)))
        self._pos = start_index

    def get_next(self) -> dict[str, np.ndarray] | None:
        self.task.check()
        if self._pos >= self._range[1]:
            return None
        chunk = self.batches[self._pos]
        self._pos += 1
        self._done += 1
        feeds = self._example(self.specs, batch=len(chunk), seed=self._pos, data=chunk)
        self.task.report(self._done / len(self.batches), f"calibrating batch {self._done}/{len(self.batches)} "
                         f"({self.samples} samples)")
        return feeds

    def stride(self, most: int = 2) -> int:
        """A stride dividing the batch count: at most ``most`` batches of activations held at once."""
        return max(d for d in range(1, most + 1) if len(self.batches) % d == 0)


def onnx_input_specs(model_path: str | os.PathLike) -> list[Any]:
    """Graph inputs (initializers excluded) as TensorSpecs, read without weights."""
    import onnx

    from engines.models.model_info import TensorSpec

    types = {1: "float32", 7: "int64", 6: "int32", 10: "float16", 9: "bool", 11: "float64", 2: "uint8", 3: "int8"}
    model = onnx.load(str(model_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    specs = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                     for d in inp.type.tensor_type.shape.dim)
        specs.append(TensorSpec(inp.name, dims, types.get(inp.type.tensor_type.elem_type, "float32")))
    return specs


def preprocess(src: Path, dst: Path) -> dict[str, Any]:
    """ORT's quant_pre_process (symbolic shape inference, graph optimisation); a fallback skips what fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    attempts = [dict(), dict(skip_symbolic_shape=True), dict(skip_symbolic_shape=True, skip_optimization=True)]
    last: Exception | None = None
    src, dst = Path(src).resolve(), Path(dst).resolve()
    for kw in attempts:
        try:
            with private_cwd():
                quant_pre_process(str(src), str(dst), save_as_external_data=_large(src), **kw)
            return {"preprocessed": True, "preprocess_options": kw}
        except Exception as exc:  # noqa: BLE001 - third-party errors vary
            last = exc
    raise WorkbenchError(f"ORT pre-processing failed: {_first_line(last)}")


def quantize_fp16(src: Path, dst: Path) -> dict[str, Any]:
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    try:
        with warnings.catch_warnings():   # one "truncated to 1e-07" warning per tiny weight
            warnings.simplefilter("ignore", UserWarning)
            model16 = float16.convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedError(f"FP16 conversion failed: {_first_line(exc)}") from exc
    onnx.save(model16, str(dst), save_as_external_data=_large(src))
    return {"mode": "fp16", "keep_io_types": True}


def _reduce_range(activation_type: str, weight_type: str) -> bool:
    """7-bit weights for S8 weights on a CPU whose 8-bit kernels saturate (x86 without VNNI/AMX; ONNX Runtime
    runs S8 activations there as U8 shifted by 128, through the same kernel)."""
    from engines.measure.cpu_features import saturating_u8s8

    return activation_type in ("u8", "s8") and weight_type == "s8" and saturating_u8s8()


def quantize_int8_dynamic(src: Path, dst: Path, *, per_channel: bool, weight_type: str) -> dict[str, Any]:
    from onnxruntime.quantization import quantize_dynamic

    pre = dst.with_name(dst.stem + ".pre.onnx")
    reduce = _reduce_range("u8", weight_type)   # dynamic quantization's activations are U8
    info: dict[str, Any] = {"mode": "int8-dynamic", "per_channel": per_channel, "weight_type": weight_type,
                            "reduce_range": reduce}
    try:
        info.update(preprocess(src, pre))
        quantize_dynamic(str(pre), str(dst), per_channel=per_channel, weight_type=_quant_type(weight_type),
                         reduce_range=reduce, use_external_data_format=_large(src))
    finally:
        for p in (pre, Path(str(pre) + ".data")):
            p.unlink(missing_ok=True)
    return info


def quantize_int8_static(src: Path, dst: Path, x: np.ndarray, *, fmt: str = "qdq", per_channel: bool = True,
                         activation_type: str = "u8", weight_type: str = "s8", calibration: str = "minmax",
                         samples: int = 128, preprocess_first: bool = True,
                         task: TaskContext | None = None) -> dict[str, Any]:
    """Static INT8 with calibration over ``samples`` rows of ``x``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    task = ensure_task(task)
    reduce = _reduce_range(activation_type, weight_type)
    info: dict[str, Any] = {"mode": "int8-static", "format": fmt, "per_channel": per_channel,
                            "activation_type": activation_type, "weight_type": weight_type,
                            "calibration": calibration, "calib_samples": int(min(samples, len(x))),
                            "reduce_range": reduce}
    model_in = src
    pre = dst.with_name(dst.stem + ".pre.onnx")
    if preprocess_first:
        task.report(0.02, "ORT pre-processing (shape inference, fusions)")
        info.update(preprocess(src, pre))
        model_in = pre
    else:
        info["preprocessed"] = False
    task.check()
    reader = ArrayCalibrationReader(model_in, x, samples=samples, task=task.sub(0.1, 0.9))
    extra: dict[str, Any] = {"CalibStridedMinMax": reader.stride()}
    if calibration == "percentile":
        extra["CalibPercentile"] = 99.999
    if calibration == "entropy":
        extra["CalibNumBins"] = 512  # smaller histograms: calibration memory stays bounded
    try:
        quantize_static(str(model_in), str(dst), reader,
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        per_channel=per_channel, activation_type=_quant_type(activation_type),
                        weight_type=_quant_type(weight_type),
                        calibrate_method=getattr(CalibrationMethod, _CALIB[calibration]),
                        reduce_range=reduce, use_external_data_format=_large(src), extra_options=extra)
    finally:
        for p in (pre, Path(str(pre) + ".data")):
            p.unlink(missing_ok=True)
    task.report(1.0, "quantized")
    return info


def quantize_int4(src: Path, dst: Path, *, block_size: int = 32) -> dict[str, Any]:
    """Block-wise INT4 weight-only quantization of MatMul weights (ORT's MatMulNBitsQuantizer)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(src))
    inits = {i.name for i in model.graph.initializer}
    candidates = [n for n in model.graph.node if n.op_type == "MatMul" and any(i in inits for i in n.input)]
    if not candidates:
        ops = sorted({n.op_type for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")})
        raise UnsupportedError("INT4 weight-only quantizes MatMul weights and this model has none "
                               f"(compute ops: {', '.join(ops) or 'none'}): use int8-static for CNNs")
    quant = MatMulNBitsQuantizer(model, block_size=block_size, is_symmetric=True, accuracy_level=4)
    quant.process()
    out = quant.model.model
    count = sum(1 for n in out.graph.node if n.op_type == "MatMulNBits")
    if count == 0:
        raise UnsupportedError("INT4 quantizer found no MatMul it could convert (weights must be 2-D constants)")
    onnx.save(out, str(dst), save_as_external_data=_large(src))
    return {"mode": "int4", "block_size": block_size, "matmul_nbits": count, "accuracy_level": 4}


def quantize_onnx(src: Path, dst: Path, recipe: Any, calib_x: np.ndarray | None = None,
                  task: TaskContext | None = None) -> dict[str, Any]:
    """Apply the quantization step of ``recipe`` (a :class:`engines.optimize.recipes.Recipe`) to ``src``."""
    task = ensure_task(task)
    src, dst = Path(src).resolve(), Path(dst).resolve()
    mode = recipe.quant
    quiet_ort_quantization()
    with tempfile.TemporaryDirectory(prefix=".legacy-", dir=dst.parent) as work:
        src, notes = fix_legacy_inputs(src, Path(work))
        with private_cwd():  # ORT's shape inference may write temp files into the working directory
            info = _quantize(src, dst, mode, recipe, calib_x, task)
    if notes:
        info["notes"] = notes
    info["speeds_up"] = SPEEDS_UP[mode]
    return info


def _quantize(src: Path, dst: Path, mode: str, recipe: Any, calib_x: np.ndarray | None,
              task: TaskContext) -> dict[str, Any]:
    try:
        if mode == "fp16":
            info = quantize_fp16(src, dst)
        elif mode == "int8-dynamic":
            info = quantize_int8_dynamic(src, dst, per_channel=recipe.per_channel, weight_type=recipe.weight_type)
        elif mode == "int8-static":
            if calib_x is None:
                raise WorkbenchError("static INT8 needs calibration data: pass --data FILE.npz with array x")
            info = quantize_int8_static(src, dst, calib_x, fmt=recipe.quant_format, per_channel=recipe.per_channel,
                                        activation_type=recipe.activation_type, weight_type=recipe.weight_type,
                                        calibration=recipe.calibration, samples=recipe.calib_samples, task=task)
        elif mode == "int4":
            info = quantize_int4(src, dst, block_size=recipe.block_size)
        else:
            raise UnsupportedError(f"{mode} is not an ONNX Runtime quantization mode")
    except (WorkbenchError, Cancelled):
        raise
    except Exception as exc:  # noqa: BLE001 - ORT raises many types; the variant records the reason
        raise UnsupportedError(f"{mode} quantization failed: {_first_line(exc)}") from exc
    return info
