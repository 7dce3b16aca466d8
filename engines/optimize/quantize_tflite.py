"""Keras / SavedModel -> TFLite with the TFLite converter: float, dynamic range, float16, full integer.

Full-integer conversion calibrates on a representative data set (N samples
of the user's data or the sample's); inputs and outputs stay float32 so the
variant takes the same data as the baseline. The result runs in the LiteRT
interpreter (``engines.measure.tflite_runner``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from engines import registry as _registry
from engines.errors import Cancelled, DataError, UnsupportedError, WorkbenchError, first_line
from engines.tasks import TaskContext, ensure_task

SPEEDS_UP: dict[str, str] = {
    "tflite-float": "the reference float32 model",
    **{c.id: c.speeds_up for c in _registry.by_kind("quantize") if c.output_format == "tflite"},
}


def _converter(src: Path, tmp: Path) -> Any:
    """A TFLiteConverter for a .keras file (via a SavedModel export) or a SavedModel folder."""
    import tensorflow as tf

    if src.is_dir():
        return tf.lite.TFLiteConverter.from_saved_model(str(src))
    import keras

    model = keras.models.load_model(str(src), compile=False)
    try:
        return tf.lite.TFLiteConverter.from_keras_model(model)
    except Exception:  # noqa: BLE001 - Keras 3 models convert more reliably from an exported SavedModel
        export = tmp / "saved_model"
        model.export(str(export), verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(str(export))


def convert_keras(src: str | os.PathLike, dst: str | os.PathLike, mode: str, *, calib_x: np.ndarray | None = None,
                  samples: int = 128, task: TaskContext | None = None) -> dict[str, Any]:
    """Convert ``src`` to TFLite at ``dst`` with ``mode`` (tflite-float/-dynamic/-fp16/-int8).

    The converter runs in a child process (``engines.build.subproc``): TensorFlow's native code prints to
    the terminal and cannot be interrupted from a thread, so a cancel kills the child instead.
    """
    from engines.build.subproc import run_step

    task = ensure_task(task)
    if mode not in SPEEDS_UP:
        raise UnsupportedError(f"unknown TFLite mode {mode!r}: use one of {', '.join(SPEEDS_UP)}")
    if mode == "tflite-int8" and (calib_x is None or len(calib_x) == 0):
        raise DataError("full-integer TFLite needs a representative data set: pass --data FILE.npz with x")
    dst = Path(dst)
    calib_path = None
    try:
        if mode == "tflite-int8":
            fd, calib_path = tempfile.mkstemp(prefix=".calib.", suffix=".npy", dir=dst.parent)
            os.close(fd)
            n = int(min(samples, len(calib_x)))
            pick = np.linspace(0, len(calib_x) - 1, n).round().astype(int)   # spread over the data set
            np.save(calib_path, np.ascontiguousarray(calib_x[pick].astype(np.float32)))
        return run_step("engines.optimize.quantize_tflite:convert_child",
                        {"src": str(src), "dst": str(dst), "mode": mode, "calib_path": calib_path,
                         "samples": int(samples)}, what=f"TFLite conversion ({mode})", task=task,
                        env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    finally:
        if calib_path:
            Path(calib_path).unlink(missing_ok=True)


def convert_child(report: Any, src: str, dst: str, mode: str, calib_path: str | None, samples: int) -> dict[str, Any]:
    """Child-process entry (see :func:`convert_keras`)."""
    calib_x = np.load(calib_path) if calib_path else None
    return convert_in_process(src, dst, mode, calib_x=calib_x, samples=samples,
                              task=TaskContext(lambda ev: report(ev.fraction, ev.message)))


def convert_in_process(src: str | os.PathLike, dst: str | os.PathLike, mode: str, *,
                       calib_x: np.ndarray | None = None, samples: int = 128,
                       task: TaskContext | None = None) -> dict[str, Any]:
    task = ensure_task(task)
    src, dst = Path(src), Path(dst)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ logs on fd 2 would tear a TUI frame
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise UnsupportedError("TFLite conversion needs TensorFlow: pip install -e '.[tf]'") from exc
    task.report(0.05, "loading the Keras model")
    info: dict[str, Any] = {"mode": mode, "speeds_up": SPEEDS_UP[mode]}
    with tempfile.TemporaryDirectory(prefix=".tflite.", dir=dst.parent) as tmpdir:
        conv = _converter(src, Path(tmpdir))
        task.check()
        if mode in ("tflite-dynamic", "tflite-fp16", "tflite-int8"):
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "tflite-fp16":
            conv.target_spec.supported_types = [tf.float16]
        if mode == "tflite-int8":
            if calib_x is None or len(calib_x) == 0:
                raise DataError("full-integer TFLite needs a representative data set: pass --data FILE.npz with x")
            n = int(min(samples, len(calib_x)))
            rows = np.ascontiguousarray(calib_x[:n].astype(np.float32))
            info["calib_samples"] = n

            def representative():
                for i in range(n):
                    task.check()
                    if i % 16 == 0:
                        task.report(0.1 + 0.7 * i / n, f"calibrating {i}/{n} samples")
                    yield [rows[i:i + 1]]

            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.float32
            conv.inference_output_type = tf.float32
        task.report(0.1, f"converting ({mode})")
        try:
            blob = conv.convert()
        except (Cancelled, WorkbenchError):
            raise
        except Exception as exc:  # noqa: BLE001 - converter errors are long; keep the first line
            first = first_line(exc, 300)
            raise UnsupportedError(f"TFLite conversion ({mode}) failed: {first}") from exc
    task.report(0.9, "checking the converted model")
    info.update(check_tflite(blob, calib_x))
    dst.write_bytes(blob)
    task.report(1.0, "converted")
    return info


RESOURCE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE")


def check_tflite(blob: bytes, x: np.ndarray | None = None) -> dict[str, Any]:
    """Refuse a conversion that kept resource variables or whose outputs are not finite; return its op count.

    A SavedModel written by ``tf.saved_model.save`` from a Keras 3 model can convert to a file whose weights
    are unresolved variables (VAR_HANDLE ops, a fraction of the size) that outputs only NaN.
    """
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=blob)
    try:
        ops = [d.get("op_name", "") for d in interp._get_ops_details()]
    except Exception:  # noqa: BLE001 - private API; the run below still checks the outputs
        ops = []
    handles = sum(1 for o in ops if o == "VAR_HANDLE")
    if handles:
        raise UnsupportedError(f"the TFLite conversion kept {handles} resource variables (VAR_HANDLE ops) instead "
                               "of the weights, so it would compute garbage: the SavedModel's variables were not "
                               "frozen; re-export it with keras model.export(path) or save it as .keras, then "
                               "convert again")
    interp.allocate_tensors()
    for d in interp.get_input_details():
        shape = [1] + [int(s) if s > 0 else 1 for s in d["shape"][1:]]
        if x is not None and d["index"] == interp.get_input_details()[0]["index"] and \
                list(x.shape[1:]) == shape[1:]:
            value = np.ascontiguousarray(x[:1]).astype(d["dtype"])
        else:
            value = np.random.default_rng(0).standard_normal(shape).astype(d["dtype"]) \
                if np.issubdtype(d["dtype"], np.floating) else np.zeros(shape, d["dtype"])
        interp.resize_tensor_input(d["index"], shape)
        interp.allocate_tensors()
        interp.set_tensor(d["index"], value)
    interp.invoke()
    for d in interp.get_output_details():
        out = interp.get_tensor(d["index"])
        if np.issubdtype(out.dtype, np.floating) and not np.all(np.isfinite(out)):
            bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
            raise UnsupportedError(f"the TFLite conversion outputs NaN/Inf ({bad} of {out.size} values of "
                                   f"'{d['name']}' on a test input): the converted file is broken; convert the "
                                   ".keras model instead, or use ONNX Runtime modes")
    return {"ops": len(ops)}
