"""Server-side request latency over the most recent requests, for live counters (``/stats``).

Each answered ``/invocations`` request adds the time from its arrival at the
route to its answer being ready (reading and decoding the body, queueing,
the model run, encoding). :meth:`RecentLatencies.summary` gives p50/p99 over
the last ``window`` requests, so the figure follows the current load rather
than the whole uptime.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np

WINDOW = 1024


class RecentLatencies:
    def __init__(self, window: int = WINDOW) -> None:
        self._ms: collections.deque[float] = collections.deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._ms.append(float(ms))

    def summary(self) -> dict[str, Any]:
        """``{"p50": ms, "p99": ms, "window": n}`` over the last requests; percentiles None before the first."""
        with self._lock:
            values = np.fromiter(self._ms, float, len(self._ms))
        if not len(values):
            return {"p50": None, "p99": None, "window": 0}
        p50, p99 = np.percentile(values, [50, 99])
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "window": int(len(values))}
