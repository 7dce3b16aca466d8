"""Killed runs leave no debris that outlives them; live runs' temp folders are never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engines.workspace import Workspace
from tests.reliability.untrusted_helpers import ROOT


def _start(tmp_path: Path, mode: str = "plain") -> tuple[subprocess.Popen, Path, Path, Path]:
    root, ready, release = tmp_path / "ws", tmp_path / "ready", tmp_path / "release"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.workspace_child", str(root), str(ready),
                             str(release), mode], env=env, cwd=str(ROOT), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"child did not start building: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    return proc, root, ready, release


def _parts(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "variants").glob(".*.part*"))


def test_sigkill_leftovers_are_removed_on_next_open(tmp_path):
    proc, root, _, _ = _start(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _parts(root), "the killed build should have left its temp folder (the case being tested)"
    ws = Workspace(root)
    assert _parts(root) == [] and ws.variants() == []


def test_a_live_build_is_not_cleaned_by_another_process(tmp_path):
    proc, root, _, release = _start(tmp_path)
    try:
        before = _parts(root)
        Workspace(root)  # another process opening the same workspace meanwhile
        assert _parts(root) == before and before
    finally:
        release.write_text("go")
        assert proc.wait(timeout=60) == 0
    ws = Workspace(root)
    assert [v.name for v in ws.variants()] == ["slow"]
    assert (ws.model_path(ws.variants()[0])).read_bytes() == b"done"
    assert _parts(root) == []


def test_sigterm_is_a_cancel_that_leaves_nothing(tmp_path):
    proc, root, _, _ = _start(tmp_path, mode="cli")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    err = [line for line in proc.stderr.read().splitlines() if line.strip()]
    assert len(err) == 1 and "terminated" in err[0], err
    assert _parts(root) == []  # checked before any later open could clean up


def test_old_style_parts_are_removed_and_other_files_kept(tmp_path):
    root = tmp_path / "ws"
    variants = root / "variants"
    (variants / ".0123456789abcdef.k2j4h5.part").mkdir(parents=True)
    (variants / ".0123456789abcdef.k2j4h5.part" / "model.onnx").write_bytes(b"")
    (variants / ".notes.part").mkdir()
    (variants / "mine.txt").write_text("user file")
    (root / ".manifest.json.abc123.json.part").write_text("{")
    Workspace(root)
    assert sorted(p.name for p in variants.iterdir()) == [".notes.part", "mine.txt"]
    assert not list(root.glob(".manifest.json.*.part"))
