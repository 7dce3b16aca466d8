"""Accuracy and fidelity of a variant, evaluated in batches.

Fidelity to the baseline is always measured (top-1 agreement, cosine
similarity, max abs error, NaN/Inf flagged); top-1 accuracy only when labels
exist. Models with a fixed batch dimension are fed at that size (the last
batch padded and trimmed).

Degenerate outputs are not passed off as quality: a model whose outputs hold
NaN/Inf fails (:class:`NonFiniteOutputs`, with the count), and a reference
that predicts one class for every input, or whose outputs barely change with
the input, gets a warning (:func:`degenerate_warning`) that agreement with it
means nothing on this data.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engines.errors import DataError, WorkbenchError
from engines.tasks import TaskContext, ensure_task


@dataclass
class Fidelity:
    top1_agreement: float | None
    cosine: float
    max_abs_err: float
    nan_inf: int          # count of NaN/Inf values in the variant's output (0 = clean)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NonFiniteOutputs(WorkbenchError):
    """A model produced NaN/Inf outputs on the evaluation data."""


def count_nonfinite(outputs: np.ndarray) -> int:
    a = np.asarray(outputs)
    return int(np.count_nonzero(~np.isfinite(a))) if np.issubdtype(a.dtype, np.floating) else 0


def require_finite(outputs: np.ndarray, who: str) -> None:
    """Raise :class:`NonFiniteOutputs` naming ``who`` and the count when ``outputs`` hold NaN/Inf."""
    bad = count_nonfinite(outputs)
    if bad:
        raise NonFiniteOutputs(f"{bad} NaN/Inf values in the outputs of {who} (of {np.asarray(outputs).size}) on "
                               "the evaluation data: its figures would be meaningless")


def degenerate_warning(outputs: np.ndarray, *, rel_tol: float = 1e-6) -> str | None:
    """Why agreement with these (reference) outputs is meaningless here, or None when they vary normally."""
    a = np.asarray(outputs, dtype=np.float64)
    n = len(a) if a.ndim else 0
    if n < 2 or not np.all(np.isfinite(a)):
        return None
    flat = a.reshape(n, -1)
    scale = float(np.max(np.abs(flat))) or 1.0
    spread = float(np.max(np.std(flat, axis=0)))
    if spread <= rel_tol * scale:
        return (f"the reference outputs are (nearly) the same for all {n} inputs (spread {spread:.2g}): "
                "agreement and cosine are meaningless here; pass real data with --data")
    pred = top1(a)
    if pred is not None and pred.ndim == 1 and np.unique(pred).size == 1:
        return (f"the reference predicts class {int(pred[0])} for all {n} inputs: top-1 agreement is "
                "meaningless here; pass real data with --data (x, y)")
    return None


def predict(runner: Any, x: np.ndarray, *, batch_size: int = 64, task: TaskContext | None = None) -> np.ndarray:
    """The first output of ``runner`` over all rows of ``x``, batched."""
    task = ensure_task(task)
    spec = runner.inputs[0]
    first = spec.shape[0] if spec.shape else None
    fixed = isinstance(first, int) and first > 0
    size = int(first) if fixed else max(1, batch_size)
    dtype = spec.dtype if spec.dtype != "bfloat16" else "float32"
    others = {}
    if len(runner.inputs) > 1:
        from engines.measure.runners import example_feeds

        others = {k: v for k, v in example_feeds(runner.inputs, batch=size, data=x[:1]).items()
                  if k != spec.name}  # the other inputs' dynamic dims follow the data's (masks of ones)
    outs: list[np.ndarray] = []
    n = len(x)
    for start in range(0, n, size):
        chunk = np.ascontiguousarray(x[start:start + size].astype(dtype, copy=False))
        real = len(chunk)
        if fixed and real < size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - real, axis=0)])
        feeds = {spec.name: chunk}
        for k, v in others.items():
            feeds[k] = v[:len(chunk)] if len(v) >= len(chunk) else np.resize(v, (len(chunk),) + v.shape[1:])
        out = np.asarray(runner.run(feeds)[0])
        outs.append(out[:real])
        task.report(min(n, start + size) / max(1, n), f"evaluated {min(n, start + size)}/{n} samples")
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def top1(outputs: np.ndarray) -> np.ndarray | None:
    """Class indices, or None when the output is not a score vector per sample."""
    if outputs.ndim not in (2, 3) or outputs.shape[-1] < 2:
        return None
    return np.argmax(outputs, axis=-1)  # [N, C] -> per sample, [N, T, C] -> per token


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    pred = top1(outputs)
    if pred is None:
        raise DataError("top-1 accuracy needs class scores per sample; this model's output is "
                        f"{list(outputs.shape)}")
    labels = np.asarray(labels).reshape(-1)
    if pred.ndim != 1 or len(pred) != len(labels):
        raise DataError(f"labels y have {len(labels)} entries but the model gives {pred.shape} predictions")
    return float(np.mean(pred == labels))


def fidelity(reference: np.ndarray, outputs: np.ndarray) -> Fidelity:
    """How closely ``outputs`` follow the baseline's ``reference`` on the same inputs."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(outputs, dtype=np.float64)
    if ref.shape != out.shape:
        raise DataError(f"variant output shape {list(out.shape)} differs from the baseline's {list(ref.shape)}")
    bad = int(np.count_nonzero(~np.isfinite(out)))
    clean = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    r2 = ref.reshape(len(ref), -1) if ref.ndim else ref.reshape(1, -1)
    o2 = clean.reshape(len(clean), -1) if clean.ndim else clean.reshape(1, -1)
    dot = np.sum(r2 * o2, axis=1)
    norms = np.linalg.norm(r2, axis=1) * np.linalg.norm(o2, axis=1)
    both_zero = norms == 0
    cos = np.where(both_zero, 1.0, dot / np.where(both_zero, 1.0, norms))
    pr, po = top1(ref), top1(clean)
    agree = float(np.mean(pr == po)) if pr is not None and po is not None else None
    max_err = float(np.max(np.abs(r2 - o2))) if r2.size else 0.0
    return Fidelity(top1_agreement=agree, cosine=float(np.mean(cos)) if cos.size else 1.0,
                    max_abs_err=max_err if bad == 0 else float("inf"), nan_inf=bad)


def evaluate_model(path: str | os.PathLike, fmt: str, x: np.ndarray, *, y: np.ndarray | None = None,
                   reference: np.ndarray | None = None, threads: int | None = None, batch_size: int = 64,
                   task: TaskContext | None = None, who: str | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics ``{accuracy, fidelity, eval_samples}`` and the raw outputs (to serve as a reference).

    With ``who`` (a name for messages), NaN/Inf outputs raise :class:`NonFiniteOutputs`; without a
    ``reference`` (this model *is* the reference) a degenerate output adds ``degenerate`` (a warning).
    """
    from engines.measure.runners import open_runner

    runner = open_runner(path, fmt, threads=threads)
    outputs = predict(runner, x, batch_size=batch_size, task=task)
    if who is not None:
        require_finite(outputs, who)
    metrics: dict[str, Any] = {"eval_samples": int(len(x))}
    if reference is None:
        warn = degenerate_warning(outputs)
        if warn:
            metrics["degenerate"] = warn
    metrics["accuracy"] = accuracy(outputs, y) if y is not None else None
    if reference is not None:
        metrics["fidelity"] = fidelity(reference, outputs).to_dict()
    else:
        metrics["fidelity"] = Fidelity(1.0 if top1(outputs) is not None else None, 1.0, 0.0,
                                       int(np.count_nonzero(~np.isfinite(outputs)))).to_dict()
    return metrics, outputs


def tf_source_outputs(path: str | os.PathLike, x: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """The first output of a Keras file or SavedModel folder run in TensorFlow on ``x`` (the original model,
    the reference for its TFLite conversions)."""
    from pathlib import Path

    import tensorflow as tf

    src = Path(path)
    if src.is_dir():
        loaded = tf.saved_model.load(str(src))
        fn = loaded.signatures["serving_default"]
        arg = next(iter(fn.structured_input_signature[1]))

        def call(b: np.ndarray) -> np.ndarray:
            out = fn(**{arg: tf.constant(b)})
            return np.asarray(out[sorted(out)[0]])
    else:
        import keras

        model = keras.models.load_model(str(src), compile=False)

        def call(b: np.ndarray) -> np.ndarray:
            out = model(b, training=False)
            out = out[0] if isinstance(out, (list, tuple)) else out
            return np.asarray(out)
    outs = [call(np.ascontiguousarray(x[i:i + batch_size].astype(np.float32)))
            for i in range(0, len(x), max(1, batch_size))]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)
