"""Deploy -> describe -> invoke -> teardown against moto's server mode (real HTTP on 127.0.0.1, real boto3).

Failures are injected at every step; each must leave nothing behind (checked by
listing moto's resources) and name the step and what was rolled back.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from engines.deploy.aws import make_clients
from engines.deploy.prepare import prepare
from engines.deploy.sagemaker_ops import DeployError, deploy, teardown
from engines.deploy.spec import DeploySpec
from engines.errors import WorkbenchError
from engines.measure.figures import resolve_target
from tests.unit.deploy_helpers import (BUCKET, FAKE_KEY_ID, FAKE_SECRET, ROLE, Failing, MotoServer, fake_credentials,
                                       leftovers, measured, nothing_left, tiny_onnx)


@pytest.fixture(scope="module")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_clients(moto_server):
    with pytest.MonkeyPatch.context() as mp:
        fake_credentials(mp)
        yield make_clients("us-east-1", moto_server.url)


@pytest.fixture
def aws(moto_server, module_clients, monkeypatch):
    """Fresh moto state and a copy of the clients (a test may wrap one of them)."""
    moto_server.reset()
    fake_credentials(monkeypatch)
    clients = dataclasses.replace(module_clients)
    clients.s3.create_bucket(Bucket=BUCKET)
    return clients


@pytest.fixture
def target(tmp_path):
    return resolve_target(str(tiny_onnx(tmp_path / "tiny.onnx")))


def _prepared(target, tmp_path, url, mode="serverless", **kw):
    spec = DeploySpec(mode=mode, name=kw.pop("name", f"wb-test-{mode}"), role_arn=ROLE, bucket=BUCKET,
                      endpoint_url=url, poll_interval_s=0.01, **kw)
    return prepare(target, spec, out_dir=tmp_path / "pkg", measured=measured())


def test_serverless_deploy_describe_invoke_teardown(aws, target, tmp_path, moto_server):
    prep = _prepared(target, tmp_path, moto_server.url, memory_mb=2048, max_concurrency=5, provisioned=2)
    res = deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    assert res.status == "InService" and res.invoke_latency_ms is not None and res.invoke_latency_ms > 0
    desc = aws.sagemaker.describe_endpoint(EndpointName="wb-test-serverless")
    assert desc["EndpointStatus"] == "InService"
    cfg = aws.sagemaker.describe_endpoint_config(EndpointConfigName="wb-test-serverless-config")
    assert cfg["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5,
                                                                "ProvisionedConcurrency": 2}
    model = aws.sagemaker.describe_model(ModelName="wb-test-serverless-model")
    key = f"workbench/wb-test-serverless/{prep.plan.spec.deploy_id}/model.tar.gz"  # unique per deployment
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/{key}"
    assert "pytorch-inference" in model["PrimaryContainer"]["Image"]
    head = aws.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == prep.package.size_bytes
    assert head["Metadata"] == {"workbench-deployment": prep.plan.spec.deploy_id}
    out = teardown("wb-test-serverless", aws, sleep=lambda s: None)
    assert out["errors"] == []
    assert set(out["removed"]) >= {"endpoint wb-test-serverless", "model wb-test-serverless-model"}
    assert nothing_left(aws), leftovers(aws)


def test_realtime_with_autoscaling_and_teardown(aws, target, tmp_path, moto_server):
    prep = _prepared(target, tmp_path, moto_server.url, mode="realtime", instance_type="ml.c5.xlarge",
                     initial_count=1, min_capacity=1, max_capacity=3, target_invocations=120)
    res = deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    assert res.status == "InService"
    variant = aws.sagemaker.describe_endpoint_config(EndpointConfigName="wb-test-realtime-config")[
        "ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.c5.xlarge" and variant["InitialInstanceCount"] == 1
    targets = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("endpoint/wb-test-realtime/variant/AllTraffic", 1, 3)]
    pol = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
    cfg = pol["TargetTrackingScalingPolicyConfiguration"]
    assert pol["PolicyType"] == "TargetTrackingScaling" and cfg["TargetValue"] == 120.0
    assert cfg["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    out = teardown("wb-test-realtime", aws, sleep=lambda s: None)
    assert "scaling policy wb-test-realtime-invocations" in out["removed"]
    assert nothing_left(aws), leftovers(aws)


def test_realtime_target_derived_from_measured_throughput(aws, target, tmp_path, moto_server):
    """No --target-invocations: the policy's TargetValue is the measured per-instance rate x 60 x margin."""
    prep = _prepared(target, tmp_path, moto_server.url, mode="realtime", name="wb-derived", target_safety=0.5)
    auto = prep.plan.autoscaling
    # measured(): 0.5 ms mean latency at batch 1 -> 2000 req/s per instance x 60 x 0.5
    assert auto["value"] == 60000.0 and auto["source"] == "model batch-1" and not auto["override"]
    assert "autoscaling target 60,000 inv/min/instance = 2,000.0 req/s measured" in "\n".join(prep.plan.lines())
    assert prep.plan.rightsize["instance"] == "ml.c5.xlarge"
    deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    pol = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
    assert pol["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 60000.0
    assert teardown("wb-derived", aws, sleep=lambda s: None)["errors"] == []
    assert nothing_left(aws), leftovers(aws)


def test_realtime_target_without_a_measurement_is_refused(target, tmp_path):
    spec = DeploySpec(mode="realtime", name="wb-nomeasure", role_arn=ROLE, bucket=BUCKET)
    with pytest.raises(WorkbenchError, match="no throughput measured for tiny.*workbench cost VARIANT"):
        prepare(target, spec, out_dir=tmp_path / "pkg", allow_measure=False, local=True)
    spec = DeploySpec(mode="realtime", name="wb-nomeasure", role_arn=ROLE, bucket=BUCKET, target_invocations=90)
    plan = prepare(target, spec, out_dir=tmp_path / "pkg", allow_measure=False, local=True).plan   # yours: used
    assert plan.autoscaling["value"] == 90.0 and "no throughput measured for tiny" in plan.autoscaling["line"]
    assert plan.step("autoscaling")[1].params["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 90.0


def test_teardown_without_a_record_discovers_resources(aws, target, tmp_path, moto_server):
    prep = _prepared(target, tmp_path, moto_server.url, mode="realtime", name="wb-norecord")
    deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None, record=False)
    out = teardown("wb-norecord", aws, sleep=lambda s: None)
    left = leftovers(aws)
    assert out["errors"] == [] and not any(left[k] for k in ("models", "configs", "endpoints", "targets", "policies"))
    assert left["s3"] == [prep.plan.spec.s3_key]  # not ours to delete without a record
    with pytest.raises(WorkbenchError, match="no endpoint 'wb-nothing'"):
        teardown("wb-nothing", aws)


def test_multipart_upload_when_large(aws, tmp_path, moto_server):
    big = resolve_target(str(tiny_onnx(tmp_path / "big.onnx", shape=("N", 3, 224, 224))))  # ~6 MB of weights
    prep = _prepared(big, tmp_path, moto_server.url, multipart_threshold=5 * 1024 * 1024)
    step = prep.plan.step("upload")[0]
    assert step.params["Multipart"] is True and step.params["SizeBytes"] > 5 * 1024 * 1024
    seen = []

    class Spy:
        def report(self, frac, msg):
            seen.append(msg)

        def check(self):
            pass

        def sub(self, a, b):
            return self

    deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None, task=Spy())
    assert any(m.startswith("uploading") for m in seen)
    got = aws.s3.get_object(Bucket=BUCKET, Key=prep.plan.spec.s3_key)
    assert got["ETag"].strip('"').endswith("-2")  # two parts: a multipart upload
    body = got["Body"].read()
    assert body == prep.package.path.read_bytes()
    teardown(prep.plan.spec.name, aws)
    assert nothing_left(aws)


@pytest.mark.parametrize("client,method,mode,step,cleaned", [
    ("s3", "upload_file", "serverless", "upload", []),
    ("sagemaker", "create_model", "serverless", "model", ["s3://"]),
    ("sagemaker", "create_endpoint_config", "serverless", "endpoint_config", ["model ", "s3://"]),
    ("sagemaker", "create_endpoint", "serverless", "endpoint", ["endpoint config", "model ", "s3://"]),
    ("autoscaling", "register_scalable_target", "realtime", "autoscaling", ["endpoint wb-", "endpoint config"]),
    ("autoscaling", "put_scaling_policy", "realtime", "autoscaling", ["scalable target", "endpoint wb-"]),
    ("runtime", "invoke_endpoint", "serverless", "invoke", ["endpoint wb-", "model "]),
])
def test_failure_at_each_step_rolls_everything_back(aws, target, tmp_path, moto_server, client, method, mode,
                                                    step, cleaned):
    prep = _prepared(target, tmp_path, moto_server.url, mode=mode)
    setattr(aws, client, Failing(getattr(aws, client), method))
    with pytest.raises(DeployError) as info:
        deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    err = info.value
    assert err.step == step
    assert f"failed at step {step}" in str(err) and "InjectedFailure" in str(err)
    for part in cleaned:
        assert any(c.startswith(part) for c in err.cleaned), (part, err.cleaned)
    if not cleaned:
        assert "nothing had been created" in str(err)
    assert err.left == []
    setattr(aws, client, getattr(aws, client)._client)
    assert nothing_left(aws), leftovers(aws)


def test_call_that_fails_after_creating_is_still_rolled_back(aws, target, tmp_path, moto_server):
    """A create call that succeeded server-side but raised (e.g. a timeout) must not leak the endpoint."""
    prep = _prepared(target, tmp_path, moto_server.url)
    aws.sagemaker = Failing(aws.sagemaker, "create_endpoint", after_call=True)
    with pytest.raises(DeployError) as info:
        deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    assert "endpoint wb-test-serverless" in info.value.cleaned
    aws.sagemaker = aws.sagemaker._client
    assert nothing_left(aws), leftovers(aws)


def test_endpoint_failed_status_rolls_back_with_reason(aws, target, tmp_path, moto_server):
    prep = _prepared(target, tmp_path, moto_server.url)
    real = aws.sagemaker

    class FailedStatus:
        def __getattr__(self, name):
            attr = getattr(real, name)
            if name != "describe_endpoint":
                return attr
            return lambda **kw: {**attr(**kw), "EndpointStatus": "Failed",
                                 "FailureReason": "ping did not pass within 3 minutes"}

    aws.sagemaker = FailedStatus()
    with pytest.raises(DeployError, match="failed at step wait.*ping did not pass.*rolled back: endpoint"):
        deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    aws.sagemaker = real
    assert nothing_left(aws), leftovers(aws)


def test_cli_deploy_never_shows_the_secret(moto_server, monkeypatch, tmp_path, capsys, caplog):
    from workbench.cli import main

    moto_server.reset()
    fake_credentials(monkeypatch)
    clients = make_clients("us-east-1", moto_server.url)
    clients.s3.create_bucket(Bucket=BUCKET)
    model = tiny_onnx(tmp_path / "m.onnx")
    caplog.set_level(logging.INFO)
    base = ["--role", ROLE, "--bucket", BUCKET, "--endpoint-url", moto_server.url, "--poll-interval", "0.01"]
    assert main(["deploy", str(model), "--name", "wb-secret-test", "--json", "--yes", *base]) == 0
    deployed = capsys.readouterr()
    assert json.loads(deployed.out)["result"]["status"] == "InService"
    files = _home_texts()
    assert any('"wb-secret-test"' in t for t in files)  # the deployment record was written
    # a failing call (teardown of an unknown endpoint) and a dry run also print nothing secret
    assert main(["deploy", "--teardown", "wb-absent", "--endpoint-url", moto_server.url]) == 2
    assert main(["deploy", str(model), "--dry-run", *base]) == 0
    assert main(["deploy", "--teardown", "wb-secret-test", "--endpoint-url", moto_server.url, "--json"]) == 0
    rest = capsys.readouterr()
    texts = [deployed.out, deployed.err, rest.out, rest.err, caplog.text, *files, *_home_texts()]
    assert "no endpoint 'wb-absent'" in rest.err
    for text in texts:
        assert FAKE_SECRET not in text and FAKE_KEY_ID not in text
    assert nothing_left(clients)


def _home_texts() -> list[str]:
    import os

    out = []
    for root, _dirs, names in os.walk(os.environ["WORKBENCH_HOME"]):
        for name in names:
            with open(os.path.join(root, name), "rb") as fh:
                out.append(fh.read().decode("latin-1"))
    return out


def test_teardown_keeps_a_resource_someone_else_recreated_under_the_name(aws, target, tmp_path, moto_server):
    """The record names a model, but the model now there is not this deployment's: teardown keeps it."""
    prep = _prepared(target, tmp_path, moto_server.url, name="wb-retaken")
    deploy(prep.plan, aws, prep.request_body, sleep=lambda s: None)
    aws.sagemaker.delete_endpoint(EndpointName="wb-retaken")
    aws.sagemaker.delete_endpoint_config(EndpointConfigName="wb-retaken-config")
    aws.sagemaker.delete_model(ModelName="wb-retaken-model")
    aws.sagemaker.create_model(ModelName="wb-retaken-model", ExecutionRoleArn=ROLE,
                               PrimaryContainer={"Image": "theirs"})
    out = teardown("wb-retaken", aws, sleep=lambda s: None)
    assert out["errors"] == [] and out["removed"] == [prep.plan.spec.s3_uri]
    assert any(k.startswith("model wb-retaken-model (not created by deployment") for k in out["kept"])
    assert leftovers(aws)["models"] == ["wb-retaken-model"]


def test_cli_deploy_without_a_terminal_needs_yes(moto_server, monkeypatch, tmp_path, capsys):
    """Issue 14: the CLI deployed without asking when stdin was not a terminal; now it needs --yes."""
    import io

    from workbench.cli import main

    moto_server.reset()
    fake_credentials(monkeypatch)
    make_clients("us-east-1", moto_server.url).s3.create_bucket(Bucket=BUCKET)
    model = tiny_onnx(tmp_path / "m.onnx")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    base = ["--role", ROLE, "--bucket", BUCKET, "--endpoint-url", moto_server.url, "--poll-interval", "0.01"]
    assert main(["deploy", str(model), "--name", "wb-no-yes", *base]) == 2
    assert "--yes" in capsys.readouterr().err
    sm = make_clients("us-east-1", moto_server.url).sagemaker
    assert not sm.list_endpoints()["Endpoints"]          # nothing was created
