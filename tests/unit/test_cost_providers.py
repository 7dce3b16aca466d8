"""GCP catalog, on-prem cost, the cross-provider comparison and serverless memory right-sizing."""

from __future__ import annotations

import json
import shutil

import pytest

from engines.cost.gcp import BUNDLED_GCP, load_gcp_catalog
from engines.cost.onprem import OnPremSpec, onprem_cost
from engines.cost.prices import load_catalog
from engines.cost.providers import compare_providers
from engines.cost.rightsize import fit_memory, rightsize_serverless
from engines.errors import WorkbenchError
from tests.unit.deploy_helpers import tiny_onnx
from workbench.cli import main

MB = 1024 * 1024


def test_gcp_catalog_every_price_sourced_dated_and_unverified():
    data = json.loads(BUNDLED_GCP.read_text())
    cat = load_gcp_catalog()
    assert {"n2-standard-4", "g2-standard-4", "a2-highgpu-1g"} <= set(cat.machines())
    for e in data["entries"]:
        assert e["source"] in data["sources"] and e["as_of"] and e["verified"] is False
    q = cat.hourly("n2-standard-4")
    assert q.usd == 0.194 and q.label == "unverified" and "(unverified)" in q.basis
    assert cat.default_machine("cuda:0 NVIDIA L4") == "g2-standard-4" and cat.default_machine("cpu") == "n2-standard-4"


def test_gcp_unknown_or_unpriced_machine_is_one_line():
    cat = load_gcp_catalog()
    with pytest.raises(WorkbenchError, match="not in the GCP catalog"):
        cat.hourly("n2-standard-999")
    with pytest.raises(WorkbenchError, match="has no price"):
        cat.hourly("a3-highgpu-1g")


def test_user_gcp_catalog_replaces_bundled(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    data = json.loads(BUNDLED_GCP.read_text())
    data["entries"][0]["usd"] = 0.25
    (tmp_path / "prices_gcp.json").write_text(json.dumps(data))
    assert load_gcp_catalog().hourly("n2-standard-4").usd == 0.25


def test_onprem_by_hand():
    spec = OnPremSpec(capex_usd=8760.0, years=1.0, watts=500.0, kwh_usd=0.2, pue=1.5, utilization=0.5)
    assert spec.hardware_per_hour == pytest.approx(1.0) and spec.power_per_hour == pytest.approx(0.15)
    c = onprem_cost(spec, ips=100.0)
    # 1.15 USD/h / (100/s x 0.5 x 3600 s) x 1e6
    assert c["cost_per_1m"] == pytest.approx(1.15 / (50 * 3600) * 1e6)


@pytest.mark.parametrize("kw", [{"capex_usd": 0}, {"capex_usd": -5}, {"years": 0}, {"watts": -1},
                                {"kwh_usd": 0}, {"pue": 0.9}, {"utilization": 0}, {"utilization": 1.5}])
def test_onprem_bad_figures(kw):
    base = dict(capex_usd=1000.0, years=3.0, watts=200.0, kwh_usd=0.1, pue=1.4, utilization=0.5)
    with pytest.raises(WorkbenchError):
        OnPremSpec(**{**base, **kw})


def _report(ips=1000.0):
    from engines.cost.model import TrafficProfile, instance_row, serverless_estimate, throughput_bases
    from tests.unit.deploy_helpers import measured

    cat = load_catalog()
    prof = TrafficProfile(5.0, 50.0)
    m = measured(ips=ips, latency_ms=2.0)
    rows = [instance_row(cat, b, prof) for b in throughput_bases(m, cat)]
    sl = serverless_estimate(cat, 2.0, 2048, 300, 100, prof)
    return {"profile": {"avg_rps": 5.0, "peak_rps": 50.0, "hours_per_day": 24.0, "days": 30.0},
            "measured": m.to_dict(), "instances": rows, "serverless": sl}


def test_same_throughput_across_providers():
    rep = _report()
    spec = OnPremSpec(3000.0, 3.0, 150.0, 0.15, 1.5, 1.0)
    out = compare_providers(rep, "all", onprem=spec)
    by = {r["provider"]: r for r in out["rows"]}
    assert set(by) == {"aws", "gcp", "onprem"} and all(r["ips"] == 1000.0 for r in out["rows"])
    assert by["gcp"]["cost_per_1m"] == pytest.approx(0.194 / 3600 / 1000 * 1e6)
    assert by["aws"]["cost_per_1m"] == pytest.approx(rep["instances"][0]["cost_per_1m"])
    per_req = rep["serverless"]["per_request"]
    assert by["gcp"]["break_even_rps"] == pytest.approx(0.194 * 720 / (per_req * 30 * 86400))
    assert out["cheapest"] == min(out["rows"], key=lambda r: r["cost_per_1m"])["item"]
    with pytest.raises(WorkbenchError, match="not in the GCP catalog"):
        compare_providers(rep, "gcp", gcp_machines=["e2-nope"])


def test_rightsize_memory():
    assert fit_memory(100 * MB) == 1024 and fit_memory(900 * MB) == 2048 and fit_memory(5000 * MB) is None
    cat = load_catalog()
    fit = rightsize_serverless(6144, 120 * MB, 150 * 1024, catalog=cat, billed_ms=3)
    assert fit.fit_mb == 1024 and fit.warning.startswith("6144 MB for a 150 KB model") and "1024 MB fits" in fit.warning
    assert fit.saving_per_1m == pytest.approx((cat.serverless_rate(6144).usd - cat.serverless_rate(1024).usd)
                                              * 0.003 * 1e6)
    assert rightsize_serverless(1024, 120 * MB).warning is None
    assert "too small" in rightsize_serverless(1024, 1500 * MB).warning
    assert rightsize_serverless(2048, None).fit_mb is None
    with pytest.raises(WorkbenchError):
        rightsize_serverless(1500, 100 * MB)


def _variant(tmp_path):
    from engines.workspace import Workspace

    model = tiny_onnx(tmp_path / "tiny.onnx")
    ws = Workspace(tmp_path / "ws")

    def build(folder):
        shutil.copy(model, folder / "model.onnx")
        return {"file": "model.onnx", "format": "onnx",
                "metrics": {"latency_ms": {"p50": 2.0, "mean": 2.0, "p99": 3.0}, "throughput": {"batch": 1, "ips": 500.0},
                            "threads": 2, "device": "cpu", "run_metrics": {"samples": 4, "rss_peak": 200 * MB}}}

    return ws, ws.create({"r": 1}, build, name="fp32", kind="baseline")


def test_cli_cost_providers_and_rightsize(tmp_path, capsys):
    ws, v = _variant(tmp_path)
    base = ["cost", v.id[:6], "--workspace", str(ws.root), "--no-measure", "--memory", "6144"]
    assert main(base + ["--provider", "all", "--onprem-capex", "3000", "--onprem-watts", "150",
                        "--kwh-price", "0.15", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["provider"] for r in doc["providers"]["rows"]} == {"aws", "gcp", "onprem"}
    assert doc["rightsize"]["fit_mb"] == 1024 and "1024 MB fits" in doc["rightsize"]["warning"]
    assert main(base + ["--provider", "gcp"]) == 0
    out = capsys.readouterr().out
    assert "n2-standard-4" in out and "unverified" in out and "WARNING memory: 6144 MB" in out


@pytest.mark.parametrize("extra, msg", [
    (["--provider", "gcp", "--gcp-machine", "n9-huge"], "not in the GCP catalog"),
    (["--provider", "onprem", "--onprem-capex", "-1", "--onprem-watts", "100", "--kwh-price", "0.1"],
     "--onprem-capex must be a positive number"),
    (["--provider", "onprem", "--onprem-capex", "1000", "--onprem-watts", "0", "--kwh-price", "0.1"],
     "--onprem-watts must be a positive number"),
    (["--provider", "onprem"], "needs --onprem-capex"),
])
def test_cli_bad_provider_input(tmp_path, capsys, extra, msg):
    ws, v = _variant(tmp_path)
    assert main(["cost", v.id[:6], "--workspace", str(ws.root), "--no-measure"] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and msg in err


def test_measured_figures_carry_peak_rss_to_rightsizing(tmp_path):
    from engines.cost.rightsize import rightsize_target
    from engines.measure.figures import _from_metrics, resolve_target

    m = _from_metrics({"latency_ms": {"mean": 1.0}, "throughput": {"ips": 10.0},
                       "run_metrics": {"rss_peak": 300 * MB}}, "measured now")
    assert m.to_dict()["rss_peak"] == 300 * MB
    target = resolve_target(str(tiny_onnx(tmp_path / "t.onnx")))   # a plain file: no stored metrics
    fit = rightsize_target(target, 4096, rss_peak=m.to_dict()["rss_peak"])
    assert fit.fit_mb == 1024 and fit.model_bytes == (tmp_path / "t.onnx").stat().st_size
