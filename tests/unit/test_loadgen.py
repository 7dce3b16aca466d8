"""The load generator against a real local server: bounded, counts errors, open loop counts from due time."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("httpx")

from engines.errors import WorkbenchError  # noqa: E402
from engines.serving.loadgen import concurrency_sweep, example_payload, invocations_url, run_concurrency, run_rate  # noqa: E402
from engines.serving.app import start_server  # noqa: E402
from engines.tasks import TaskContext  # noqa: E402
from tests.perf_fixtures import SlowRunner  # noqa: E402


@pytest.fixture(scope="module")
def fast():
    runner = SlowRunner(delay_s=0.002)
    with start_server(runner, max_batch=8, max_delay_ms=1) as srv:
        yield srv, runner


def test_url_normalisation():
    assert invocations_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/invocations"
    assert invocations_url("http://h/invocations") == "http://h/invocations"
    with pytest.raises(WorkbenchError):
        invocations_url("127.0.0.1:8080")


def test_example_payload_fits_the_model(fast):
    srv, _ = fast
    body, ctype = example_payload(srv.url, batch=3)
    assert ctype == "application/x-npy"
    import io
    arr = np.load(io.BytesIO(body))
    assert arr.shape == (3, 4) and arr.dtype == np.float32


def test_concurrency_sweep_counts_every_request(fast):
    srv, runner = fast
    body, ctype = example_payload(srv.url)
    before = len(runner.calls)
    res = concurrency_sweep(srv.url, body, ctype, [1, 4], requests_per_level=40, duration_s_per_level=10)
    assert [r.level for r in res] == [1, 4]
    for r in res:
        assert r.sent == 40 and r.ok == 40 and r.errors == {}
        assert r.throughput_rps > 0 and 0 < r.latency_ms["p50"] <= r.latency_ms["p95"] <= r.latency_ms["p99"]
    assert len(runner.calls) > before             # the server really ran the model
    json.dumps([r.to_dict() for r in res])


def test_duration_bounds_the_run(fast):
    srv, _ = fast
    body, ctype = example_payload(srv.url)
    r = run_concurrency(srv.url, body, ctype, 2, requests=10**6, duration_s=0.5)
    assert 0 < r.sent < 10**6 and r.ok == r.sent     # stopped by the duration, not the count


def test_errors_are_counted_by_status(fast):
    srv, _ = fast
    r = run_concurrency(srv.url, b"{broken", "application/json", 2, requests=20, duration_s=5)
    assert r.ok == 0 and r.errors == {"400": 20} and r.throughput_rps == 0
    dead = run_concurrency("http://127.0.0.1:9", b"[]", "application/json", 1, requests=3, duration_s=5,
                           timeout_s=1)
    assert dead.ok == 0 and sum(dead.errors.values()) == 3 and "ConnectError" in dead.errors


def test_open_loop_rate_and_latency_from_due_time():
    slow = SlowRunner(delay_s=0.05)                # capacity ~20 req/s with batching off
    with start_server(slow, batching=False) as srv:
        body, ctype = example_payload(srv.url)
        r = run_rate(srv.url, body, ctype, rate=100, requests=40, duration_s=5)
    assert r.mode == "rate" and r.sent == 40 and r.ok == 40
    # offered 100/s against ~20/s capacity: later requests queue, and the wait is counted
    assert r.latency_ms["p99"] > 500
    assert r.throughput_rps < 40


def test_cancel_stops_a_run(fast):
    srv, _ = fast
    body, ctype = example_payload(srv.url)
    task = TaskContext()
    task.cancel()
    from engines.errors import Cancelled
    with pytest.raises(Cancelled):
        run_concurrency(srv.url, body, ctype, 2, requests=1000, duration_s=5, task=task)


def test_loadgen_cli_json(fast, capsys):
    from workbench.cli import main

    srv, _ = fast
    assert main(["loadgen", srv.url, "--concurrency", "1,2", "--requests", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["level"] for r in out["results"]] == [1, 2] and all(r["ok"] == 10 for r in out["results"])
    assert main(["loadgen", srv.url, "--concurrency", "0"]) == 2
