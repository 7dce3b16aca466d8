"""SageMaker SDK defaults: the default bucket sagemaker-{region}-{account} created when missing (and kept), the
role from the environment or the SDK config, a dry run without credentials (placeholders), and a default bucket
owned by another account (AccessDenied: one line, nothing deleted). Against moto's server behind the proxy."""

from __future__ import annotations

import pytest

from engines.deploy.defaults import ROLE_PLACEHOLDER, apply_defaults, resolve_bucket, resolve_role
from engines.deploy.prepare import prepare
from engines.deploy.sagemaker_ops import deploy, teardown
from engines.deploy.spec import DeploySpec
from engines.errors import WorkbenchError
from engines.measure.figures import resolve_target
from tests.reliability.aws_proxy import Rule
from tests.reliability.deploy_common import labels, record
from tests.unit.deploy_helpers import ROLE, measured, tiny_onnx

DEFAULT = "sagemaker-us-east-1-123456789012"   # moto's account


@pytest.fixture
def target(tmp_path):
    return resolve_target(str(tiny_onnx(tmp_path / "tiny.onnx")))


@pytest.fixture(autouse=True)
def no_sdk_config(monkeypatch, tmp_path):
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(tmp_path / "no-sdk-config.yaml"))
    for var in ("WORKBENCH_SAGEMAKER_ROLE", "SAGEMAKER_ROLE_ARN", "WORKBENCH_SAGEMAKER_BUCKET"):
        monkeypatch.delenv(var, raising=False)


def _buckets(clients):
    return {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}


def _spec(url, name):
    return DeploySpec(mode="serverless", name=name, role_arn=ROLE, endpoint_url=url, poll_interval_s=0.01)


def test_default_bucket_created_when_missing_and_kept(direct, via_proxy, proxy, target, tmp_path):
    import boto3

    spec = _spec(proxy.url, "wb-default")
    lines = apply_defaults(spec, boto3.session.Session(region_name="us-east-1"))
    assert spec.bucket == DEFAULT and spec.bucket_default and not spec.placeholders
    assert any("SageMaker SDK default (created when missing)" in line for line in lines)
    prep = prepare(target, spec, out_dir=tmp_path / "pkg", measured=measured())
    assert [s.operation for s in prep.plan.steps][:1] == ["head_bucket"]
    assert prep.plan.step("bucket")[0].operation == "create_bucket"
    assert DEFAULT not in _buckets(direct)
    deploy(prep.plan, via_proxy, prep.request_body, sleep=lambda s: None)
    assert DEFAULT in _buckets(direct)
    assert record("wb-default")["bucket_created"] == DEFAULT
    teardown("wb-default", via_proxy, sleep=lambda s: None)
    assert DEFAULT in _buckets(direct)        # the shared default bucket is kept, as the SDK does
    # a second deployment finds it and creates nothing new
    spec2 = _spec(proxy.url, "wb-default2")
    apply_defaults(spec2, boto3.session.Session(region_name="us-east-1"))
    prep2 = prepare(target, spec2, out_dir=tmp_path / "pkg2", measured=measured())
    proxy.seen.clear()
    deploy(prep2.plan, via_proxy, prep2.request_body, sleep=lambda s: None)
    assert "CreateBucket" not in proxy.seen


def test_default_bucket_of_another_account_denied_nothing_deleted(direct, via_proxy, proxy, target, tmp_path):
    direct.s3.create_bucket(Bucket=DEFAULT)
    direct.s3.put_object(Bucket=DEFAULT, Key="theirs.bin", Body=b"theirs")
    before = labels(direct, DEFAULT)
    proxy.rules.append(Rule("*", "deny", bucket=DEFAULT))
    spec = _spec(proxy.url, "wb-squat")
    spec.bucket, spec.bucket_default = DEFAULT, True
    prep = prepare(target, spec, out_dir=tmp_path / "pkg", measured=measured())
    proxy.seen.clear()
    with pytest.raises(WorkbenchError, match=f"cannot use bucket {DEFAULT}: access denied.*another account") as info:
        deploy(prep.plan, via_proxy, prep.request_body, sleep=lambda s: None)
    assert "\n" not in str(info.value)
    assert proxy.seen == ["HeadBucket"]                   # nothing created, nothing deleted
    assert labels(direct, DEFAULT) == before and record("wb-squat") is None


def test_role_from_environment_and_sdk_config(monkeypatch, tmp_path):
    assert resolve_role("arn:aws:iam::111111111111:role/given").source == "--role"
    monkeypatch.setenv("WORKBENCH_SAGEMAKER_ROLE", ROLE)
    assert resolve_role("").value == ROLE and resolve_role("").source == "$WORKBENCH_SAGEMAKER_ROLE"
    monkeypatch.delenv("WORKBENCH_SAGEMAKER_ROLE")
    cfg = tmp_path / "sdk.yaml"
    cfg.write_text("SageMaker:\n  Model:\n    ExecutionRoleArn: arn:aws:iam::222222222222:role/FromSdk\n"
                   "  PythonSDK:\n    Modules:\n      Session:\n        DefaultS3Bucket: my-sdk-bucket\n")
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(cfg))
    assert resolve_role("").value == "arn:aws:iam::222222222222:role/FromSdk"
    assert resolve_bucket("", "us-east-1", "123456789012").value == "my-sdk-bucket"
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(tmp_path / "none.yaml"))
    r = resolve_role("")
    assert r.placeholder and r.value == ROLE_PLACEHOLDER


def _no_credentials(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nocreds"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "noconfig"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_dry_run_without_credentials_shows_placeholders(monkeypatch, tmp_path, capsys):
    from workbench.cli import main

    _no_credentials(monkeypatch, tmp_path)
    model = tiny_onnx(tmp_path / "m.onnx")
    assert main(["deploy", str(model), "--name", "wb-dry", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "bucket: sagemaker-us-east-1-<account>" in out and "[placeholder]" in out
    assert "role: <role" in out and "placeholders (no credentials, dry run only): role_arn, bucket" in out
    assert "s3.create_bucket(Bucket='sagemaker-us-east-1-<account>')" in out
    # a real deploy never runs with a placeholder: without credentials it stops first, in one line
    assert main(["deploy", str(model), "--name", "wb-dry", "--yes"]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_real_deploy_without_role_is_one_line(direct, proxy, tmp_path, capsys):
    from workbench.cli import main

    model = tiny_onnx(tmp_path / "m.onnx")
    assert main(["deploy", str(model), "--name", "wb-norole", "--yes", "--endpoint-url", proxy.url]) == 2
    assert "an execution role is required" in capsys.readouterr().err
    assert DEFAULT not in _buckets(direct)
