"""The cost report with a served figure (labelled beside the model-only one) and vCPU/GPU right-sizing lines."""

from __future__ import annotations

import json
import shutil

import pytest

from engines.cost.report import CostOptions, project_costs
from engines.cost.served import ServedFigure, record_served
from engines.measure.figures import resolve_target
from engines.workspace import Workspace
from tests.unit.deploy_helpers import tiny_onnx

METRICS = {"latency_ms": {"p50": 0.4, "mean": 0.5, "p99": 0.9}, "latency_batch": 1,
           "throughput": {"batch": 32, "ips": 20000.0,
                          "run_metrics": {"samples": 5, "cpu_mean": 95.0, "cores": 2}},
           "run_metrics": {"samples": 8, "cpu_mean": 60.0, "cores": 2, "rss_peak": 90_000_000},
           "threads": 2, "device": "cpu",
           "measured": {"when": "2026-12-02 16:50:00 UTC", "cpu": "Intel Xeon", "threads": 2, "device": "cpu"}}


def variant(tmp_path, metrics=METRICS):
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = tiny_onnx(tmp_path / "tiny.onnx")
    ws = Workspace(tmp_path / "ws")

    def build(folder):
        shutil.copy(model, folder / "model.onnx")
        return {"file": "model.onnx", "format": "onnx", "metrics": json.loads(json.dumps(metrics))}

    v = ws.create({"r": 1}, build, name="int8", kind="quantized")
    return ws, v


def test_served_rows_are_labelled_and_drive_the_break_even(tmp_path):
    ws, v = variant(tmp_path)
    record_served(ws, v.id, {"on": ServedFigure(1500.0, 1, 32, True, 4.0, 12.0, 0, "2026-12-02 17:00 UTC",
                                                "batching comparison")})
    rep = project_costs(resolve_target(v.id, workspace=ws.root), CostOptions(avg_rps=5, peak_rps=50),
                        allow_measure=False)
    labels = [(r["instance"], r["label"], r["ips"]) for r in rep["instances"]]
    assert labels == [("c7i.xlarge", "measured", 20000.0), ("c7i.xlarge", "served", 1500.0)]
    assert "model only" in rep["instances"][0]["note"] and "reached by the server" in rep["instances"][1]["note"]
    assert rep["break_even"]["instance"][0] == rep["instances"][1]["monthly_always_on"]
    assert rep["served"]["on"]["rps"] == 1500.0


def test_report_right_sizes_the_measured_row_and_the_realtime_instance(tmp_path):
    ws, v = variant(tmp_path)
    rep = project_costs(resolve_target(v.id, workspace=ws.root),
                        CostOptions(avg_rps=5, peak_rps=50, realtime_instance="ml.c5.2xlarge"), allow_measure=False)
    fits = {f["instance"]: f for f in rep["instance_fit"]}
    host, rt = fits["c7i.xlarge"], fits["ml.c5.2xlarge"]
    # batch-32 run: 1.9 busy cores at 20,000/s; 50 req/s -> 0.00475 cores of 4 vCPU
    assert host["status"] == "fits" and "no smaller CPU instance is priced" in host["line"]
    # batch-1 timing: 1.2 busy cores at 2,000/s; 50 req/s -> 0.03 cores of 8 vCPU = 0.4 %
    assert rt["status"] == "oversized" and rt["fit_instance"] == "ml.c5.large" and rt["warning"]
    assert rt["line"].startswith("ml.c5.2xlarge (8 vCPU) at 0.4 % measured CPU use at peak: ml.c5.large (2 vCPU) fits")


def test_cli_prints_the_warning_and_unmeasured_when_no_samples(tmp_path, capsys):
    from workbench.cli import main

    ws, v = variant(tmp_path)
    assert main(["cost", v.id, "--workspace", str(ws.root), "--no-measure", "--realtime-instance",
                 "ml.c5.2xlarge"]) == 0
    out = capsys.readouterr().out
    assert "Right-sizing (measured CPU/GPU use at peak):" in out
    assert "WARNING ml.c5.2xlarge (8 vCPU) at " in out and "ml.c5.large (2 vCPU) fits, saves $" in out
    bare = {k: v for k, v in METRICS.items() if k != "run_metrics"}
    bare["throughput"] = {"batch": 32, "ips": 20000.0}
    ws2, v2 = variant(tmp_path / "b", bare)
    assert main(["cost", v2.id, "--workspace", str(ws2.root), "--no-measure", "--realtime-instance",
                 "ml.g5.xlarge", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    fits = {f["instance"]: f for f in doc["instance_fit"]}
    assert fits["c7i.xlarge"]["status"] == "unmeasured" and fits["c7i.xlarge"]["fit_instance"] is None
    assert fits["ml.g5.xlarge"]["status"] == "unverified" and not fits["ml.g5.xlarge"]["verified"]


def test_wiring_prices_and_stores_the_sessions_server_run(tmp_path):
    from workbench.wiring.cost import compute_cost, served_for

    ws, v = variant(tmp_path)
    target = resolve_target(v.id, workspace=ws.root)
    level = {"level": 8, "ok": 400, "throughput_rps": 900.0, "rows_per_request": 1, "errors": {},
             "latency_ms": {"p50": 8.0, "p99": 20.0}}
    comparison = {"model": str(target.path), "threads": 2, "on": [level], "off": [dict(level, throughput_rps=400.0)]}
    rep = compute_cost(target, {"avg_rps": 5, "peak_rps": 50, "hours_per_day": 24}, comparison=comparison)
    assert sorted(r["ips"] for r in rep["instances"] if r["label"] == "served") == [400.0, 900.0]
    assert Workspace(ws.root).get(v.id).metrics["served"]["off"]["rps"] == 400.0      # found later by `workbench cost`/deploy
    assert served_for(target, comparison).rps == 400.0 and not served_for(target, comparison).batching
    assert served_for(target, dict(comparison, model=str(tmp_path / "other.onnx"))) is None


def test_the_batching_comparison_stores_what_the_server_reached_in_the_variant(tmp_path):
    """The Batching area's on/off run of a variant is kept in it, so `workbench cost` prices it later."""
    from workbench.wiring.batching import compare

    ws, v = variant(tmp_path)
    target = resolve_target(v.id, workspace=ws.root)
    done = compare(str(target.path), record_in=target, levels=[1, 2], requests_per_level=12,
                   duration_s_per_level=5.0, max_batch=2, max_delay_ms=1.0)
    served = Workspace(ws.root).get(v.id).metrics["served"]
    assert set(served) == {"on", "off"}
    best_off = max(r["throughput_rps"] for r in done.result["off"])
    assert served["off"]["rps"] == pytest.approx(best_off) and served["on"]["batching"] is True
