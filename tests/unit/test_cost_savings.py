"""Combined savings per model from the user's stored figures: baseline -> optimized -> right-sized ->
serverless or spot; cold start shown in cost when measured."""

from __future__ import annotations

import json
import shutil

import pytest

from engines.cost.prices import load_catalog
from engines.cost.report import CostOptions, project_costs
from engines.cost.savings import combined_savings, savings_lines
from engines.errors import WorkbenchError
from engines.measure.figures import resolve_target
from engines.workspace import Workspace
from tests.unit.deploy_helpers import tiny_onnx
from workbench.cli import main


@pytest.fixture
def ws(tmp_path):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    ws = Workspace(tmp_path / "ws")

    def build(ips, mean, rss):
        def b(folder):
            shutil.copy(model, folder / "model.onnx")
            return {"file": "model.onnx", "format": "onnx",
                    "metrics": {"latency_ms": {"p50": mean, "mean": mean, "p99": mean * 2},
                                "throughput": {"batch": 1, "ips": ips}, "threads": 2, "device": "cpu",
                                "run_metrics": {"rss_peak": rss}}}
        return b

    base = ws.create({"r": "base"}, build(100.0, 10.0, 400e6), name="fp32", kind="baseline")
    opt = ws.create({"r": "int8"}, build(400.0, 2.5, 150e6), name="int8", kind="quantized", parent=base.id)
    return ws, base, opt


def test_savings_steps_from_stored_figures(ws):
    w, base, opt = ws
    cat = load_catalog()
    opts = CostOptions(avg_rps=2, peak_rps=1000, memory_mb=6144)
    rb = project_costs(resolve_target(base.id, workspace=w.root), opts, catalog=cat, allow_measure=False)
    ro = project_costs(resolve_target(opt.id, workspace=w.root), opts, catalog=cat, allow_measure=False)
    s = combined_savings(rb, ro, catalog=cat, rightsize={"fit_mb": 1024}).to_dict()
    steps = {st["step"]: st for st in s["steps"]}
    hourly = cat.hourly("c7i.xlarge").usd
    assert steps["baseline"]["monthly"] == pytest.approx(10 * hourly * 720)      # ceil(1000 / 100) instances
    assert steps["optimized"]["monthly"] == pytest.approx(3 * hourly * 720)      # ceil(1000 / 400)
    assert steps["optimized"]["vs_baseline"] == pytest.approx(0.7)
    assert steps["right-sized"]["monthly"] == steps["optimized"]["monthly"]       # no other instance figure
    assert any("--assume-throughput" in n for n in s["notes"])
    assert "1024 MB" in steps["serverless"]["what"]                               # right-sized memory used
    assert steps["serverless"]["monthly"] < steps["right-sized"]["monthly"]       # 2 req/s avg: serverless wins
    assert s["total_saving"] == pytest.approx(1 - steps["serverless"]["monthly"] / steps["baseline"]["monthly"])
    assert "spot" in steps and "interruptible" in steps["spot"]["what"]
    text = "\n".join(savings_lines(s))
    assert "-70%" in text and "combined:" in text

    bad = dict(rb, profile=dict(rb["profile"], avg_rps=3))
    with pytest.raises(WorkbenchError, match="different traffic profiles"):
        combined_savings(bad, ro, catalog=cat)


def test_cli_savings_uses_workspace_baseline(ws, capsys):
    w, base, opt = ws
    assert main(["cost", opt.id, "--workspace", str(w.root), "--savings", "--rps", "2", "--peak-rps", "100",
                 "--assume-throughput", "c7g.xlarge=350", "--no-measure", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    steps = {st["step"]: st for st in doc["savings"]["steps"]}
    assert doc["savings"]["baseline"] == "fp32" and steps["right-sized"]["what"].endswith("c7g.xlarge")
    assert doc["cold_start"] is None
    assert main(["cost", opt.id, "--workspace", str(w.root), "--savings", "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "Combined savings: fp32 -> int8" in out and "Cold start: not measured" in out


def test_cli_savings_without_baseline_is_one_line(tmp_path, capsys):
    model = tiny_onnx(tmp_path / "m.onnx")
    assert main(["cost", str(model), "--savings"]) == 2
    assert "--savings needs a baseline" in capsys.readouterr().err


def test_cost_shows_stored_cold_start(ws, capsys):
    w, _, opt = ws
    w.update_metrics(opt.id, cold_start={"runs": 3, "ping_ms_median": 850.0, "first_ms_median": 870.0,
                                         "warm_ms_median": 2.5, "measured_at": "2026-12-02T03:00:00Z"})
    assert main(["cost", opt.id, "--workspace", str(w.root), "--no-measure", "--peak-rps", "40"]) == 0
    out = capsys.readouterr().out
    assert "Cold start (local, 2026-12-02T03:00:00Z): /ping 200 after 850 ms, first inference after 870 ms" in out
    assert "provisioned concurrency: a cold request waits ~870 ms" in out
