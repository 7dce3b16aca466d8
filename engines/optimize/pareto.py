"""Pareto fronts over measured variants: quality (accuracy or fidelity) against latency or size.

A variant is on the front when no other variant is at least as good on both
axes and strictly better on one. Quality is accuracy when every compared
variant has it, otherwise top-1 agreement with the baseline (then cosine).
"""

from __future__ import annotations

from typing import Any, Iterable


def quality_key(variants: Iterable[Any]) -> str:
    """``"accuracy"`` when every ok variant has an accuracy, else ``"fidelity"``."""
    ok = [v for v in variants if getattr(v, "status", "ok") == "ok"]
    if ok and all(v.metrics.get("accuracy") is not None for v in ok):
        return "accuracy"
    return "fidelity"


def quality(v: Any, key: str) -> float | None:
    m = v.metrics
    if key == "accuracy":
        return m.get("accuracy")
    fid = m.get("fidelity") or {}
    if fid.get("nan_inf"):
        return 0.0
    agree = fid.get("top1_agreement")
    return agree if agree is not None else fid.get("cosine")


def cost(v: Any, axis: str) -> float | None:
    m = v.metrics
    if axis == "latency":
        return (m.get("latency_ms") or {}).get("p50")
    if axis == "size":
        return m.get("size_bytes")
    raise ValueError(f"unknown axis {axis!r}")


def points(variants: Iterable[Any], axis: str = "latency", key: str | None = None) -> list[tuple[Any, float, float]]:
    """(variant, cost, quality) for every ok variant measured on both axes."""
    vs = [v for v in variants if getattr(v, "status", "ok") == "ok"]
    key = key or quality_key(vs)
    out = []
    for v in vs:
        c, q = cost(v, axis), quality(v, key)
        if c is not None and q is not None:
            out.append((v, float(c), float(q)))
    return out


def pareto_front(variants: Iterable[Any], axis: str = "latency", key: str | None = None) -> list[Any]:
    """Variants not dominated on (lower cost, higher quality), sorted by cost."""
    pts = points(variants, axis, key)
    front = []
    for v, c, q in pts:
        dominated = any((c2 <= c and q2 >= q) and (c2 < c or q2 > q) for _, c2, q2 in pts)
        if not dominated:
            front.append((c, -q, v))
    front.sort(key=lambda t: (t[0], t[1]))
    return [v for _, _, v in front]


def pareto_ids(variants: Iterable[Any], key: str | None = None) -> dict[str, set[str]]:
    vs = list(variants)
    return {axis: {v.id for v in pareto_front(vs, axis, key)} for axis in ("latency", "size")}
