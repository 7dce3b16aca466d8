"""A connection cut at each create step (and in the wait and the test invocation): rollback removes only
what this deployment created, and when the connection stays down the record lists exactly what is left,
which ``--teardown`` then removes.

Real botocore errors: the proxy in front of moto closes the connection before the request reaches the
service (nothing created) or after the service handled it (created, answer lost).
"""

from __future__ import annotations

import pytest

from engines.deploy.sagemaker_ops import DeployError, deploy, teardown
from engines.measure.figures import resolve_target
from tests.reliability.aws_proxy import Rule
from tests.reliability.deploy_common import labels, prepared, record, someone_elses
from tests.unit.deploy_helpers import tiny_onnx

CREATES = ["PutObject", "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "RegisterScalableTarget",
           "PutScalingPolicy"]
STEP = {"DescribeEndpoint": "wait", "InvokeEndpoint": "invoke", "PutObject": "upload", "CreateModel": "model",
        "CreateEndpointConfig": "endpoint_config", "CreateEndpoint": "endpoint", "RegisterScalableTarget": "autoscaling", "PutScalingPolicy": "autoscaling"}


@pytest.fixture
def target(tmp_path):
    return resolve_target(str(tiny_onnx(tmp_path / "tiny.onnx")))


def _no_sleep(_s):
    return None


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("op", CREATES)
def test_cut_once_rolls_back_only_ours(direct, via_proxy, proxy, target, tmp_path, op, when):
    someone_elses(direct, endpoint="wb-neighbour")
    theirs = labels(direct)
    prep = prepared(target, tmp_path, proxy.url, "wb-cut")
    proxy.rules.append(Rule(op, "cut_request" if when == "before" else "cut_response", times=1))
    with pytest.raises(DeployError) as info:
        deploy(prep.plan, via_proxy, prep.request_body, sleep=_no_sleep)
    assert info.value.step == STEP[op] and info.value.left == []
    if when == "after":  # it was created although the answer was lost: rolled back all the same
        assert info.value.cleaned and op in proxy.seen
    assert labels(direct) == theirs
    assert record("wb-cut") is None


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("op", [*CREATES, "DescribeEndpoint", "InvokeEndpoint"])
def test_connection_gone_leaves_a_record_that_teardown_uses(direct, via_proxy, proxy, target, tmp_path, op, when):
    someone_elses(direct, endpoint="wb-neighbour")
    theirs = labels(direct)
    prep = prepared(target, tmp_path, proxy.url, "wb-gone")
    # DescribeEndpoint is first called by the checks: the one that goes down is the wait for InService
    proxy.rules.append(Rule(op, "down_before" if when == "before" else "down_after",
                            after=1 if op == "DescribeEndpoint" else 0))
    with pytest.raises(DeployError, match="could NOT remove.*--teardown wb-gone") as info:
        deploy(prep.plan, via_proxy, prep.request_body, sleep=_no_sleep)
    ours = labels(direct) - theirs
    doc = record("wb-gone")
    assert doc is not None and doc["deployment_id"] == prep.plan.spec.deploy_id
    listed = {r["label"]: r for r in doc["resources"]}
    assert all(r["created_by_us"] for r in listed.values())
    assert ours <= set(listed), (ours, listed)  # everything left behind is in the record...
    assert {lb for lb, r in listed.items() if r["state"] == "created"} <= ours  # ...and nothing it did not create
    assert info.value.step == STEP[op]
    proxy.clear()  # the connection is back
    out = teardown("wb-gone", via_proxy, sleep=_no_sleep)
    assert out["errors"] == [] and set(out["removed"]) == ours
    assert labels(direct) == theirs
    assert record("wb-gone") is None
