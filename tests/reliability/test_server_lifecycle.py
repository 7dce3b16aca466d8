"""Stopping and starting the server: SIGTERM drains like Ctrl+C, bad options are one line (issue 12, 10 and 14)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from tests.perf_fixtures import tiny_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

SERVE_SLOW = """
import sys
from engines.serving.app import start_server
from tests.perf_fixtures import SlowRunner
srv = start_server(SlowRunner(delay_s=0.4), batching=False)
print(srv.url, flush=True)
srv.wait()
print("stopped", flush=True)
"""


def test_sigterm_drains_requests_in_flight():
    proc = subprocess.Popen([sys.executable, "-c", SERVE_SLOW], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        results: list = []

        def one() -> None:
            try:
                r = httpx.post(url + "/invocations", json=[[1.0, 1.0, 1.0, 1.0]], timeout=30)
                results.append(r.status_code)
            except httpx.HTTPError as exc:
                results.append(type(exc).__name__)

        ts = [threading.Thread(target=one) for _ in range(4)]   # 4 x 0.4 s one at a time: all queued
        for t in ts:
            t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if httpx.get(url + "/stats", timeout=5).json()["requests"] == 4:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        for t in ts:
            t.join(30)
        assert proc.wait(30) == 0
        assert results == [200] * 4
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_command_stops_cleanly_on_sigterm(tmp_path):
    model = tiny_onnx(tmp_path / "cli.onnx")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", str(model), "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = proc.stdout.readline().split(" at ")[1].split()[0]
        assert httpx.post(url + "/invocations", json=[[0.5] * 16], timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("flag,value", [("--payload-limit-mb", "nan"), ("--payload-limit-mb", "inf"),
                                        ("--max-delay-ms", "inf"), ("--max-delay-ms", "nan"),
                                        ("--max-batch", "0"), ("--threads", "0")])
def test_bad_serve_options_are_one_line_and_exit_2(tmp_path, capsys, flag, value):
    from workbench.cli import main

    model = tiny_onnx(tmp_path / "m.onnx")
    assert main(["serve", str(model), "--port", "0", flag, value]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and flag in err
