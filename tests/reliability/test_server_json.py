"""Large JSON bodies are decoded off the event loop, in bounded memory (issue 12, item 11)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")
psutil = pytest.importorskip("psutil")

from engines.measure.runners import open_runner  # noqa: E402
from engines.serving.app import start_server  # noqa: E402
from tests.perf_fixtures import tiny_onnx  # noqa: E402


def _big_json(mib: float = 3.8) -> bytes:
    rows = int(mib * 2**20 / (16 * 21))
    x = np.random.default_rng(0).standard_normal((rows, 16)).astype(np.float32)
    return json.dumps({"instances": x.tolist()}).encode()


def test_sixteen_large_json_clients_are_served_off_the_loop_in_bounded_memory(tmp_path):
    runner = open_runner(tiny_onnx(tmp_path / "tiny.onnx"), "onnx", threads=1)
    body = _big_json()
    assert 3 * 2**20 < len(body) < 4 * 2**20
    proc = psutil.Process()
    with start_server(runner, max_batch=32) as srv:
        state = srv.app.state.serving

        def post(codes: list) -> None:
            r = httpx.post(srv.url + "/invocations", content=body, headers={"content-type": "application/json"},
                           timeout=120)
            codes.append(r.status_code)

        warm: list = []
        post(warm)                                     # the decoding process starts, pools fill
        rss0 = proc.memory_info().rss
        codes: list = []
        pings: list = []
        ts = [threading.Thread(target=post, args=(codes,)) for _ in range(16)]
        for t in ts:
            t.start()
        while any(t.is_alive() for t in ts[:1]) and len(pings) < 50:   # the loop answers meanwhile
            pings.append(httpx.get(srv.url + "/ping", timeout=30).status_code)
        for t in ts:
            t.join(180)
        grown = proc.memory_info().rss - rss0
        assert warm == [200] and codes == [200] * 16
        assert pings and set(pings) == {200}
        assert grown < 120 * 2**20, f"RSS grew {grown / 2**20:.0f} MiB over 16 large JSON requests"
        assert state.offload.tasks >= 17 * 2          # decoded and encoded in the child process


def test_small_json_stays_inline(tmp_path):
    runner = open_runner(tiny_onnx(tmp_path / "tiny.onnx"), "onnx", threads=1)
    with start_server(runner) as srv:
        r = httpx.post(srv.url + "/invocations", json=[[0.1] * 16] * 4, timeout=10)
        assert r.status_code == 200 and srv.app.state.serving.offload.tasks == 0
