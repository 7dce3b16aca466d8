"""A deploy never touches what it did not create: taken names, existing objects, another account's bucket.

Against moto's server on 127.0.0.1 (through a proxy that can answer 403 for a bucket).
"""

from __future__ import annotations

import pytest

from engines.deploy.sagemaker_ops import DeployError, deploy, teardown
from engines.errors import WorkbenchError
from engines.measure.figures import resolve_target
from tests.reliability.aws_proxy import Rule
from tests.reliability.deploy_common import labels, prepared, record, someone_elses
from tests.unit.deploy_helpers import BUCKET, ROLE, Failing, tiny_onnx


@pytest.fixture
def target(tmp_path):
    return resolve_target(str(tiny_onnx(tmp_path / "tiny.onnx")))


def _no_sleep(_s):
    return None


@pytest.mark.parametrize("taken", ["endpoint", "endpoint config", "model"])
def test_someone_elses_resource_with_our_name_survives(direct, via_proxy, proxy, target, tmp_path, taken):
    name = "wb-taken"
    if taken == "endpoint":
        someone_elses(direct, endpoint=name)
    elif taken == "endpoint config":
        someone_elses(direct, config=f"{name}-config")
    else:
        someone_elses(direct, model=f"{name}-model", config="other-config")
    before = labels(direct)
    prep = prepared(target, tmp_path, proxy.url, name, mode="serverless")
    label = {"endpoint": f"endpoint {name}", "endpoint config": f"endpoint config {name}-config",
             "model": f"model {name}-model"}[taken]
    with pytest.raises(WorkbenchError, match=f"{label} already exists.*--replace") as info:
        deploy(prep.plan, via_proxy, prep.request_body, sleep=_no_sleep)
    assert not isinstance(info.value, DeployError)  # refused before anything was created
    assert "\n" not in str(info.value)
    assert labels(direct) == before
    assert not [op for op in proxy.seen if op.startswith(("Create", "Put", "Delete"))], proxy.seen
    assert record(name) is None
    if taken == "endpoint":
        ep = direct.sagemaker.describe_endpoint(EndpointName=name)
        assert ep["EndpointStatus"] == "InService" and ep["EndpointConfigName"] == "other-config"
    if taken == "model":
        model = direct.sagemaker.describe_model(ModelName=f"{name}-model")
        assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/theirs/keep.bin"


def test_second_deploy_with_the_same_name_is_refused_then_replaced(direct, via_proxy, proxy, target, tmp_path):
    first = prepared(target, tmp_path, proxy.url, "wb-twice")
    deploy(first.plan, via_proxy, first.request_body, sleep=_no_sleep)
    live = labels(direct)
    second = prepared(target, tmp_path, proxy.url, "wb-twice")
    assert any("record of deployment" in w for w in second.plan.warnings)
    with pytest.raises(WorkbenchError, match="endpoint wb-twice.*already exist.*--replace"):
        deploy(second.plan, via_proxy, second.request_body, sleep=_no_sleep)
    assert labels(direct) == live  # the live deployment is intact
    model = direct.sagemaker.describe_model(ModelName="wb-twice-model")
    assert model["PrimaryContainer"]["ModelDataUrl"] == first.plan.spec.s3_uri
    assert direct.sagemaker.describe_endpoint(EndpointName="wb-twice")["EndpointStatus"] == "InService"
    assert record("wb-twice")["deployment_id"] == first.plan.spec.deploy_id

    third = prepared(target, tmp_path, proxy.url, "wb-twice", replace=True)
    lines = "\n".join(third.plan.lines())
    assert "sagemaker.delete_endpoint(EndpointName='wb-twice')  # --replace" in lines
    assert "workbench.teardown(" in lines and first.plan.spec.s3_uri in lines
    res = deploy(third.plan, via_proxy, third.request_body, sleep=_no_sleep)
    assert "endpoint wb-twice" in res.replaced and first.plan.spec.s3_uri in res.replaced
    assert third.plan.spec.s3_key != first.plan.spec.s3_key
    assert labels(direct) == set(res.created)  # only the new deployment is left
    assert record("wb-twice")["deployment_id"] == third.plan.spec.deploy_id
    out = teardown("wb-twice", via_proxy, sleep=_no_sleep)
    assert out["errors"] == [] and labels(direct) == set()


def test_an_existing_object_at_the_key_is_never_overwritten(direct, via_proxy, proxy, target, tmp_path):
    prep = prepared(target, tmp_path, proxy.url, "wb-s3", mode="serverless")
    key = prep.plan.spec.s3_key
    assert prep.plan.spec.deploy_id in key  # unique per deployment
    direct.s3.put_object(Bucket=BUCKET, Key=key, Body=b"precious")
    with pytest.raises(WorkbenchError, match="already exists and is never overwritten"):
        deploy(prep.plan, via_proxy, prep.request_body, sleep=_no_sleep)
    assert direct.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"precious"
    assert labels(direct) == {f"s3://{BUCKET}/{key}"}


def test_an_object_at_the_old_shared_key_survives_a_rolled_back_deploy(direct, via_proxy, proxy, target,
                                                                         tmp_path):
    old_key = "workbench/wb-s3old/model.tar.gz"  # where every deployment of this name used to upload
    direct.s3.put_object(Bucket=BUCKET, Key=old_key, Body=b"the live model")
    prep = prepared(target, tmp_path, proxy.url, "wb-s3old", mode="serverless")
    via_proxy.sagemaker = Failing(via_proxy.sagemaker, "create_endpoint")
    with pytest.raises(DeployError, match="failed at step endpoint"):
        deploy(prep.plan, via_proxy, prep.request_body, sleep=_no_sleep)
    assert direct.s3.get_object(Bucket=BUCKET, Key=old_key)["Body"].read() == b"the live model"
    assert labels(direct) == {f"s3://{BUCKET}/{old_key}"}


def test_bucket_of_another_account_is_a_clear_error_and_nothing_is_deleted(direct, via_proxy, proxy, target,
                                                                            tmp_path):
    someone_elses(direct, endpoint="wb-theirs")
    direct.s3.create_bucket(Bucket="their-bucket")
    direct.s3.put_object(Bucket="their-bucket", Key="workbench/wb-denied/model.tar.gz", Body=b"theirs")
    before = labels(direct) | labels(direct, "their-bucket")
    proxy.rules.append(Rule("*", "deny", bucket="their-bucket"))
    prep = prepared(target, tmp_path, proxy.url, "wb-denied", mode="serverless", bucket="their-bucket")
    with pytest.raises(WorkbenchError, match="cannot use bucket their-bucket: access denied.*another account") as info:
        deploy(prep.plan, via_proxy, prep.request_body, sleep=_no_sleep)
    assert "\n" not in str(info.value)
    assert proxy.seen == ["HeadBucket"]
    assert labels(direct) | labels(direct, "their-bucket") == before
    assert record("wb-denied") is None


def test_cli_bucket_access_denied_exits_2_with_one_line(direct, proxy, tmp_path, capsys, monkeypatch):
    from workbench.cli import main

    direct.s3.create_bucket(Bucket="their-bucket")
    proxy.rules.append(Rule("*", "deny", bucket="their-bucket"))
    model = tiny_onnx(tmp_path / "m.onnx")
    rc = main(["deploy", str(model), "--name", "wb-denied", "--yes", "--role", ROLE, "--bucket", "their-bucket",
               "--endpoint-url", proxy.url, "--poll-interval", "0.01"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("workbench: error: cannot use bucket their-bucket: access denied")
    assert "Traceback" not in "\n".join(err)


def test_dry_run_states_checks_and_replacement(direct, proxy, tmp_path, capsys):
    from workbench.cli import main

    model = tiny_onnx(tmp_path / "m.onnx")
    base = ["deploy", str(model), "--name", "wb-dry", "--realtime", "--role", ROLE, "--bucket", BUCKET, "--dry-run"]
    assert main(base) == 0
    plain = capsys.readouterr().out
    assert "sagemaker.describe_endpoint(EndpointName='wb-dry')  # refused if it exists (--replace replaces it)" \
        in plain
    assert "s3.head_object(" in plain and "never overwritten" in plain and "delete_" not in plain
    assert main([*base, "--replace"]) == 0
    replacing = capsys.readouterr().out
    for call in ("delete_scaling_policy", "deregister_scalable_target", "delete_endpoint(", "delete_endpoint_config",
                 "delete_model"):
        assert call in replacing
    assert "--replace: only if it exists" in replacing
    assert proxy.seen == []  # a dry run calls nothing
