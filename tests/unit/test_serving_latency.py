"""The server's live latency figures: p50/p99 over the recent answered requests, in ``/stats``."""

from __future__ import annotations

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")

from engines.serving.app import start_server  # noqa: E402
from engines.serving.latency import RecentLatencies  # noqa: E402
from tests.perf_fixtures import SlowRunner  # noqa: E402


def test_recent_latencies_keep_the_last_window():
    lat = RecentLatencies(window=100)
    assert lat.summary() == {"p50": None, "p99": None, "window": 0}
    for ms in range(1, 201):                 # 1..200 ms: only the last 100 (101..200) count
        lat.add(float(ms))
    s = lat.summary()
    assert s["window"] == 100 and 150 <= s["p50"] <= 151 and 199 <= s["p99"] <= 200


def test_stats_carry_the_answered_requests_latency():
    runner = SlowRunner(delay_s=0.02)        # every model run takes at least 20 ms
    with start_server(runner, batching=False) as srv:
        assert httpx.get(srv.url + "/stats").json()["latency_ms"]["window"] == 0
        x = np.ones((1, 4), np.float32).tolist()
        for _ in range(5):
            assert httpx.post(srv.url + "/invocations", json={"instances": x}, timeout=10).status_code == 200
        bad = httpx.post(srv.url + "/invocations", content=b"[[1", headers={"content-type": "application/json"})
        assert bad.status_code == 400        # refused requests are not in the latency figures
        lat = httpx.get(srv.url + "/stats").json()["latency_ms"]
    assert lat["window"] == 5 and lat["p99"] >= lat["p50"] >= 20.0
