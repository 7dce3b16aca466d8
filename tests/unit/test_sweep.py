"""Batch sweeps on a tiny ONNX model: points per batch, budget, recorder samples, recommendations."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")

from engines.errors import WorkbenchError  # noqa: E402
from engines.measure.sweep import (SweepPoint, SweepResult, available_devices, batch_sweep, best_batch,  # noqa: E402
                           default_batches, preferred_batch_sizes, recommend_batching)
from tests.perf_fixtures import tiny_onnx  # noqa: E402


def test_default_batches():
    assert default_batches(64) == [1, 2, 4, 8, 16, 32, 64]
    assert default_batches(12) == [1, 2, 4, 8, 12]
    assert default_batches(1) == [1]
    with pytest.raises(WorkbenchError):
        default_batches(0)


def test_sweep_measures_each_batch_with_samples(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", in_features=256, out_features=64)
    res = batch_sweep(model, max_batch=8, budget_ms=1000, iterations=20, budget_s_per_point=0.5, threads=1)
    assert [p.batch for p in res.points] == [1, 2, 4, 8]
    for p in res.points:
        lat = p.latency_ms
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
        # the shown figures come from the paired pass: every batch size timed in the same rounds
        assert p.throughput_ips == pytest.approx(p.batch * 1000 / lat["p50"], rel=1e-6)
        assert p.run_metrics["samples"] >= 2 and p.run_metrics["cpu_mean"] is not None   # from the probe
    assert res.best_batch == 8 and res.device == "cpu" and res.threads == 1
    assert res.paired and res.measured["threads"] == 1 and res.measured["when"]
    assert res.points[0].gain is None
    for p in res.points[1:]:   # items/s over batch 1, with its interval over rounds
        g = p.gain
        assert g["vs_batch"] == 1 and g["rounds"] >= 3 and g["interval"][0] <= g["value"] <= g["interval"][1]
        assert g["within_noise"] == (g["interval"][0] <= 1.0 <= g["interval"][1])
    assert any("timed paired" in n for n in res.notes)
    back = SweepResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.point(4).latency_ms == res.point(4).latency_ms


def test_probe_only_sweep_is_marked_unpaired(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", in_features=64, out_features=8)
    res = batch_sweep(model, batches=[1, 4], iterations=10, budget_s_per_point=0.2, threads=1, paired=False)
    assert not res.paired and all(p.gain is None for p in res.points)
    one = batch_sweep(model, batches=[2], iterations=10, budget_s_per_point=0.2, threads=1)
    assert not one.paired and one.points[0].gain is None   # nothing to pair with


def test_best_batch_and_recommendation_from_points():
    pts = [SweepPoint(b, {"p50": 2.0 * b, "p95": 2.2 * b, "p99": 2.5 * b, "mean": 2.0 * b}, 500.0 * (1 + b / 16), 10)
           for b in (1, 2, 4, 8, 16)]
    assert best_batch(pts, 10.0) == 4            # p99 10 ms at batch 4, 20 ms at 8
    assert best_batch(pts, 1.0) is None
    rec = recommend_batching(SweepResult("m", "cpu", 2, pts), budget_ms=50.0)
    # 2 x p99 must fit 80% of 50 ms: batch 8 (2 x 20 = 40) yes, 16 (80) no
    assert rec["max_batch"] == 8 and rec["meets_budget"]
    assert rec["max_delay_ms"] == pytest.approx(10.0)       # budget 50 - 2 x 20, capped at one batch (20)
    assert rec["expected_ms"] <= 50.0
    none = recommend_batching(SweepResult("m", "cpu", 2, pts), budget_ms=3.0)
    assert none["max_batch"] == 1 and not none["meets_budget"] and "batching off" in none["reason"]
    assert preferred_batch_sizes(SweepResult("m", "cpu", 2, pts), 16) == [16]      # 8 gives only 75%
    flat = [SweepPoint(b, p.latency_ms, 1000.0 - (16 - b), 10) for b, p in zip((1, 2, 4, 8, 16), pts)]
    assert preferred_batch_sizes(SweepResult("m", "cpu", 2, flat), 8) == [4, 8]   # the two best within 90%


def test_cuda_is_offered_only_when_present():
    devices = available_devices()
    assert devices[0] == "cpu"
    import onnxruntime as ort
    assert ("cuda" in devices) == ("CUDAExecutionProvider" in ort.get_available_providers())


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(WorkbenchError, match="does not exist"):
        batch_sweep(tmp_path / "nope.onnx")


def test_sweep_cli_json(tmp_path, capsys):
    from workbench.cli import main

    model = tiny_onnx(tmp_path / "m.onnx")
    code = main(["sweep", str(model), "--batches", "1,4", "--iterations", "10", "--seconds", "0.3",
                 "--device", "cpu", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    (sw,) = out["sweeps"]
    assert [p["batch"] for p in sw["points"]] == [1, 4] and sw["budget_ms"] == 20.0
    assert main(["sweep", str(tmp_path / "m.pt")]) == 2      # not a runnable file: one-line error


def test_targets_resolve_files_and_variant_ids(tmp_path):
    import shutil

    from engines.errors import UnsupportedError
    from engines.serving.target import resolve_target, runnable_target
    from engines.workspace import Workspace

    model = tiny_onnx(tmp_path / "src.onnx")
    t = resolve_target(str(model))
    assert (t.path, t.format, t.variant_id) == (model.resolve(), "onnx", None)
    pt = tmp_path / "m.pt"
    pt.write_bytes(b"x")
    with pytest.raises(UnsupportedError, match="cannot be run directly"):
        resolve_target(str(pt))
    with pytest.raises(WorkbenchError, match="--model"):
        resolve_target("abc123")
    ws = Workspace.for_model(model)

    def build(folder):
        shutil.copy(model, folder / "model.onnx")
        return {"file": "model.onnx", "format": "onnx"}

    v = ws.create({"kind": "copy", "src": "x"}, build, name="copy", kind="baseline")
    t = resolve_target(v.id[:6], model=str(model))
    assert t.variant_id == v.id and t.path == ws.model_path(v) and t.path.is_file()
    assert runnable_target(pt, ws, None).variant_id == v.id        # a .pt source: the ONNX variant is served
    assert runnable_target(model, None).path == model
    assert runnable_target(pt, None) is None


def test_recommendation_follows_the_table_not_the_largest_batch():
    """Issue 14: batch 16 264,320 items/s, batch 32 109,803 items/s, and "recommended: max batch 32"."""
    ips = {1: 20000.0, 8: 150000.0, 16: 264320.0, 32: 109803.0}
    pts = [SweepPoint(b, {"p50": 0.1 * b, "p95": 0.1 * b, "p99": 0.12 * b, "mean": 0.1 * b}, ips[b], 10)
           for b in ips]
    rec = recommend_batching(SweepResult("m", "cpu", 2, pts), budget_ms=50.0)
    assert rec["max_batch"] == 16 and "264,320 items/s" in rec["reason"]
