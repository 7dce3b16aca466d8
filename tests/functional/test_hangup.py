"""The real app under a pseudo-terminal quits when the terminal goes away (SIGHUP) or on SIGTERM."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and needle not in seen:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_app_exits_when_its_terminal_hangs_up(sig, tmp_path):
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", str(ROOT / "sample_models" / "digits_cnn.onnx")],
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True)
    os.close(slave)
    try:
        shown = _read_until(master, b"digits_cnn", timeout=60)
        assert b"digits_cnn" in shown, shown[-500:]
        proc.send_signal(sig)
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            _read_until(master, b"\x00", timeout=0.2)  # keep draining so the app never blocks on output
        assert proc.poll() is not None, "the app kept running after its terminal went away"
        assert proc.returncode == 128 + sig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)


def test_app_exits_when_its_terminal_closes_without_a_signal():
    """Not the terminal's session leader (e.g. under `make run`): no SIGHUP arrives, the tty just dies."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color"}
    # a new session without a controlling terminal: closing the master sends this process no signal
    proc = subprocess.Popen([sys.executable, "-m", "workbench", str(ROOT / "sample_models" / "digits_cnn.onnx")],
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True)
    os.close(slave)
    try:
        shown = _read_until(master, b"digits_cnn", timeout=60)
        assert b"digits_cnn" in shown, shown[-500:]
        os.close(master)
        master = -1
        proc.wait(timeout=15)
        assert proc.returncode == 128 + signal.SIGHUP
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if master >= 0:
            os.close(master)
