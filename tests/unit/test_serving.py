"""The inference server over real HTTP on 127.0.0.1: contract, batching, limits and bad input."""

from __future__ import annotations

import io
import json
import socket
import threading
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from engines.measure.runners import open_runner  # noqa: E402
from engines.serving.app import start_server  # noqa: E402
from tests.perf_fixtures import SlowRunner, tiny_onnx  # noqa: E402

NPY = {"content-type": "application/x-npy"}


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return open_runner(tiny_onnx(tmp_path_factory.mktemp("srv") / "tiny.onnx"), "onnx", threads=1)


@pytest.fixture(scope="module")
def server(runner):
    srv = start_server(runner, max_batch=8, max_delay_ms=2)
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10, verify=False) as c:
        yield c


def test_binds_loopback_and_answers_ping(server, client):
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    r = client.get("/ping")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    meta = client.get("/metadata").json()
    assert meta["inputs"][0]["name"] == "x" and meta["inputs"][0]["shape"][1] == 16


def test_json_round_trip_matches_direct_run(runner, client):
    x = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    r = client.post("/invocations", json={"instances": x.tolist()})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    got = np.asarray(r.json()["predictions"], np.float32)
    np.testing.assert_allclose(got, runner.run({"x": x})[0], rtol=1e-5, atol=1e-6)
    one = client.post("/invocations", json=x[0].tolist())          # one sample without the batch axis
    assert one.status_code == 200 and np.asarray(one.json()["predictions"]).shape == (1, 4)
    named = client.post("/invocations", json={"inputs": {"x": x.tolist()}})
    assert named.status_code == 200


def test_npy_round_trip(runner, client):
    x = np.random.default_rng(2).standard_normal((5, 16)).astype(np.float32)
    r = client.post("/invocations", content=npy(x), headers={**NPY, "accept": "application/x-npy"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npy"
    got = np.load(io.BytesIO(r.content), allow_pickle=False)
    np.testing.assert_allclose(got, runner.run({"x": x})[0], rtol=1e-5, atol=1e-6)
    assert client.post("/invocations", content=npy(x), headers={**NPY, "accept": "text/csv"}).status_code == 406


@pytest.mark.parametrize("body,headers,status,needle", [
    (b'{"instances": [[1, 2', {"content-type": "application/json"}, 400, "malformed JSON"),
    (b"", {"content-type": "application/json"}, 400, "empty request body"),
    (b"[[1,2,3]]", {"content-type": "text/csv"}, 415, "text/csv is not supported"),
    (b"[[1,2,3]]", {}, 415, "not supported"),
    (b"\x93NUMPY garbage", NPY, 400, "malformed NPY"),
    (b'{"foo": 1}', {"content-type": "application/json"}, 400, "instances"),
    (b'[[1, 2], [3]]', {"content-type": "application/json"}, 422, "ragged"),
    (b'[["a", "b"]]', {"content-type": "application/json"}, 422, "cannot be float32"),
    (json.dumps([[float("nan")] * 16]).encode(), {"content-type": "application/json"}, 422, "NaN"),
])
def test_bad_requests_get_4xx_with_a_message(client, body, headers, status, needle):
    r = client.post("/invocations", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def test_npy_wrong_shape_and_dtype(client):
    r = client.post("/invocations", content=npy(np.zeros((2, 15), np.float32)), headers=NPY)
    assert r.status_code == 422 and "shape [2, 15]" in r.json()["error"] and "[N, 16]" in r.json()["error"]
    r = client.post("/invocations", content=npy(np.zeros((2, 16), np.float64)), headers=NPY)
    assert r.status_code == 422 and "dtype float64" in r.json()["error"]
    r = client.post("/invocations", content=npy(np.zeros((2, 16), np.int8)), headers=NPY)
    assert r.status_code == 200                   # a safe cast (int8 -> float32) is accepted
    obj = io.BytesIO()
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    r = client.post("/invocations", content=obj.getvalue(), headers=NPY)
    assert r.status_code == 400 and "malformed NPY" in r.json()["error"]   # pickles never loaded


def test_oversize_body_is_413_with_and_without_content_length(client):
    big = b"[" + b"0," * (2 * 1024 * 1024) + b"0]"             # > 4 MB default limit
    r = client.post("/invocations", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "4194304 byte limit" in r.json()["error"]

    def chunks():
        for _ in range(5):
            yield b" " * (1024 * 1024)

    r = client.post("/invocations", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.get("/ping").status_code == 200


def test_batching_actually_batches_and_off_does_not(runner):
    def blast(url: str, n: int = 24) -> None:
        x = npy(np.ones((1, 16), np.float32))
        barrier = threading.Barrier(n)
        codes = []

        def one():
            with httpx.Client(timeout=10, verify=False) as c:
                barrier.wait()
                codes.append(c.post(url + "/invocations", content=x, headers=NPY).status_code)

        ts = [threading.Thread(target=one) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        assert codes == [200] * n

    with start_server(runner, max_batch=16, max_delay_ms=100) as on:
        blast(on.url)
        stats = httpx.get(on.url + "/stats").json()
    assert stats["requests"] == 24 and stats["runs"] < 24
    assert max(int(k) for k in stats["batch_sizes"]) > 1 and stats["mean_batch"] > 1
    with start_server(runner, batching=False) as off:
        blast(off.url)
        stats = httpx.get(off.url + "/stats").json()
    assert stats["max_batch"] == 1 and stats["batch_sizes"] == {"1": 24}


def test_full_queue_answers_429_and_shutdown_503():
    slow = SlowRunner(delay_s=0.3)
    srv = start_server(slow, batching=False, max_queue=2)
    try:
        codes: list[int] = []
        msgs: list[str] = []

        def one():
            r = httpx.post(srv.url + "/invocations", json=[[1.0, 2.0, 3.0, 4.0]], timeout=20)
            codes.append(r.status_code)
            if r.status_code != 200:
                msgs.append(r.json()["error"])

        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert codes.count(200) >= 2 and codes.count(429) >= 1 and set(codes) <= {200, 429}
        assert any("queue is full" in m for m in msgs)
        srv.app.state.serving.batcher.begin_close()
        r = httpx.post(srv.url + "/invocations", json=[[1.0, 2.0, 3.0, 4.0]])
        assert r.status_code == 503 and "shutting down" in r.json()["error"]
        assert httpx.get(srv.url + "/ping").status_code == 503
    finally:
        srv.stop()


def test_graceful_shutdown_finishes_requests_in_flight():
    slow = SlowRunner(delay_s=0.6)
    srv = start_server(slow, batching=False)
    result: dict = {}

    def one():
        r = httpx.post(srv.url + "/invocations", json=[[1.0, 1.0, 1.0, 1.0]], timeout=20)
        result["status"], result["body"] = r.status_code, r.json()

    t = threading.Thread(target=one)
    t.start()
    deadline = time.time() + 5
    while not slow.calls and time.time() < deadline:
        time.sleep(0.01)
    assert slow.calls, "the request never reached the model"
    srv.stop()                                    # while the model is still running the request
    t.join(10)
    assert result["status"] == 200 and result["body"]["predictions"] == [[4.0]]
    assert not srv.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/ping", timeout=2)


def _slow_sender(port: int, stop: threading.Event, sent: list[int]) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\n\r\n")
    try:
        while not stop.is_set():
            s.sendall(b" ")
            sent[0] += 1
            time.sleep(0.1)
    except OSError:
        pass
    finally:
        s.close()


def test_slow_client_does_not_stall_others(server, client):
    stop, sent = threading.Event(), [0]
    t = threading.Thread(target=_slow_sender, args=(server.port, stop, sent), daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        x = np.ones((1, 16), np.float32).tolist()
        for _ in range(20):
            assert client.post("/invocations", json=x).status_code == 200
        assert sent[0] >= 2                     # the slow client was still trickling meanwhile
    finally:
        stop.set()
        t.join(2)


def test_slow_body_times_out_with_408(runner):
    with start_server(runner, body_timeout_s=0.5) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(5)
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n[[")
        reply = b""
        while b"}" not in reply:                  # headers and the JSON body may come in separate packets
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        s.close()
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 408") and "did not arrive within 0.5 s" in reply


def test_burst_of_malformed_requests_keeps_server_up_and_memory_flat(server):
    import psutil

    proc = psutil.Process()
    bad = [(b"{not json", {"content-type": "application/json"}),
           (npy(np.zeros((1, 3), np.float32)), NPY),
           (b"", {"content-type": "application/json"}),
           (b"x" * 64, {"content-type": "text/plain"}),
           (b"\x93NUMPY\x01\x00garbage", NPY)]

    def hammer(n: int, codes: list[int]) -> None:
        with httpx.Client(base_url=server.url, timeout=10, verify=False) as c:
            for i in range(n):
                body, headers = bad[i % len(bad)]
                codes.append(c.post("/invocations", content=body, headers=headers).status_code)

    warm: list[int] = []
    hammer(300, warm)                             # reach steady state (allocator pools, caches)
    rss0 = proc.memory_info().rss
    codes: list[int] = []
    threads = [threading.Thread(target=hammer, args=(500, codes)) for _ in range(4)]  # 2,000 requests
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    grown = proc.memory_info().rss - rss0
    assert len(codes) == 2000 and all(400 <= c < 500 for c in codes)
    assert grown < 16 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB over 2,000 malformed requests"
    assert httpx.get(server.url + "/ping").status_code == 200


def test_serve_command_runs_and_stops_on_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    model = tiny_onnx(tmp_path / "cli.onnx")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", str(model), "--port", "0",
                             "--max-batch", "4"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("serving cli (onnx) at http://127.0.0.1:"), first
        url = first.split(" at ")[1].split()[0]
        assert httpx.get(url + "/ping", timeout=5).status_code == 200
        r = httpx.post(url + "/invocations", json=[[0.5] * 16], timeout=5)
        assert r.status_code == 200 and len(r.json()["predictions"][0]) == 4
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


WAIT_CHILD = """
import signal, sys
from engines.measure.runners import open_runner
from engines.serving.app import start_server
before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
srv = start_server(open_runner(sys.argv[1], "onnx", threads=1), max_batch=4)
print(srv.url, flush=True)
srv.wait()
after = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
print("stopped", "running" if srv.running else "not-running", "restored" if after == before else "changed", flush=True)
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_wait_turns_a_signal_into_a_graceful_stop_and_restores_the_handlers(tmp_path, signame):
    """Ctrl+C or SIGTERM in ``wait()`` only sets a flag (no KeyboardInterrupt inside a join); the old handlers
    come back. Run in a fresh process, as ``workbench serve`` is: a signal sent to the whole test process would
    reach every native library the suite has loaded by then."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    model = tiny_onnx(tmp_path / "wait.onnx")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", WAIT_CHILD, str(model)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        assert httpx.get(url + "/ping", timeout=5).status_code == 200
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.split() == ["stopped", "not-running", "restored"], (out, err)
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/ping", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
