"""The throughput a server run actually reached, as opposed to the model-only benchmark.

A serving run (the Batching area's on/off comparison, ``workbench loadgen``
against ``workbench serve``) measures requests per second through HTTP, the
queue and the batcher. :class:`ServedFigure` is the best level of one run.
It is stored in a variant's metrics under ``served`` (:func:`record_served`)
so ``workbench cost`` and the deploy plan find it later; always-on pricing
and the autoscaling target then use it, labelled "served", beside the
model-only figure.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class ServedFigure:
    rps: float                     # successful requests per second at the best level
    rows_per_request: int
    concurrency: float             # the load level it was reached at
    batching: bool                 # dynamic batching on in the server
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    measured: str                  # when (UTC) and where
    source: str                    # "batching comparison" | "loadgen"

    @property
    def ips(self) -> float:
        return self.rps * self.rows_per_request

    def describe(self) -> str:
        p99 = f", p99 {self.p99_ms:.1f} ms" if self.p99_ms is not None else ""
        return (f"{self.source}, batching {'on' if self.batching else 'off'}, concurrency {self.concurrency:g}"
                f"{p99}, {self.measured}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "ServedFigure | None":
        if not d or not d.get("rps"):
            return None
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError:
            return None


def best_level(results: list[dict[str, Any]], *, batching: bool, source: str, measured: str = "") -> ServedFigure | None:
    """The level with the highest successful throughput (levels with errors only count their successes)."""
    good = [r for r in results or [] if r.get("ok") and r.get("throughput_rps")]
    if not good:
        return None
    best = max(good, key=lambda r: float(r["throughput_rps"]))
    lat = best.get("latency_ms") or {}
    return ServedFigure(float(best["throughput_rps"]), int(best.get("rows_per_request") or 1),
                        float(best.get("level") or 0), batching, lat.get("p50"), lat.get("p99"),
                        sum((best.get("errors") or {}).values()), measured or _now(), source)


def from_comparison(comparison: dict[str, Any] | None) -> dict[str, ServedFigure]:
    """``{"on": ..., "off": ...}`` from :func:`engines.serving.experiment.compare_batching`'s result."""
    out: dict[str, ServedFigure] = {}
    if not comparison:
        return out
    when = str(comparison.get("measured") or "") or _now()
    threads = comparison.get("threads")
    where = f"{when} on this machine, {threads or '?'} threads"
    for key, batching in (("on", True), ("off", False)):
        fig = best_level(comparison.get(key) or [], batching=batching, source="batching comparison", measured=where)
        if fig is not None:
            out[key] = fig
    return out


def from_metrics(metrics: dict[str, Any] | None) -> dict[str, ServedFigure]:
    """The served figures stored in a variant's metrics (``served: {on: {...}, off: {...}}``)."""
    stored = (metrics or {}).get("served") or {}
    out = {}
    for key in ("on", "off"):
        fig = ServedFigure.from_dict(stored.get(key))
        if fig is not None:
            out[key] = fig
    return out


def record_served(workspace: Any, variant_id: str, figures: dict[str, ServedFigure]) -> None:
    """Store the figures in the variant (``metrics.served``) so later cost/deploy runs find them."""
    if workspace is None or not variant_id or not figures:
        return
    workspace.update_metrics(variant_id, served={k: f.to_dict() for k, f in figures.items()})


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
