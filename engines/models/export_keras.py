"""Keras / SavedModel -> ONNX with tf2onnx, so Keras models reach ORT quantization, engines and serving.

tf2onnx 1.17 converts Keras 3 models (``from_keras``) and SavedModel serving signatures (``from_function``)
with the installed TensorFlow 2.21 (checked by the regression corpus). The conversion is checked by running
the ONNX file in ONNX Runtime on the same random inputs as the source and comparing outputs. When tf2onnx is
missing, :func:`keras_onnx_status` says so, and ORT-only modes on a Keras model are refused before any work.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engines.errors import UnsupportedError
from engines.fsutil import atomic_path

KERAS_FORMATS = ("keras", "savedmodel")


def keras_onnx_status() -> tuple[bool, str]:
    """Whether the Keras/SavedModel -> ONNX path is usable here."""
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        return False, ("Keras -> ONNX needs tf2onnx, which is not installed: pip install tf2onnx, or use the "
                       "TFLite modes (tflite-dynamic, tflite-fp16, tflite-int8)")
    return True, "tf2onnx installed"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """tf2onnx logs each optimizer pass (and the tracebacks of passes it skips): keep the output clean."""
    names = ("tf2onnx", "tensorflow")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def _signature(specs: list[Any]) -> tuple:
    import tensorflow as tf

    return tuple(tf.TensorSpec([None] + [d if isinstance(d, int) and d > 0 else None for d in s.shape[1:]],
                               getattr(tf, s.dtype), name=s.name) for s in specs)


def keras_to_onnx(model_path: str | os.PathLike, out_path: str | os.PathLike, *, opset: int = 17) -> dict[str, Any]:
    """Convert a .keras file or SavedModel folder to ONNX at ``out_path`` (atomic); return what was done."""
    ok, why = keras_onnx_status()
    if not ok:
        raise UnsupportedError(why)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tf2onnx

    from engines.models.loader import inspect_model

    src = Path(model_path)
    info = inspect_model(src)
    specs = [s for s in info.inputs if s.dtype != "unknown"]
    if not specs:
        raise UnsupportedError(f"{src.name} declares no typed inputs: tf2onnx needs an input signature")
    signature = _signature(specs)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, _quiet():
        try:
            if info.format == "keras":
                import keras

                model = keras.models.load_model(str(src), compile=False)
                fn = model
                tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset, output_path=str(tmp))
            else:
                import tensorflow as tf

                loaded = tf.saved_model.load(str(src))
                sig = loaded.signatures.get("serving_default")
                if sig is None:
                    raise UnsupportedError(f"{src.name} has no serving_default signature to convert")
                keys = list(sig.structured_input_signature[1])
                names = [s.name if s.name in keys else k for s, k in zip(specs, keys)]

                @tf.function(input_signature=signature)
                def fn(*args: Any) -> Any:  # a tf.function over the signature, which from_function needs
                    return sig(**dict(zip(names, args)))

                tf2onnx.convert.from_function(fn, input_signature=signature, opset=opset, output_path=str(tmp))
        except UnsupportedError:
            raise
        except Exception as exc:  # tf2onnx raises many types
            text = str(exc).strip().splitlines()
            raise UnsupportedError(f"tf2onnx could not convert {src.name}: "
                                   f"{text[-1][:300] if text else type(exc).__name__}") from exc
        max_err = _check(tmp, fn, specs, info.format)
    return {"converter": f"tf2onnx {tf2onnx.__version__}", "opset": opset, "max_abs_err": max_err}


def _check(path: Path, fn: Any, specs: list[Any], fmt: str) -> float:
    """Max abs difference between the ONNX file (ORT) and the source (TF) on the same inputs."""
    from engines.measure.runners import OnnxRunner, example_feeds

    runner = OnnxRunner(path, threads=1)
    feeds = example_feeds(runner.inputs, batch=2, seed=0)
    got = runner.run(feeds)
    args = [feeds[r.name] for r in runner.inputs]
    if fmt == "keras":
        want = fn(args[0] if len(args) == 1 else args)
    else:
        want = fn(*args)
    wants = list(want.values()) if isinstance(want, dict) else (list(want) if isinstance(want, (list, tuple))
                                                                 else [want])
    err = 0.0
    for g, w in zip(got, wants):
        w = np.asarray(w)
        if g.shape != w.shape:
            raise UnsupportedError(f"tf2onnx output shape {list(g.shape)} differs from the source's {list(w.shape)}")
        err = max(err, float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if w.size else 0.0)
    if not np.isfinite(err) or err > 1e-2:
        raise UnsupportedError(f"tf2onnx conversion differs from the source (max abs err {err:.3g}): "
                               "use the TFLite modes for this model")
    return err
