"""Replay of a prepared workspace: the model it belongs to, what the banner says, every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engines.errors import WorkbenchError
from engines.fsutil import sha256_file
from tests.replay_fixture import replay_workspace
from workbench import replay

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ONNX = ROOT / "sample_models" / "digits_cnn.onnx"
SAMPLE_PT = ROOT / "sample_models" / "digits_cnn.pt"


def _set_source(ws: Path, source: str) -> None:
    manifest = ws / "manifest.json"
    data = json.loads(manifest.read_text())
    for v in data["variants"]:
        v["recipe"]["source"] = source
    manifest.write_text(json.dumps(data))


def test_banner_says_recorded_when_and_where(tmp_path):
    rep = replay.prepare(replay_workspace(tmp_path / "demo"), SAMPLE_ONNX)
    assert rep.workspace == tmp_path / "demo" and rep.model == SAMPLE_ONNX
    assert rep.variants == 6 and not rep.here
    text = rep.banner()
    assert text == ("RECORDED · replay of demo: 6 variants measured 2026-12-01 10:02–10:07 UTC on Example Xeon, "
                    "2 cores (another machine) · not re-measured")


def test_banner_without_any_record(tmp_path):
    ws = replay_workspace(tmp_path / "demo")
    data = json.loads((ws / "manifest.json").read_text())
    for v in data["variants"]:
        v["metrics"].pop("measured", None)
    (ws / "manifest.json").write_text(json.dumps(data))
    assert "no record of when or where they were measured" in replay.prepare(ws, SAMPLE_ONNX).banner()


def test_this_machine_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr("engines.measure.paired.machine_id", lambda: "fixture0machine")
    rep = replay.prepare(replay_workspace(tmp_path / "demo"), SAMPLE_ONNX)
    assert rep.here and "(this machine)" in rep.banner()


def test_span_of_one_time_and_of_two_days():
    assert replay._span("2026-12-01 10:02:00 UTC", "2026-12-01 10:02:40 UTC") == "2026-12-01 10:02 UTC"
    assert replay._span("2026-12-01 23:50:00 UTC", "2026-12-02 00:10:00 UTC") == "2026-12-01 23:50–2026-12-02 00:10 UTC"


def test_bundled_sample_found_by_its_hash(tmp_path):
    ws = replay_workspace(tmp_path / "demo")
    _set_source(ws, sha256_file(SAMPLE_PT))
    assert replay.prepare(ws).model == SAMPLE_PT


def test_model_of_another_workspace_is_refused(tmp_path):
    ws = replay_workspace(tmp_path / "demo")
    _set_source(ws, sha256_file(SAMPLE_PT))
    with pytest.raises(WorkbenchError, match="was made from another model"):
        replay.prepare(ws, SAMPLE_ONNX)


def test_unknown_model_asks_for_it(tmp_path):
    ws = replay_workspace(tmp_path / "demo")
    _set_source(ws, "0" * 64)
    with pytest.raises(WorkbenchError, match=r"cannot tell which model .* give it, e\.g\. workbench MODEL --replay"):
        replay.prepare(ws)


def _empty(p: Path) -> Path:
    (p / "empty").mkdir()
    return p / "empty"


def _damaged(p: Path) -> Path:
    (p / "bad").mkdir()
    (p / "bad" / "manifest.json").write_text("{not json")
    return p / "bad"


def _a_file(p: Path) -> Path:
    (p / "file.txt").write_text("x")
    return p / "file.txt"


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "nowhere", "no such workspace folder"),
    (_empty, "holds no variants to replay"),
    (_damaged, "unreadable"),
    (_a_file, "no such workspace folder"),
])
def test_bad_workspaces(tmp_path, make, match):
    with pytest.raises(WorkbenchError, match=match):
        replay.prepare(make(tmp_path), SAMPLE_ONNX)


def test_missing_model_file(tmp_path):
    with pytest.raises(WorkbenchError, match="no such file or folder"):
        replay.prepare(replay_workspace(tmp_path / "demo"), tmp_path / "nope.onnx")
