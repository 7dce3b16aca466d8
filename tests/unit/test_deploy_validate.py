"""Every bad deployment input is refused up front with a one-line reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engines.deploy.spec import DeploySpec, VariantFacts
from engines.deploy.validate import (SERVERLESS_PAYLOAD, bucket_problem, required_memory_mb, role_arn_problem,
                                     validate)
from engines.errors import WorkbenchError
from tests.unit.deploy_helpers import BUCKET, ROLE, tiny_onnx

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def spec(**kw) -> DeploySpec:
    base = dict(name="wb-valid", role_arn=ROLE, bucket=BUCKET, region="us-east-1")
    return DeploySpec(**{**base, **kw})


def facts(**kw) -> VariantFacts:
    base = dict(name="digits", format="onnx", model_bytes=200_000, request_bytes=1400, response_bytes=230,
                latency_p99_ms=2.0)
    return VariantFacts(**{**base, **kw})


def refused(s: DeploySpec, f: VariantFacts | None = None, **kw) -> str:
    with pytest.raises(WorkbenchError) as info:
        validate(s, f or facts(), **kw)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_valid_serverless_and_realtime_specs_pass():
    assert any("cold start" in w for w in validate(spec(), facts()))
    assert validate(spec(mode="realtime", instance_type="ml.m5.xlarge"), facts()) == []


@pytest.mark.parametrize("memory", [512, 1000, 1536, 7168, 0])
def test_memory_out_of_range_or_not_a_multiple_of_1024(memory):
    assert f"memory {memory} MB is not allowed" in refused(spec(memory_mb=memory), check_image=False)


@pytest.mark.parametrize("conc", [0, 201, -3])
def test_concurrency_out_of_range(conc):
    assert f"max concurrency {conc} is out of range 1-200" in refused(spec(max_concurrency=conc), check_image=False)


def test_provisioned_above_max_and_out_of_range():
    assert "provisioned concurrency 6 is above max concurrency 5" in refused(spec(max_concurrency=5, provisioned=6),
                                                                              check_image=False)
    assert "provisioned concurrency 0 is out of range" in refused(spec(provisioned=0), check_image=False)
    assert validate(spec(max_concurrency=5, provisioned=5), facts(), check_image=False)


def test_region_with_no_image():
    msg = refused(spec(region="US East"))
    assert "not an AWS region name" in msg
    msg = refused(spec(region="ap-nowhere-9"))
    assert "no SageMaker pytorch 2.6.0 inference image for region 'ap-nowhere-9'" in msg


@pytest.mark.parametrize("arn", ["", "SageMakerRole", "arn:aws:iam::12345:role/R", "arn:aws:iam::123456789012:user/bob",
                                 "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/"])
def test_invalid_role_arn(arn):
    assert role_arn_problem(arn)
    assert ("IAM role ARN" in refused(spec(role_arn=arn), check_image=False)
            or "execution role is required" in refused(spec(role_arn=arn), check_image=False))


def test_valid_role_arns():
    for arn in (ROLE, "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-2024",
                "arn:aws-cn:iam::123456789012:role/R"):
        assert role_arn_problem(arn) is None


@pytest.mark.parametrize("bucket", ["a", "ab", "My-Bucket", "bucket_name", "-bucket", "bucket-", "b..ucket",
                                    "192.168.1.1", "xn--bucket", "bucket-s3alias", "x" * 64])
def test_invalid_bucket_name(bucket):
    assert bucket_problem(bucket)
    assert f"bucket name {bucket!r} is invalid" in refused(spec(bucket=bucket), check_image=False)


def test_valid_bucket_names():
    for b in ("my-bucket", "abc", "data.sets.2024", "a" * 63):
        assert bucket_problem(b) is None


def test_variant_too_large_for_serverless():
    msg = refused(spec(memory_mb=6144), facts(model_bytes=3 * 1024 * MB), check_image=False)
    assert "too large for serverless" in msg and "--realtime" in msg
    # the same model is fine on a real-time instance
    assert validate(spec(mode="realtime"), facts(model_bytes=3 * 1024 * MB), check_image=False) == []


def test_memory_too_small_for_the_model_suggests_a_size():
    need = required_memory_mb(500 * MB)
    assert need == 768 + 1500
    msg = refused(spec(memory_mb=1024), facts(model_bytes=500 * MB), check_image=False)
    assert f"needs about {need} MB" in msg and "--memory 3072" in msg


def test_payload_over_4mb():
    msg = refused(spec(), facts(request_bytes=SERVERLESS_PAYLOAD + 1), check_image=False)
    assert "a request of digits is 4.0 MB" in msg and "accepts 4 MB" in msg
    msg = refused(spec(), facts(response_bytes=5 * MB), check_image=False)
    assert "a response of digits" in msg
    assert validate(spec(mode="realtime"), facts(request_bytes=5 * MB), check_image=False) == []


def test_payload_of_a_real_model_with_a_big_input(tmp_path):
    """Request sizes come from encoding a real example input: JSON of 307,200 floats is over 4 MB, NPY is not."""
    from engines.deploy.prepare import facts_for
    from engines.measure.figures import payload_sizes, resolve_target
    from tests.unit.deploy_helpers import measured

    target = resolve_target(str(tiny_onnx(tmp_path / "big.onnx", shape=("N", 3, 320, 320), classes=2)))
    as_json = payload_sizes(target, "application/json")
    as_npy = payload_sizes(target, "application/x-npy")
    assert as_json["request_bytes"] > SERVERLESS_PAYLOAD
    assert 3 * 320 * 320 * 4 < as_npy["request_bytes"] < 3 * 320 * 320 * 4 + 256
    msg = refused(spec(), facts_for(target, measured(), as_json), check_image=False)
    assert "a request of big is" in msg and "serverless accepts 4 MB" in msg
    assert validate(spec(content_type="application/x-npy"), facts_for(target, measured(), as_npy),
                    check_image=False)


def test_tensorrt_and_gpu_only_variants_refused_for_serverless():
    msg = refused(spec(), facts(format="tensorrt"), check_image=False)
    assert "TensorRT engine" in msg and "ONNX variant it was built from" in msg
    msg = refused(spec(), facts(gpu_only_reason="built for cuda"), check_image=False)
    assert "serverless is CPU only" in msg
    msg = refused(spec(mode="realtime", instance_type="ml.c5.xlarge"), facts(gpu_only_reason="built for cuda"),
                  check_image=False)
    assert "has none" in msg
    assert validate(spec(mode="realtime", instance_type="ml.g5.xlarge"), facts(gpu_only_reason="built for cuda"),
                    check_image=False) == []


def test_sixty_second_limit_against_measured_latency():
    assert "60 s invocation limit" in refused(spec(), facts(latency_p99_ms=61_000), check_image=False)
    assert any("over half" in w for w in validate(spec(), facts(latency_p99_ms=40_000), check_image=False))


def test_realtime_bad_instance_and_capacities():
    msg = refused(spec(mode="realtime", instance_type="c5.xlarge", initial_count=0), check_image=False)
    assert "not a SageMaker instance type" in msg and "initial instance count must be >= 1" in msg
    assert "min (3) <= max (2)" in refused(spec(mode="realtime", min_capacity=3, max_capacity=2), check_image=False)


def test_all_problems_are_listed_on_one_line():
    msg = refused(spec(memory_mb=1000, max_concurrency=300, role_arn="x", bucket="B"), check_image=False)
    for part in ("memory 1000", "max concurrency 300", "IAM role ARN", "bucket name 'B'"):
        assert part in msg


def test_missing_credentials_is_one_clear_line_without_traceback(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WORKBENCH_HOME": str(tmp_path / "home"),
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "AWS_EC2_METADATA_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-m", "workbench", "deploy", str(model), "--role", ROLE, "--bucket", BUCKET],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("workbench: error: no AWS credentials found")
    prices = subprocess.run([sys.executable, "-m", "workbench", "prices", "refresh"], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=120)
    assert prices.returncode == 2 and "Traceback" not in prices.stderr and "no AWS credentials" in prices.stderr
