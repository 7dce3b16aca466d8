"""The OpenVINO quantization modes of the variant pipeline: an INT8 OpenVINO IR from the parent's ONNX file.

``openvino-int8`` runs ``nncf.quantize`` calibrated on the context's data
(the training split when there is one); ``openvino-int8-acc`` runs
``nncf.quantize_with_accuracy_control`` on the same samples with their
labels, keeping in float the layers that would cost more than
:data:`ACC_MAX_DROP` accuracy points. Both write ``model.xml`` + ``model.bin``
(and the runtime settings file) through :func:`engines.build.openvino.build_openvino`,
so a variant made here runs, sweeps, serves and deploys like an engine built
with ``workbench build --backend openvino``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engines import formats as F
from engines import registry
from engines.errors import DataError
from engines.tasks import TaskContext, ensure_task

OPENVINO_QUANT_MODES = tuple(c.id for c in registry.by_kind("quantize") if c.output_format == F.OPENVINO)
ACCURACY_MODE = "openvino-int8-acc"
ACC_MAX_DROP = 1.0       # points: what the accuracy-controlled mode lets NNCF lose
MODEL_FILE = "model.xml"


def calibration_labels(ctx: Any) -> np.ndarray | None:
    """The labels that go with the context's calibration inputs (``None`` when there are none)."""
    return ctx.train_y if ctx.train_x is not None else ctx.y


def require_labels(ctx: Any, quant: str) -> None:
    """Refuse the accuracy-controlled mode on unlabelled data, before any work, naming the alternative."""
    if quant == ACCURACY_MODE and calibration_labels(ctx) is None:
        raise DataError(f"{ACCURACY_MODE} (NNCF accuracy control) needs labelled data: give --data FILE.npz with "
                        "labels y (and --train-data with y), or use openvino-int8, which calibrates without labels")


def quantize_openvino(src: str | os.PathLike, dst: str | os.PathLike, quant: str, *, calib_x: np.ndarray,
                      calib_y: np.ndarray | None = None, samples: int = 128, threads: int | None = None,
                      task: TaskContext | None = None) -> dict[str, Any]:
    """Write the INT8 OpenVINO IR of ONNX ``src`` at ``dst``; return the build report."""
    from engines.build.openvino import build_openvino

    task = ensure_task(task)
    n = max(1, min(int(samples), len(calib_x)))
    acc = quant == ACCURACY_MODE
    if acc and calib_y is None:
        raise DataError(f"{ACCURACY_MODE} needs labels y: use openvino-int8 on unlabelled data")
    report = build_openvino(Path(src), Path(dst), precision="int8", data=calib_x[:n],
                            labels=None if calib_y is None else np.asarray(calib_y)[:n], accuracy_control=acc,
                            max_drop=ACC_MAX_DROP, threads=threads, task=task)
    report["mode"] = quant
    return report


def tuner_modes(ctx: Any) -> list[str]:
    """The OpenVINO modes the auto-tuner tries for ``ctx``: none without openvino + nncf or for Keras/TFLite
    models; the accuracy-controlled one only where the calibration data has labels."""
    import importlib.util

    if ctx.fmt in F.TF_FORMATS or ctx.fmt == F.TFLITE:
        return []
    if any(importlib.util.find_spec(m) is None for m in ("openvino", "nncf")):
        return []
    return ["openvino-int8"] + ([ACCURACY_MODE] if calibration_labels(ctx) is not None else [])
