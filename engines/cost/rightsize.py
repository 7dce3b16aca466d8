"""Right-sizing serverless memory: the memory asked for vs the model's measured peak RSS.

The peak RSS is the one recorded while the variant's benchmark ran
(``metrics.run_metrics.rss_peak``, bytes of the benchmarking process: Python,
the runtime and the model, so an upper bound of what the model itself needs;
the serving container adds its own server, hence the headroom factor). The fit
is the smallest SageMaker serverless size (1024..6144 MB in 1 GB steps) that
holds peak RSS x headroom. Serverless vCPUs scale with memory, so a smaller
size can also be slower: re-measure latency on the endpoint after resizing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from engines.errors import WorkbenchError

SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
HEADROOM = 1.5
MIB = 1024 * 1024


@dataclass
class MemoryFit:
    requested_mb: int
    model_bytes: int | None
    rss_peak_bytes: int | None
    fit_mb: int | None
    headroom: float
    warning: str | None
    saving_per_1m: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("GB", 1024 ** 3), ("MB", MIB), ("KB", 1024)):
        if n >= div:
            return f"{n / div:.0f} {unit}"
    return f"{n} B"


def fit_memory(rss_peak_bytes: int | None, headroom: float = HEADROOM) -> int | None:
    if rss_peak_bytes is None:
        return None
    need_mb = rss_peak_bytes * headroom / MIB
    return next((s for s in SIZES_MB if s >= need_mb), None)


def rightsize_serverless(requested_mb: int, rss_peak_bytes: int | None, model_bytes: int | None = None, *,
                         catalog: Any = None, billed_ms: int | None = None, headroom: float = HEADROOM) -> MemoryFit:
    if requested_mb not in SIZES_MB:
        raise WorkbenchError(f"serverless memory {requested_mb} MB is not a SageMaker size: use one of "
                             f"{', '.join(map(str, SIZES_MB))}")
    if rss_peak_bytes is None or rss_peak_bytes <= 0:
        return MemoryFit(requested_mb, model_bytes, None, None, headroom, None, None,
                         "no peak RSS measured for this variant: benchmark it (workbench cost measures it) to "
                         "right-size memory")
    fit = fit_memory(rss_peak_bytes, headroom)
    what = f"{requested_mb} MB for a {_size(model_bytes)} model (peak RSS {_size(rss_peak_bytes)})"
    if fit is None:
        return MemoryFit(requested_mb, model_bytes, rss_peak_bytes, None, headroom,
                         f"{what}: even 6144 MB is under peak RSS x {headroom:g}; serverless may run out of "
                         "memory: use a real-time instance", None, "peak RSS of the benchmark process")
    warning, saving = None, None
    if fit < requested_mb:
        warning = f"{what}: {fit} MB fits (peak RSS x {headroom:g})"
        if catalog is not None and billed_ms:
            diff = catalog.serverless_rate(requested_mb).usd - catalog.serverless_rate(fit).usd
            saving = diff * billed_ms / 1000.0 * 1e6
    elif fit > requested_mb:
        warning = f"{what}: too small, {fit} MB needed (peak RSS x {headroom:g})"
    return MemoryFit(requested_mb, model_bytes, rss_peak_bytes, fit, headroom, warning, saving,
                     "peak RSS of the benchmark process (Python + runtime + model): an upper bound for the model; "
                     "smaller sizes get fewer vCPUs, so re-measure latency after resizing")


def rightsize_target(target: Any, requested_mb: int, *, catalog: Any = None, billed_ms: int | None = None,
                     rss_peak: int | None = None) -> MemoryFit:
    """Right-size from a target's stored metrics (``run_metrics.rss_peak``, else ``rss_peak``) and its size."""
    metrics = getattr(target, "metrics", None) or {}
    rss = (metrics.get("run_metrics") or {}).get("rss_peak") or rss_peak
    path = getattr(target, "path", None)
    try:
        size = path.stat().st_size if path is not None and path.is_file() else None
    except OSError:
        size = None
    return rightsize_serverless(requested_mb, int(rss) if rss else None, size, catalog=catalog, billed_ms=billed_ms)
