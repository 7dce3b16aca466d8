"""`workbench monitor` against moto's server mode: metric data put through the real CloudWatch API."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engines.cost.prices import load_catalog
from engines.deploy.monitor import monitor_endpoint, parse_since
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
    return moto_aws(moto_server, monkeypatch, tmp_path)


def _endpoint(sm, name, serverless=True):
    sm.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                      "ModelDataUrl": "s3://b/model.tar.gz"})
    variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-model"}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    else:
        variant.update(InstanceType="ml.c5.xlarge", InitialInstanceCount=2)
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def _put(cw, name, when, **values):
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]
    ns = {"CPUUtilization": "/aws/sagemaker/Endpoints", "MemoryUtilization": "/aws/sagemaker/Endpoints"}
    for metric, value in values.items():
        cw.put_metric_data(Namespace=ns.get(metric, "AWS/SageMaker"), MetricData=[
            {"MetricName": metric, "Dimensions": dims, "Timestamp": when, "Value": value,
             "Unit": "Count" if "Invocation" in metric else "Microseconds"}])


def test_serverless_metrics_and_cost_from_usage(aws):
    clients, cw = aws
    _endpoint(clients.sagemaker, "wb-mon")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t = now - dt.timedelta(minutes=10)
    # 1000 invocations whose model latency sums to 1000 x 2.4 ms (CloudWatch unit: microseconds)
    _put(cw, "wb-mon", t, Invocations=1000, ModelLatency=1000 * 2400, OverheadLatency=1000 * 500,
         Invocation4XXErrors=3, Invocation5XXErrors=1, ModelSetupTime=1_500_000)
    _put(cw, "wb-mon", t, CPUUtilization=40.0)
    r = monitor_endpoint("wb-mon", cloudwatch=cw, sagemaker=clients.sagemaker, region="us-east-1", since="1h",
                         now=now + dt.timedelta(seconds=1))
    s = r.summary
    assert r.mode == "serverless" and r.config["memory_mb"] == 2048
    assert s["invocations"] == 1000 and s["model_latency_ms_mean"] == pytest.approx(2.4)
    assert s["overhead_latency_ms_mean"] == pytest.approx(0.5)
    assert s["errors_4xx"] == 3 and s["errors_5xx"] == 1 and s["error_rate"] == pytest.approx(0.004)
    assert s["model_setup_ms_max"] == pytest.approx(1500.0) and s["cpu_utilization_mean"] == pytest.approx(40.0)
    rate = load_catalog().serverless_rate(2048).usd
    assert r.cost.usd == pytest.approx(1000 * 0.003 * rate)   # 2.4 ms billed as 3 ms
    assert r.estimate is None and any("no workbench deployment record" in n for n in r.notes)


def test_realtime_cost_is_instance_hours_and_estimate_from_record(aws):
    from engines.deploy.sagemaker_ops import deployments_dir
    from engines.fsutil import write_text_atomic

    clients, cw = aws
    _endpoint(clients.sagemaker, "wb-rt", serverless=False)
    created = clients.sagemaker.describe_endpoint(EndpointName="wb-rt")["CreationTime"]
    write_text_atomic(deployments_dir() / "wb-rt.json", json.dumps(
        {"endpoint": "wb-rt", "estimate": {"monthly": 720.0, "summary": "720 USD/month"}}))
    now = created + dt.timedelta(hours=2)
    r = monitor_endpoint("wb-rt", cloudwatch=cw, sagemaker=clients.sagemaker, region="us-east-1", since="1d",
                         now=now)
    rate = load_catalog().hourly("ml.c5.xlarge").usd
    assert r.mode == "realtime" and r.config["instance_count"] == 2
    assert r.cost.usd == pytest.approx(2 * 2.0 * rate, rel=1e-3)    # ran 2 h of the 1-day window
    assert r.estimate["window_share"] == pytest.approx(720.0 * 2 / 720, rel=1e-3)


def test_no_data_points_says_so_and_costs_zero(aws, capsys):
    clients, cw = aws
    _endpoint(clients.sagemaker, "wb-idle")
    r = monitor_endpoint("wb-idle", cloudwatch=cw, sagemaker=clients.sagemaker, region="us-east-1")
    assert not r.has_data and r.cost.usd == 0.0 and r.cost.notes
    assert any("no data points" in n for n in r.notes)


def test_cli_json_and_text(aws, moto_server, capsys):
    clients, _ = aws
    _endpoint(clients.sagemaker, "wb-cli")
    assert main(["monitor", "wb-cli", "--endpoint-url", moto_server.url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["endpoint"] == "wb-cli" and doc["has_data"] is False and doc["cost"]["usd"] == 0.0
    assert main(["monitor", "wb-cli", "--endpoint-url", moto_server.url]) == 0
    out = capsys.readouterr().out
    assert "no data points" in out and "Cost so far: $0.00" in out


def test_missing_endpoint_is_one_line_exit_2(aws, moto_server, capsys):
    assert main(["monitor", "wb-nope", "--endpoint-url", moto_server.url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no endpoint 'wb-nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["1x", "", "0m", "30d", "h"])
def test_bad_since(bad):
    with pytest.raises(WorkbenchError):
        parse_since(bad)
