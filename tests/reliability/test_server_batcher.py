"""The batcher is supervised: model failures, scalar outputs, huge requests and bad options (issue 12, 8 and 12)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from engines.errors import WorkbenchError  # noqa: E402
from engines.measure.runners import open_runner  # noqa: E402
from engines.serving.app import start_server  # noqa: E402
from tests.perf_fixtures import tiny_onnx  # noqa: E402
from tests.reliability.server_helpers import ScriptedRunner, onnx_model, scalar_model  # noqa: E402


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_scalar_output_model_is_served_and_the_server_stays_up(tmp_path):
    runner = open_runner(scalar_model(tmp_path / "sum.onnx"), "onnx", threads=1)
    with start_server(runner, max_batch=8, max_delay_ms=50) as srv:
        r = httpx.post(srv.url + "/invocations", json=[[1.0, 2.0, 3.0, 4.0]], timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == 10.0
        codes, answers = [], []

        def one(k: int) -> None:
            got = httpx.post(srv.url + "/invocations", json=[[float(k)] * 4], timeout=10)
            codes.append(got.status_code)
            if got.status_code == 200:
                answers.append((k, got.json()["predictions"]))

        ts = [threading.Thread(target=one, args=(k,)) for k in range(8)]   # would be merged: must not be
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        assert codes == [200] * 8
        assert all(pred == 4.0 * k for k, pred in answers)
        assert httpx.get(srv.url + "/ping", timeout=5).status_code == 200


def test_failing_batch_gets_500_with_the_reason_and_the_server_keeps_serving():
    with start_server(ScriptedRunner(), max_batch=8, max_delay_ms=2) as srv:
        bad = httpx.post(srv.url + "/invocations", json=[[-1.0, 0.0, 0.0, 0.0]], timeout=10)
        assert bad.status_code == 500 and "boom: negative input" in bad.json()["error"]
        garbage = httpx.post(srv.url + "/invocations", json=[[999.0, 0.0, 0.0, 0.0]], timeout=10)
        assert garbage.status_code == 500 and "error" in garbage.json()
        good = httpx.post(srv.url + "/invocations", json=[[1.0, 2.0, 3.0, 4.0]], timeout=10)
        assert good.status_code == 200 and good.json()["predictions"] == [[10.0]]
        assert httpx.get(srv.url + "/ping", timeout=5).status_code == 200


@pytest.mark.parametrize("kw", [{"max_delay_ms": float("inf")}, {"max_delay_ms": float("nan")},
                                {"max_delay_ms": -1.0}, {"max_batch": 0}, {"max_queue": 0},
                                {"payload_limit": 0}])
def test_bad_numeric_options_are_refused_at_start(kw):
    with pytest.raises(WorkbenchError):
        srv = start_server(ScriptedRunner(), **kw)
        srv.stop()


def test_request_over_max_batch_is_run_in_chunks_of_max_batch(tmp_path):
    runner = open_runner(tiny_onnx(tmp_path / "tiny.onnx"), "onnx", threads=1)
    x = np.random.default_rng(0).standard_normal((10_000, 16)).astype(np.float32)
    with start_server(runner, max_batch=8, max_delay_ms=1) as srv:
        r = httpx.post(srv.url + "/invocations", json=x.tolist(), timeout=60)
        small = httpx.post(srv.url + "/invocations", json=x[:2].tolist(), timeout=10)
        stats = httpx.get(srv.url + "/stats", timeout=5).json()
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["predictions"], np.float32)
    np.testing.assert_allclose(got, runner.run({"x": x})[0], rtol=1e-5, atol=1e-6)
    assert small.status_code == 200
    assert max(int(k) for k in stats["batch_sizes"]) <= 8


def test_request_over_max_batch_is_refused_when_outputs_have_no_batch_axis(tmp_path):
    runner = open_runner(scalar_model(tmp_path / "sum.onnx"), "onnx", threads=1)
    with start_server(runner, max_batch=8) as srv:
        r = httpx.post(srv.url + "/invocations", json=[[1.0] * 4] * 20, timeout=10)
        assert r.status_code == 413 and "at most 8 rows" in r.json()["error"]
        assert httpx.post(srv.url + "/invocations", json=[[1.0] * 4] * 8, timeout=10).status_code == 200


def test_nan_and_infinite_outputs_are_valid_json(tmp_path):
    runner = open_runner(onnx_model(tmp_path / "log.onnx", "Log", out_shape=["N", 4]), "onnx", threads=1)
    with start_server(runner) as srv:
        r = httpx.post(srv.url + "/invocations", json=[[-1.0, 0.0, 1.0, 1.0]], timeout=10)
    assert r.status_code == 200
    assert _strict_json(r.text)["predictions"] == [[None, None, 0.0, 0.0]]


def test_deeply_nested_json_is_a_4xx(tmp_path):
    runner = open_runner(tiny_onnx(tmp_path / "tiny.onnx"), "onnx", threads=1)
    with start_server(runner) as srv:
        for depth in (5_000, 100):
            body = b"[" * depth + b"1" + b"]" * depth
            r = httpx.post(srv.url + "/invocations", content=body, headers={"content-type": "application/json"},
                           timeout=10)
            assert 400 <= r.status_code < 500, (depth, r.status_code, r.text)
        assert httpx.get(srv.url + "/ping", timeout=5).status_code == 200
