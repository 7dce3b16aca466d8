"""Traffic splitting through real boto3 against moto's server: two production variants with weights,
weight shifting, per-variant metrics in monitor, bad weights refused before any call."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engines.deploy.monitor import monitor_endpoint
from engines.deploy.traffic import SplitVariant, check_split_weights, create_split, current_variants, \
    delete_split, shift_weights
from engines.errors import WorkbenchError
from tests.unit.deploy_helpers import ROLE, MotoServer, moto_aws
from workbench.cli import main


@pytest.fixture(scope="module")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch, tmp_path):
    clients, cw = moto_aws(moto_server, monkeypatch, tmp_path)
    for m in ("wb-fp32-model", "wb-int8-model"):
        clients.sagemaker.create_model(ModelName=m, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": f"s3://b/{m}.tar.gz"})
    return clients, cw, moto_server.url


VARIANTS = [SplitVariant("fp32", "wb-fp32-model", 0.9), SplitVariant("int8", "wb-int8-model", 0.1)]


def test_split_shift_and_per_variant_metrics(aws):
    clients, cw, _ = aws
    sm = clients.sagemaker
    out = create_split(sm, "wb-ab", VARIANTS, deploy_id="20260101T000000-abcdef01")
    assert out["shares"] == pytest.approx({"fp32": 0.9, "int8": 0.1})
    cfg = sm.describe_endpoint_config(EndpointConfigName="wb-ab-config")
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in cfg["ProductionVariants"]] == \
        [("fp32", 0.9), ("int8", 0.1)]
    have = current_variants(sm, "wb-ab")
    assert have["fp32"]["weight"] == 0.9 and have["int8"]["count"] == 1

    ch = shift_weights(sm, "wb-ab", {"fp32": 0.5, "int8": 0.5}, {"int8": 2})
    assert ch.before == {"fp32": 0.9, "int8": 0.1} and ch.after == {"fp32": 0.5, "int8": 0.5}
    live = {v["VariantName"]: v for v in sm.describe_endpoint(EndpointName="wb-ab")["ProductionVariants"]}
    assert live["int8"]["CurrentWeight"] == 0.5 and live["int8"]["CurrentInstanceCount"] == 2
    assert live["fp32"]["CurrentInstanceCount"] == 1      # a count not named is kept

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for variant, inv, lat_us in (("fp32", 300, 4000), ("int8", 100, 1500)):
        dims = [{"Name": "EndpointName", "Value": "wb-ab"}, {"Name": "VariantName", "Value": variant}]
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": now - dt.timedelta(minutes=5),
             "Value": inv, "Unit": "Count"},
            {"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": now - dt.timedelta(minutes=5),
             "Value": inv * lat_us, "Unit": "Microseconds"}])
    r = monitor_endpoint("wb-ab", cloudwatch=cw, sagemaker=sm, region="us-east-1", since="1h",
                         now=now + dt.timedelta(seconds=1))
    assert set(r.variants) == {"fp32", "int8"}
    assert r.variants["fp32"]["summary"]["invocations"] == 300
    assert r.variants["int8"]["summary"]["model_latency_ms_mean"] == pytest.approx(1.5)
    assert r.variants["int8"]["traffic_share"] == pytest.approx(0.25) and r.variants["int8"]["share"] == 0.5
    assert r.summary["invocations"] == 400
    assert r.summary["model_latency_ms_mean"] == pytest.approx((300 * 4 + 100 * 1.5) / 400)
    per_cost = r.variants["fp32"]["cost"]["usd"] + r.variants["int8"]["cost"]["usd"]
    assert r.cost.usd == pytest.approx(per_cost) and r.variants["int8"]["cost"]["usd"] > 0

    assert delete_split(sm, "wb-ab") == ["endpoint wb-ab", "endpoint config wb-ab-config"]


@pytest.mark.parametrize("weights, msg", [
    ({"fp32": -0.1, "int8": 1.1}, ">= 0"), ({"fp32": 0, "int8": 0}, "all variant weights are zero"),
    ({"fp32": 0.9, "int8": 0.2}, "sum to 1.1"), ({"fp32": float("inf"), "int8": 1}, "finite"),
    ({"fp32": "x", "int8": 1}, "not a number")])
def test_bad_weights_refused(weights, msg):
    with pytest.raises(WorkbenchError, match=msg):
        check_split_weights(weights)


def test_relative_whole_weights_are_fine():
    assert check_split_weights({"a": 3, "b": 1}) == {"a": 3.0, "b": 1.0}
    assert check_split_weights({"a": 1, "b": 0}) == {"a": 1.0, "b": 0.0}


def test_bad_split_creates_nothing(aws):
    clients, _, _ = aws
    sm = clients.sagemaker
    with pytest.raises(WorkbenchError, match="all variant weights are zero"):
        create_split(sm, "wb-z", [SplitVariant("a", "wb-fp32-model", 0), SplitVariant("b", "wb-int8-model", 0)],
                     deploy_id="x")
    with pytest.raises(WorkbenchError, match="not found: wb-nope-model"):
        create_split(sm, "wb-z", [SplitVariant("a", "wb-fp32-model", 1), SplitVariant("b", "wb-nope-model", 1)],
                     deploy_id="x")
    with pytest.raises(WorkbenchError, match="at least two"):
        create_split(sm, "wb-z", VARIANTS[:1], deploy_id="x")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []
    create_split(sm, "wb-z", VARIANTS, deploy_id="x")
    with pytest.raises(WorkbenchError, match="already exists: endpoint wb-z"):
        create_split(sm, "wb-z", VARIANTS, deploy_id="y")


def test_shift_refuses_bad_weights_and_unknown_variants(aws):
    clients, _, _ = aws
    sm = clients.sagemaker
    create_split(sm, "wb-s", VARIANTS, deploy_id="x")
    with pytest.raises(WorkbenchError, match="no variant bf16"):
        shift_weights(sm, "wb-s", {"bf16": 1})
    with pytest.raises(WorkbenchError, match="all variant weights are zero"):
        shift_weights(sm, "wb-s", {"fp32": 0, "int8": 0})
    with pytest.raises(WorkbenchError, match=">= 0"):
        shift_weights(sm, "wb-s", {"int8": -1})
    with pytest.raises(WorkbenchError, match="no endpoint 'wb-missing'"):
        shift_weights(sm, "wb-missing", {"fp32": 1})
    assert current_variants(sm, "wb-s")["fp32"]["weight"] == 0.9     # nothing changed


def test_delete_leaves_foreign_endpoint(aws):
    clients, _, _ = aws
    sm = clients.sagemaker
    sm.create_endpoint_config(EndpointConfigName="theirs-config", ProductionVariants=[
        {"VariantName": "a", "ModelName": "wb-fp32-model", "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="theirs", EndpointConfigName="theirs-config")
    with pytest.raises(WorkbenchError, match="not created by workbench"):
        delete_split(sm, "theirs")
    assert sm.describe_endpoint(EndpointName="theirs")["EndpointName"] == "theirs"


def test_cli_split_shift_show(aws, capsys):
    _, _, url = aws
    base = ["--endpoint-url", url]
    assert main(["traffic", "split", "wb-cli", "--variant", "fp32=wb-fp32-model:3", "--variant",
                 "int8=wb-int8-model:1", "--dry-run"]) == 0
    assert "create_endpoint_config" in capsys.readouterr().out
    assert main(["traffic", "split", "wb-cli", "--variant", "fp32=wb-fp32-model:3", "--variant",
                 "int8=wb-int8-model:1", *base]) == 0
    assert "fp32 75%" in capsys.readouterr().out
    assert main(["traffic", "shift", "wb-cli", "int8=3", *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shares"] == {"fp32": 0.5, "int8": 0.5}
    assert main(["traffic", "show", "wb-cli", *base]) == 0
    assert "int8: weight 3 (50%)" in capsys.readouterr().out
    assert main(["traffic", "shift", "wb-cli", "int8=-2", *base]) == 2
    assert ">= 0" in capsys.readouterr().err
    assert main(["traffic", "split", "x", "--variant", "a=m:0.9", "--variant", "b=m:0.2", "--dry-run"]) == 2
    assert "sum to 1.1" in capsys.readouterr().err
