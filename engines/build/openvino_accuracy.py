"""NNCF INT8 with accuracy control: ``nncf.quantize_with_accuracy_control`` on the user's labelled data.

NNCF quantizes the model, measures top-1 accuracy on the labelled samples
with the float model and the INT8 one, and, while the drop is over
``max_drop`` points, returns the most harmful layers to float one group at a
time. Without labels there is no accuracy to control: :func:`check_accuracy_control`
refuses before any work and names the alternative (plain NNCF INT8).
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import numpy as np

from engines.errors import DataError, WorkbenchError, first_line

MAX_DROP_LIMIT = 50.0   # points


def check_accuracy_control(precision: str, data: np.ndarray | None, labels: np.ndarray | None,
                           max_drop: float) -> None:
    """Refuse, before any work, an accuracy-controlled build that cannot be done (one line, the alternative)."""
    if precision != "int8":
        raise WorkbenchError(f"accuracy control is for int8 builds, not {precision}: choose --precision int8")
    if data is None or labels is None:
        raise DataError("accuracy-controlled INT8 needs labelled data (x and y): give --data FILE.npz with "
                        "labels y, or use plain NNCF INT8 (openvino-int8), which calibrates without labels")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"accuracy control needs integer class labels y of shape (N,), not {labels.dtype} "
                        f"{list(labels.shape)}")
    if len(labels) != len(data):
        raise DataError(f"the data has {len(data)} samples and {len(labels)} labels: give one label per sample")
    if not 0.0 <= float(max_drop) <= MAX_DROP_LIMIT:
        raise WorkbenchError(f"accuracy drop {max_drop} is out of range: give 0 to {MAX_DROP_LIMIT:g} points")


def _top1(outputs: Any) -> int:
    return int(np.argmax(np.asarray(outputs).reshape(-1)))


def quantize_with_accuracy(model: Any, items: list[dict[str, np.ndarray]], labels: np.ndarray, max_drop: float,
                           preset: str = "performance") -> tuple[Any, dict[str, Any]]:
    """The INT8 model and what accuracy control did (``max_drop`` in points; ``items``: batch-1 feeds)."""
    try:
        import nncf
    except ImportError as exc:
        from engines.errors import UnsupportedError

        raise UnsupportedError("NNCF is not installed: pip install -e '.[openvino]' (nncf)") from exc
    labelled = [(feeds, int(y)) for feeds, y in zip(items, np.asarray(labels))]
    seen: dict[str, float] = {}

    def validate(compiled: Any, validation: Any) -> float:
        out = compiled.outputs[0]
        hits = [(_top1(compiled(feeds)[out]) == y) for feeds, y in validation]
        acc = float(np.mean(hits)) if hits else 0.0
        seen.setdefault("first", acc)   # NNCF validates the float model first
        seen["last"] = acc
        return acc

    calib = nncf.Dataset(labelled, lambda item: item[0])
    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}
    logging.getLogger("nncf").setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):   # progress bars on stdout would break --json
            q = nncf.quantize_with_accuracy_control(model, calib, calib, validate, max_drop=float(max_drop) / 100.0,
                                                    drop_type=nncf.DropType.ABSOLUTE, preset=presets[preset],
                                                    subset_size=len(labelled))
    except Exception as exc:  # NNCF and OpenVINO raise their own types
        raise WorkbenchError(f"NNCF accuracy-controlled INT8 failed: {first_line(exc)}") from exc
    fq = sum(1 for op in q.get_ops() if op.get_type_name() == "FakeQuantize")
    float_acc, last = seen.get("first"), seen.get("last")
    report = {"max_drop_points": float(max_drop), "samples": len(labelled), "fake_quantize_ops": fq,
              "float_accuracy": float_acc, "last_validated_accuracy": last,
              "note": f"INT8 with NNCF accuracy control (max drop {max_drop:g} points on {len(labelled)} labelled "
                      f"samples): {fq} quantizers kept"}
    return q, report
