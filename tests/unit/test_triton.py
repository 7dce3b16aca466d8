"""Triton repository export: layout, config.pbtxt fields taken from a sweep."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("onnx")

from engines.errors import UnsupportedError  # noqa: E402
from engines.models.model_info import TensorSpec  # noqa: E402
from engines.measure.sweep import SweepPoint, SweepResult  # noqa: E402
from engines.serving.triton import config_pbtxt, export_triton_repo  # noqa: E402
from tests.perf_fixtures import tiny_onnx  # noqa: E402


def _pbtxt_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_config_text():
    text = config_pbtxt("m", [TensorSpec("x", ("N", 3, 224, -1), "float32")], [TensorSpec("y", ("N", 10), "int64")],
                        max_batch_size=16, preferred_batch_sizes=[8, 16, 99], max_queue_delay_us=2500)
    assert _pbtxt_balanced(text)
    assert 'name: "m"' in text and 'backend: "onnxruntime"' in text and "max_batch_size: 16" in text
    assert "dims: [ 3, 224, -1 ]" in text and "TYPE_FP32" in text and "TYPE_INT64" in text
    assert "preferred_batch_size: [ 8, 16 ]" in text            # 99 > max is dropped
    assert "max_queue_delay_microseconds: 2500" in text and "kind: KIND_CPU" in text
    fixed = config_pbtxt("m", [TensorSpec("x", (1, 4), "float32")], [TensorSpec("y", (1, 2), "float32")],
                         max_batch_size=0)
    assert "dynamic_batching" not in fixed and "dims: [ 1, 4 ]" in fixed


def test_export_from_sweep(tmp_path):
    model = tiny_onnx(tmp_path / "tiny net.onnx")
    pts = [SweepPoint(b, {"p50": 1.0 * b, "p95": 1.1 * b, "p99": 1.2 * b, "mean": 1.0 * b}, 900.0 * b ** 0.5, 10)
           for b in (1, 2, 4, 8, 16)]
    out = export_triton_repo(model, tmp_path / "repo", sweep=SweepResult(str(model), "cpu", 2, pts), budget_ms=20)
    root = tmp_path / "repo" / "tiny_net"
    assert out["name"] == "tiny_net" and (root / "1" / "model.onnx").read_bytes() == model.read_bytes()
    text = (root / "config.pbtxt").read_text()
    assert _pbtxt_balanced(text)
    # 2 x 1.2 x b <= 16 -> b = 4 (8 would need 19.2); delay = min(20 - 9.6, 4.8) = 4.8 ms
    assert out["max_batch_size"] == 4 and "max_batch_size: 4" in text
    assert out["max_queue_delay_microseconds"] == 4800 and "max_queue_delay_microseconds: 4800" in text
    prefs = re.search(r"preferred_batch_size: \[ ([\d, ]+) \]", text).group(1)
    assert [int(x) for x in prefs.split(",")] == out["preferred_batch_size"] and max(out["preferred_batch_size"]) <= 4
    assert "dims: [ 16 ]" in text and "dims: [ 4 ]" in text
    assert not list((tmp_path / "repo").glob(".*part"))          # written atomically


def test_only_onnx(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"x")
    with pytest.raises(UnsupportedError):
        export_triton_repo(f, tmp_path / "repo")
