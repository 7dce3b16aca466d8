"""SIGTERM, SIGINT and SIGKILL sent to a real ``workbench deploy`` process in the middle of a create call.

The proxy in front of moto lets ``CreateEndpoint`` reach the service and holds its answer, so the signal
arrives while the process waits for it: the endpoint exists although the call never returned. SIGTERM and
SIGINT roll back like any failure (exit 128 + signal); SIGKILL cannot, and leaves the record that
``--teardown`` uses to remove exactly what was created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.aws_proxy import Rule
from tests.reliability.deploy_common import labels, record, someone_elses
from tests.unit.deploy_helpers import BUCKET, FAKE_KEY_ID, FAKE_SECRET, ROLE, tiny_onnx

ROOT = Path(__file__).resolve().parents[2]


def _workbench(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _deploy_until_held(proxy, tmp_path: Path, name: str) -> subprocess.Popen:
    model = tiny_onnx(tmp_path / "m.onnx")
    proc = _workbench(["deploy", str(model), "--name", name, "--realtime", "--yes", "--role", ROLE, "--bucket",
                       BUCKET, "--endpoint-url", proxy.url, "--poll-interval", "0.01"], tmp_path)
    deadline = time.monotonic() + 180
    while not proxy.held.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"deploy never reached CreateEndpoint (rc {proc.returncode}): {err[-2000:]}")
    return proc


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail(f"deploy did not exit after the signal: {err[-2000:]}")
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_create_rolls_back(direct, proxy, tmp_path, sig):
    someone_elses(direct, endpoint="wb-neighbour")
    theirs = labels(direct)
    proxy.rules.append(Rule("CreateEndpoint", "hold_response"))
    proc = _deploy_until_held(proxy, tmp_path, "wb-sig")
    assert "endpoint wb-sig" in labels(direct)  # created by the service, the answer still held
    proc.send_signal(sig)
    rc, err = _finish(proc)
    proxy.release.set()
    assert rc == 128 + sig, err[-2000:]
    assert f"deploy cancelled by {sig.name} at step endpoint; rolled back: endpoint wb-sig" in err
    assert "Traceback" not in err
    assert labels(direct) == theirs  # everything of ours removed, nothing of theirs
    assert record("wb-sig") is None


def test_sigterm_with_a_rollback_that_cannot_finish_leaves_the_record(direct, proxy, tmp_path):
    someone_elses(direct, endpoint="wb-neighbour")
    theirs = labels(direct)
    proxy.rules += [Rule("CreateEndpoint", "hold_response"), Rule("DeleteModel", "cut_request")]
    proc = _deploy_until_held(proxy, tmp_path, "wb-stuck")
    proc.send_signal(signal.SIGTERM)
    rc, err = _finish(proc)
    proxy.release.set()
    assert rc == 128 + signal.SIGTERM
    assert "could NOT remove model wb-stuck-model" in err and "--teardown wb-stuck" in err
    ours = labels(direct) - theirs
    assert ours == {"model wb-stuck-model"}
    doc = record("wb-stuck")
    assert [r["label"] for r in doc["resources"]] == ["model wb-stuck-model"]
    assert doc["status"] == "rollback incomplete"
    proxy.clear()
    proc = _workbench(["deploy", "--teardown", "wb-stuck", "--endpoint-url", proxy.url], tmp_path)
    rc, err = _finish(proc)
    assert rc == 0, err
    assert labels(direct) == theirs and record("wb-stuck") is None


def test_sigkill_mid_create_leaves_a_record_teardown_uses(direct, proxy, tmp_path):
    someone_elses(direct, endpoint="wb-neighbour")
    theirs = labels(direct)
    proxy.rules.append(Rule("CreateEndpoint", "hold_response"))
    proc = _deploy_until_held(proxy, tmp_path, "wb-killed")
    proc.kill()
    _finish(proc)
    proxy.release.set()
    ours = labels(direct) - theirs
    assert "endpoint wb-killed" in ours and "model wb-killed-model" in ours
    doc = record("wb-killed")
    states = {r["label"]: r["state"] for r in doc["resources"]}
    assert states["endpoint wb-killed"] == "pending" and states["model wb-killed-model"] == "created"
    assert set(states) == ours
    proxy.clear()
    proc = _workbench(["deploy", "--teardown", "wb-killed", "--endpoint-url", proxy.url, "--json"], tmp_path)
    rc, err = _finish(proc)
    assert rc == 0, err
    assert labels(direct) == theirs and record("wb-killed") is None
