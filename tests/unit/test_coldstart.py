"""Cold start of the exact package, measured in a fresh process; provisioned-concurrency advice from it."""

from __future__ import annotations

import json
import tarfile

import pytest

from engines.cost.prices import load_catalog
from engines.deploy.coldstart import measure_cold_start, provisioned_advice
from engines.deploy.package import build_package
from engines.deploy.prepare import example_request
from engines.errors import WorkbenchError
from engines.measure.figures import resolve_target
from tests.unit.deploy_helpers import tiny_onnx
from workbench.cli import main


@pytest.fixture
def package(tmp_path):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    pkg = build_package(model, tmp_path / "pkg" / "model.tar.gz")
    return pkg.path, example_request(resolve_target(str(model)), "application/json")


def test_cold_start_times_are_ordered_and_the_child_cleans_up(package, tmp_path, monkeypatch):
    archive, body = package
    tmp = tmp_path / "childtmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))    # the child unpacks here; SIGTERM must remove it
    cold = measure_cold_start(archive, body, runs=2)
    assert cold.runs == 2 and len(cold.ping_ms) == 2
    for p, f in zip(cold.ping_ms, cold.first_ms):
        assert 0 < p <= f
    assert all(w > 0 for w in cold.warm_ms)
    assert cold.first_ms_median >= cold.ping_ms_median
    assert "fresh" not in cold.line() and "first inference after" in cold.line()
    assert list(tmp.glob("wb-sm-model-*")) == []


def test_missing_or_broken_package_is_one_line(tmp_path, package):
    with pytest.raises(WorkbenchError, match="does not exist"):
        measure_cold_start(tmp_path / "nope.tar.gz", b"{}")
    archive, body = package
    with pytest.raises(WorkbenchError, match="runs must be >= 1"):
        measure_cold_start(archive, body, runs=0)
    broken = tmp_path / "broken.tar.gz"
    src = tmp_path / "code"
    src.mkdir()
    (src / "inference.py").write_text("raise RuntimeError('boom at import')\n")
    with tarfile.open(broken, "w:gz") as tar:
        tar.add(src / "inference.py", arcname="code/inference.py")
    with pytest.raises(WorkbenchError, match="exited with .* before /ping answered: RuntimeError: boom at import"):
        measure_cold_start(broken, body, timeout_s=60)


def test_provisioned_advice_is_priced_from_the_catalog():
    cat = load_catalog()
    cold = {"first_ms_median": 900.0, "warm_ms_median": 2.0}
    adv = provisioned_advice(cold, cat, memory_mb=2048, peak_rps=50, latency_ms=30, active_seconds=3600 * 24 * 30)
    assert adv["provisioned"] == 2                                   # ceil(50 x 0.030)
    rate = cat.provisioned_rate().usd
    assert adv["monthly"] == pytest.approx(2 * 2.0 * 3600 * 24 * 30 * rate)
    assert adv["cold_penalty_ms"] == pytest.approx(898.0) and "unverified" in adv["text"] + adv["label"]
    capped = provisioned_advice(cold, cat, memory_mb=1024, peak_rps=1e6, latency_ms=30, active_seconds=1,
                                max_concurrency=5)
    assert capped["provisioned"] == 5


def test_deploy_local_reports_cold_start(tmp_path, capsys):
    model = tiny_onnx(tmp_path / "m.onnx")
    assert main(["deploy", str(model), "--local", "--json", "--cold-start", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    cs = doc["cold_start"]
    assert cs["runs"] == 1 and cs["first_ms_median"] >= cs["ping_ms_median"] > 0
    assert cs["advice"]["provisioned"] >= 1 and "cold request" in cs["advice"]["text"]
    assert main(["deploy", str(model), "--local", "--cold-start", "1"]) == 0
    assert "cold start (local, median of 1)" in capsys.readouterr().out


def test_cold_start_stored_with_plan_and_record(tmp_path, monkeypatch):
    from engines.cost.model import TrafficProfile
    from engines.deploy.aws import make_clients, make_session
    from engines.deploy.coldstart import attach_cold_start
    from engines.deploy.prepare import prepare
    from engines.deploy.sagemaker_ops import deploy
    from engines.deploy.spec import DeploySpec
    from tests.unit.deploy_helpers import BUCKET, ROLE, MotoServer, fake_credentials, measured

    server = MotoServer()
    try:
        fake_credentials(monkeypatch)
        monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
        clients = make_clients("us-east-1", server.url, session=make_session("us-east-1"))
        clients.s3.create_bucket(Bucket=BUCKET)
        target = resolve_target(str(tiny_onnx(tmp_path / "tiny.onnx")))
        spec = DeploySpec(name="wb-cold", role_arn=ROLE, bucket=BUCKET, endpoint_url=server.url, poll_interval_s=0.01)
        prep = prepare(target, spec, out_dir=tmp_path / "pkg", measured=measured())
        doc = attach_cold_start(prep, target, runs=1, profile=TrafficProfile(1.0, 20.0))
        assert prep.plan.to_dict()["cold_start"]["first_ms_median"] == doc["first_ms_median"]
        assert any(line.startswith("cold start (local") for line in prep.plan.lines())
        assert any(line.startswith("provisioned concurrency:") for line in prep.plan.lines())
        res = deploy(prep.plan, clients, prep.request_body, sleep=lambda s: None)
        rec = json.loads(open(res.record_path).read())
        assert rec["cold_start"]["runs"] == 1 and rec["cold_start"]["advice"]["provisioned"] >= 1
    finally:
        server.stop()
