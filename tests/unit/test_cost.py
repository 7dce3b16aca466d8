"""Cost model: formulas checked by hand, assumptions visible, spot fine-tuning against a simulation."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from engines.cost.model import (TrafficProfile, break_even, cost_per_million, gpu_vs_cpu, instance_row,
                          interruption_rate_from_band, parse_assumptions, serverless_estimate, spot_finetune,
                          throughput_bases)
from engines.errors import WorkbenchError
from engines.cost.prices import load_catalog
from tests.unit.deploy_helpers import measured, tiny_onnx


@pytest.fixture
def cat():
    return load_catalog()


def test_parse_assumptions():
    assert parse_assumptions(["c7i.xlarge=1200", " g5.xlarge = 9000.5"]) == {"c7i.xlarge": 1200.0, "g5.xlarge": 9000.5}
    for bad in ("c7i.xlarge", "c7i.xlarge=fast", "=100", "c7i.xlarge=-5", "c7i.xlarge=nan"):
        with pytest.raises(WorkbenchError, match="INSTANCE=INFERENCES_PER_S"):
            parse_assumptions([bad])


def test_cost_per_million_by_hand():
    assert cost_per_million(0.36, 100.0) == pytest.approx(1.0)
    with pytest.raises(WorkbenchError):
        cost_per_million(0.36, 0)


def test_traffic_profile_validation():
    assert TrafficProfile(2, 10, 12, 30).requests == 2 * 3600 * 12 * 30
    for args in ((5, 1), (1, 2, 25), (1, 2, 0), (-1, 2)):
        with pytest.raises(WorkbenchError):
            TrafficProfile(*args)


def test_bases_measured_host_and_user_assumptions(cat):
    m = measured(ips=2000.0)
    bases = throughput_bases(m, cat, {"g4dn.xlarge": 15000.0})
    assert [(b.instance, b.ips, b.label) for b in bases] == [("c7i.xlarge", 2000.0, "measured"),
                                                            ("g4dn.xlarge", 15000.0, "estimate")]
    assert "assumption: measured on 2 thread(s) of this machine's" in bases[0].note and "~ c7i.xlarge" in bases[0].note
    assert "assumption (yours)" in bases[1].note
    host = throughput_bases(m, cat, host="m7i.xlarge")[0]
    assert host.instance == "m7i.xlarge" and "(yours)" in host.note
    # a user figure for the host instance replaces the measured one (never both)
    assert [b.kind for b in throughput_bases(m, cat, {"c7i.xlarge": 10.0})] == ["assumption"]
    with pytest.raises(WorkbenchError, match="no price for instance"):
        throughput_bases(m, cat, {"z1.mega": 5.0})


def test_gpu_benchmark_priced_on_the_matching_instance(cat):
    t4 = throughput_bases(measured(ips=8000.0, device="cuda:0 (Tesla T4)"), cat)[0]
    assert (t4.instance, t4.ips) == ("g4dn.xlarge", 8000.0)
    h100 = throughput_bases(measured(ips=50000.0, device="cuda:0 (NVIDIA H100 80GB HBM3)"), cat)[0]
    assert (h100.instance, h100.ips) == ("p5.48xlarge", 400000.0) and "one replica per GPU (x8)" in h100.note
    with pytest.raises(WorkbenchError, match="no catalog instance for the GPU"):
        throughput_bases(measured(device="cuda:0 (GeForce GTX 1080)"), cat)


def test_instance_row_by_hand(cat):
    basis = throughput_bases(measured(ips=100.0), cat)[0]
    row = instance_row(cat, basis, TrafficProfile(50, 250, 24, 30))
    assert row["instances_for_peak"] == 3
    assert row["monthly_always_on"] == pytest.approx(3 * 0.1785 * 24 * 30)
    assert row["cost_per_1m"] == pytest.approx(0.1785 / (100 * 3600) * 1e6)
    assert row["spot_label"] == "derived" and row["monthly_spot"] == pytest.approx(3 * 0.1785 * 0.39 * 720)
    assert row["utilization_avg"] == pytest.approx(50 / 300)


def test_serverless_estimate_by_hand(cat):
    est = serverless_estimate(cat, 12.3, 2048, 1000, 200, TrafficProfile(1, 500, 24, 30), provisioned=2,
                              max_concurrency=5)
    reqs = 2_592_000
    assert est["billed_ms"] == 13 and est["requests_per_month"] == reqs
    assert est["compute_monthly"] == pytest.approx(reqs * 0.013 * 0.00004)
    assert est["data_monthly"] == pytest.approx(reqs * 1200 / 1e9 * 0.016)
    assert est["provisioned_monthly"] == pytest.approx(2 * 2 * 2_592_000 * 0.0000048)
    assert est["monthly"] == pytest.approx(est["compute_monthly"] + est["data_monthly"] + est["provisioned_monthly"])
    assert est["throttled_at_peak"] and est["peak_concurrency"] == pytest.approx(6.15)
    assert est["label"] == "includes unverified rates"  # provisioned concurrency has no checked rate
    plain = serverless_estimate(cat, 12.3, 2048, 1000, 200, TrafficProfile(1, 2))
    assert plain["label"] == "verified rates" and plain["provisioned_monthly"] == 0
    with pytest.raises(WorkbenchError):
        serverless_estimate(cat, 0.0, 2048, 1, 1, TrafficProfile(1, 1))


def test_break_even_series_crosses_where_computed(cat):
    profile = TrafficProfile(10, 10, 24, 30)
    row = instance_row(cat, throughput_bases(measured(ips=1000.0), cat)[0], profile)
    sls = serverless_estimate(cat, 20.0, 2048, 1000, 100, profile)
    be = break_even(cat, sls, row, profile, points=50)
    x = be["break_even_rps"]
    assert x == pytest.approx(0.1785 * 720 / (sls["per_request"] * 3600 * 24 * 30))
    per_rps = sls["per_request"] * 3600 * 24 * 30
    assert x * per_rps == pytest.approx(0.1785 * 720)
    i = next(k for k, r in enumerate(be["rps"]) if r > x)
    assert be["serverless"][i - 1] <= be["instance"][i - 1] and be["serverless"][i] > be["instance"][i]
    assert all(s < o for s, o in zip(be["spot"], be["instance"]))
    assert len(be["rps"]) == 50 and be["rps"][0] == 0


def test_gpu_vs_cpu(cat):
    profile = TrafficProfile(1, 1)
    cpu_only = [instance_row(cat, b, profile) for b in throughput_bases(measured(ips=1000.0), cat)]
    out = gpu_vs_cpu(cpu_only)
    assert out["missing"] == ["gpu"] and "--assume-throughput" in out["hint"]
    rows = [instance_row(cat, b, profile) for b in throughput_bases(measured(ips=1000.0), cat, {"g4dn.xlarge": 9000})]
    out = gpu_vs_cpu(rows)
    cpu, gpu = 0.1785 / 1000, 0.526 / 9000
    assert out["cheaper"] == "gpu" and out["ratio"] == pytest.approx(cpu / gpu)


def test_spot_finetune_without_interruptions_costs_only_checkpoints(cat):
    out = spot_finetune(cat, "g5.xlarge", 10.0, interruption_rate=0.0, checkpoint_interval_h=1.0,
                        checkpoint_minutes=1.0)
    assert out["expected_hours"] == pytest.approx(10 + 10 / 60)
    assert out["on_demand_cost"] == pytest.approx(10.06)
    assert out["spot_cost"] == pytest.approx((10 + 10 / 60) * 1.006 * 0.41)
    assert out["rate_note"] == "yours"


def test_spot_finetune_matches_a_simulation(cat):
    rate, tau, ckpt, restart, job = 0.3, 2.0, 0.1, 0.25, 9.0
    out = spot_finetune(cat, "g5.xlarge", job, interruption_rate=rate, checkpoint_interval_h=tau,
                        checkpoint_minutes=ckpt * 60, restart_minutes=restart * 60)
    rng = np.random.default_rng(0)
    segments = [tau + ckpt] * 4 + [1.0]  # 4 full segments with checkpoints, then the last hour
    totals = []
    for _ in range(4000):
        t = 0.0
        for seg in segments:
            while True:
                gap = rng.exponential(1 / rate)
                if gap >= seg:
                    t += seg
                    break
                t += gap + restart
        totals.append(t)
    assert out["expected_hours"] == pytest.approx(np.mean(totals), rel=0.04)
    assert out["extra_hours"] > 0 and out["saving"] > 0


def test_interruption_band_conversion(cat):
    assert interruption_rate_from_band(">20%") == pytest.approx(-math.log(0.75) / 730)
    assert interruption_rate_from_band("<5%") == pytest.approx(-math.log(0.975) / 730)
    out = spot_finetune(cat, "c7g.xlarge", 5.0)
    assert "band <5%" in out["rate_note"]
    with pytest.raises(WorkbenchError, match="no spot saving"):
        spot_finetune(cat, "ml.c5.xlarge", 5.0)


def test_project_costs_on_a_real_model_and_stored_variant(tmp_path):
    from engines.cost.report import CostOptions, project_costs
    from engines.measure.figures import resolve_target
    from engines.workspace import Workspace

    model = tiny_onnx(tmp_path / "tiny.onnx")
    report = project_costs(resolve_target(str(model)), CostOptions(avg_rps=2, peak_rps=20))
    m = report["measured"]
    assert m["source"] == "measured now" and m["ips"] > 0 and m["latency_ms"]["p50"] > 0
    assert report["instances"][0]["label"] == "measured" and report["serverless"]["request_bytes"] > 256
    assert report["break_even"]["rps"] and report["catalog"]["as_of"] == "2026-07-20"

    ws = Workspace(tmp_path / "ws")

    def build(folder):
        shutil.copy(model, folder / "model.onnx")
        return {"file": "model.onnx", "format": "onnx",
                "metrics": {"latency_ms": {"p50": 4.0, "mean": 5.0, "p99": 9.0}, "throughput": {"batch": 8, "ips": 640.0},
                            "threads": 2, "device": "cpu"}}

    v = ws.create({"r": 1}, build, name="int8", kind="quantized")
    target = resolve_target(v.id[:6], workspace=ws.root)
    rep = project_costs(target, CostOptions(avg_rps=1, peak_rps=5), allow_measure=False)
    assert rep["measured"]["source"] == "variant benchmark" and rep["instances"][0]["ips"] == 640.0
    assert rep["serverless"]["billed_ms"] == 5
    assert "batch-1 calls: 200.0/s" in rep["instances"][0]["note"]


def test_cli_cost_json_and_bad_input(tmp_path, capsys):
    from workbench.cli import main

    model = tiny_onnx(tmp_path / "tiny.onnx")
    assert main(["cost", str(model), "--rps", "5", "--peak-rps", "50", "--hours", "24", "--memory", "2048",
                 "--assume-throughput", "g4dn.xlarge=20000", "--finetune-hours", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["instance"] for r in doc["instances"]] == ["c7i.xlarge", "g4dn.xlarge"]
    assert doc["instances"][1]["label"] == "estimate" and doc["gpu_vs_cpu"]["missing"] == []
    assert doc["spot_finetune"]["instance"] == "g5.xlarge" and doc["profile"]["requests_per_month"] == 5 * 3600 * 24 * 30
    assert main(["cost", str(model), "--assume-throughput", "c7i.xlarge"]) == 2
    assert "INSTANCE=INFERENCES_PER_S" in capsys.readouterr().err
    assert main(["cost", str(model), "--rps", "9", "--peak-rps", "3"]) == 2
    assert main(["cost", str(model), "--no-measure"]) == 2
    assert "has no benchmark yet" in capsys.readouterr().err
