"""The real-time autoscaling target from measured throughput x a margin, shared with the KServe HPA logic."""

from __future__ import annotations

import pytest

from engines.cost.served import ServedFigure, from_comparison, from_metrics
from engines.deploy.capacity import provenance_text, replica_rate, sagemaker_target
from engines.deploy.k8s import capacity
from engines.errors import WorkbenchError
from tests.unit.deploy_helpers import measured


def test_target_is_measured_rate_x_60_x_margin_with_its_source():
    m = measured(latency_ms=1000.0 / 30, ips=30.0)          # 30 req/s at batch 1
    t = sagemaker_target(m, safety=0.7, provenance="2026-12-02 16:50 UTC on Xeon, 2 threads (cpu)")
    assert t.value == 1260.0 and t.source == "model batch-1" and not t.override
    assert t.line.startswith("autoscaling target 1,260 inv/min/instance = 30.0 req/s measured")
    assert "x 60 x 0.7 margin, measured 2026-12-02 16:50 UTC on Xeon" in t.line


def test_override_wins_and_says_what_measured_would_be():
    t = sagemaker_target(measured(latency_ms=1000.0 / 30, ips=30.0), override=500.0)
    assert t.value == 500.0 and t.override and t.source == "yours"
    assert "(yours; measured would be 1,260" in t.line


def test_no_throughput_measured_says_how_to_get_one():
    t = sagemaker_target(None)
    assert t.value is None and t.source == "none"
    assert "no throughput measured" in t.line and "workbench cost VARIANT" in t.line and "--target-invocations" in t.line
    assert sagemaker_target(None, override=90.0).value == 90.0


@pytest.mark.parametrize("safety", [0.0, 1.5, float("nan"), -0.2])
def test_bad_margin_refused(safety):
    with pytest.raises(WorkbenchError, match="safety margin"):
        sagemaker_target(measured(), safety=safety)


@pytest.mark.parametrize("override", [0.0, -5.0, float("inf")])
def test_bad_override_refused(override):
    with pytest.raises(WorkbenchError, match="autoscaling target"):
        sagemaker_target(measured(), override=override)


def test_served_batching_off_beats_the_model_rate_and_batching_on_is_not_used_for_sagemaker():
    m = measured(latency_ms=1.0, ips=1000.0)
    off = ServedFigure(400.0, 1, 8, False, 2.0, 9.0, 0, "2026-12-02 17:00 UTC", "loadgen")
    on = ServedFigure(900.0, 1, 32, True, 5.0, 20.0, 0, "2026-12-02 17:00 UTC", "loadgen")
    t = sagemaker_target(m, served=off)
    assert t.source == "served" and t.value == pytest.approx(400 * 60 * 0.7) and "reached by the server" in t.line
    assert sagemaker_target(m, served=on).source == "model batch-1"


def test_k8s_and_sagemaker_share_the_replica_rate():
    m = measured(latency_ms=2.0, ips=500.0, p99=3.0)
    rate = replica_rate(m, latency_budget_ms=50, batching=True)
    cap = capacity(m, latency_budget_ms=50, peak_rps=1000, safety=0.5)
    assert cap.per_replica_rps == rate.rps == pytest.approx(500.0) and cap.basis == rate.basis
    assert sagemaker_target(m, safety=0.5).per_instance_rps == rate.rps


def test_served_figures_from_a_comparison_and_stored_metrics():
    comp = {"threads": 2, "on": [{"level": 1, "ok": 10, "throughput_rps": 50.0, "rows_per_request": 1,
                                  "latency_ms": {"p50": 1.0, "p99": 2.0}, "errors": {}},
                                 {"level": 8, "ok": 80, "throughput_rps": 120.0, "rows_per_request": 1,
                                  "latency_ms": {"p50": 3.0, "p99": 6.0}, "errors": {"503": 1}}],
            "off": [{"level": 8, "ok": 0, "throughput_rps": 0.0, "rows_per_request": 1, "latency_ms": {},
                     "errors": {"timeout": 8}}]}
    figs = from_comparison(comp)
    assert set(figs) == {"on"} and figs["on"].rps == 120.0 and figs["on"].concurrency == 8 and figs["on"].errors == 1
    back = from_metrics({"served": {k: f.to_dict() for k, f in figs.items()}})
    assert back["on"] == figs["on"]
    assert from_metrics({"served": {"on": {"rps": 0}}}) == {} and from_comparison(None) == {}


def test_provenance_text():
    when = provenance_text({"measured": {"when": "2026-12-02 16:50:12 UTC", "cpu": "Xeon", "threads": 2,
                                         "device": "cpu"}})
    assert when == "2026-12-02 16:50 UTC on Xeon, 2 threads (cpu)"
    assert "time not recorded" in provenance_text({}, measured())
