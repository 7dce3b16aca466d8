"""Idle, slow-header and surplus sockets cannot starve real requests (issue 12, item 9)."""

from __future__ import annotations

import resource
import socket
import threading

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from engines.measure.runners import open_runner  # noqa: E402
from engines.serving.app import start_server  # noqa: E402
from tests.perf_fixtures import SlowRunner, tiny_onnx  # noqa: E402

HEAD = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: "


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return open_runner(tiny_onnx(tmp_path_factory.mktemp("conn") / "tiny.onnx"), "onnx", threads=1)


def _open(port: int, n: int, first: bytes = HEAD) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        if first:
            s.sendall(first)
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, within_s: float) -> bool:
    s.settimeout(within_s)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def test_slow_header_sockets_do_not_starve_normal_requests(runner):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2600:                         # 1,050 sockets on each side of loopback
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    n = 1050                                # more than the old limit of 1,000 connections
    with start_server(runner) as srv:
        socks = _open(srv.port, n)
        stop = threading.Event()

        def trickle() -> None:              # one header byte per socket every 0.2 s (slowloris)
            while not stop.is_set():
                for s in socks:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass
                stop.wait(0.2)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        try:
            x = np.ones((1, 16), np.float32).tolist()
            with httpx.Client(base_url=srv.url, timeout=10) as c:
                codes = [c.get("/ping").status_code for _ in range(5)]
                codes += [c.post("/invocations", json=x).status_code for _ in range(5)]
            assert codes == [200] * 10
        finally:
            stop.set()
            t.join(5)
            for s in socks:
                s.close()
    if soft < 2600:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_and_slow_header_sockets_are_closed_after_the_header_timeout(runner):
    with start_server(runner, server_kw={"header_timeout_s": 0.5}) as srv:
        idle = socket.create_connection(("127.0.0.1", srv.port))
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.sendall(HEAD)
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                try:
                    slow.send(b"a")
                except OSError:
                    return
                stop.wait(0.1)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        try:
            assert _closed_by_server(idle, 10)
            assert _closed_by_server(slow, 10)
            with httpx.Client(base_url=srv.url, timeout=10) as c:   # a keep-alive client that idles too
                assert c.get("/ping").status_code == 200
                assert c.get("/ping").status_code == 200
        finally:
            stop.set()
            t.join(5)
            idle.close()
            slow.close()


def test_connection_cap_closes_the_longest_waiting_socket_not_the_new_request(runner):
    with start_server(runner, server_kw={"max_connections": 40}) as srv:
        socks = _open(srv.port, 80, first=b"")
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as c:
                assert c.get("/ping").status_code == 200
            closed = sum(_closed_by_server(s, 0.05) for s in socks)
            assert closed >= 40
        finally:
            for s in socks:
                s.close()


def test_requests_over_the_running_limit_get_503_and_retry_after():
    with start_server(SlowRunner(delay_s=0.5), batching=False, server_kw={"max_requests": 2}) as srv:
        results: list = []

        def one() -> None:
            r = httpx.post(srv.url + "/invocations", json=[[1.0] * 4], timeout=30)
            results.append((r.status_code, r.headers.get("retry-after")))

        ts = [threading.Thread(target=one) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        codes = [c for c, _ in results]
        assert len(codes) == 6 and codes.count(200) >= 2 and 503 in codes and set(codes) <= {200, 503}
        assert all(ra == "1" for c, ra in results if c == 503)
