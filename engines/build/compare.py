"""Output comparison between an engine and its source (fidelity, as Polygraphy does).

The same inputs go through both; the first output of each is compared:
top-1 agreement (for classifier-shaped outputs), cosine similarity of the
flattened outputs, the largest absolute difference and whether the engine
produced NaN/Inf. ``engines.measure.evaluate`` may offer a richer version; this one
is the engine builder's own, kept tiny on purpose.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def compare_outputs(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> dict[str, Any]:
    """Fidelity of ``candidate`` against ``reference`` (lists of outputs of one run each)."""
    if not reference or not candidate:
        return {"top1_agreement": None, "cosine": None, "max_abs_err": None, "nan_inf": False}
    ref = np.asarray(reference[0], dtype=np.float64)
    got = np.asarray(candidate[0], dtype=np.float64)
    nan_inf = bool(not np.all(np.isfinite(got)))
    if ref.shape != got.shape:
        if ref.size != got.size:
            return {"top1_agreement": None, "cosine": None, "max_abs_err": None, "nan_inf": nan_inf,
                    "shape_mismatch": [list(ref.shape), list(got.shape)]}
        got = got.reshape(ref.shape)
    diff = np.abs(np.nan_to_num(ref) - np.nan_to_num(got))
    a, b = np.nan_to_num(ref).ravel(), np.nan_to_num(got).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        cosine = 1.0
    elif na == 0.0 or nb == 0.0:
        cosine = 0.0
    else:
        cosine = float(np.dot(a, b) / (na * nb))
    top1 = None
    if ref.ndim >= 2 and ref.shape[-1] > 1:
        top1 = float(np.mean(ref.reshape(-1, ref.shape[-1]).argmax(-1) == got.reshape(-1, ref.shape[-1]).argmax(-1)))
    return {"top1_agreement": top1, "cosine": cosine, "max_abs_err": float(diff.max()) if diff.size else 0.0,
            "nan_inf": nan_inf}
