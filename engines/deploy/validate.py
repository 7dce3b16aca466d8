"""Checks made before any AWS call; every problem is reported at once, on one line.

Rules (from the SageMaker developer guide and API reference):

* serverless is CPU only: TensorRT engines and GPU-only variants are refused;
  the package runs ONNX Runtime, so only ONNX variants deploy at all;
* ``MemorySizeInMB`` 1024-6144 in 1024 steps; ``MaxConcurrency`` 1-200;
  ``ProvisionedConcurrency`` 1-200 and <= ``MaxConcurrency``;
* payload 4 MB per request and response on serverless, 6 MB on real-time;
  every invocation must answer within 60 s (refused when the measured p99
  reaches it, warned from half of it);
* memory enough for the model: ``RUNTIME_OVERHEAD_MB + MODEL_FACTOR x model size``
  (the container's model server and Python runtime, plus the file read, the
  ONNX Runtime session's copy and its arena);
* role ARN, S3 bucket name and endpoint name follow AWS's naming rules and the
  region has a container image.
"""

from __future__ import annotations

import ipaddress
import math
import re

from engines.deploy.spec import MB, DeploySpec, VariantFacts
from engines.errors import WorkbenchError

SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY = 200
SERVERLESS_PAYLOAD = 4 * MB
REALTIME_PAYLOAD = 6 * MB
INVOCATION_LIMIT_MS = 60_000
RUNTIME_OVERHEAD_MB = 768
MODEL_FACTOR = 3.0

ROLE_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov|-iso|-iso-b|-iso-f|-eusc)?:iam::\d{12}:role/"
                         r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
ENDPOINT_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INSTANCE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_BAD_PREFIX = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIX = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def required_memory_mb(model_bytes: int) -> int:
    return int(math.ceil(RUNTIME_OVERHEAD_MB + MODEL_FACTOR * model_bytes / MB))


def role_arn_problem(arn: str) -> str | None:
    if not arn:
        return "an execution role is required: --role arn:aws:iam::<account>:role/<name>"
    if len(arn) > 2048 or not ROLE_ARN_RE.match(arn):
        return f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
    return None


def bucket_problem(bucket: str) -> str | None:
    why = None
    if not bucket:
        return "an S3 bucket is required: --bucket NAME"
    if not 3 <= len(bucket) <= 63:
        why = "must be 3-63 characters"
    elif not _BUCKET_RE.match(bucket):
        why = "may hold only lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        why = "must not hold '..', '.-' or '-.'"
    elif bucket.startswith(_BUCKET_BAD_PREFIX) or bucket.endswith(_BUCKET_BAD_SUFFIX):
        why = "uses a prefix or suffix AWS reserves"
    else:
        try:
            ipaddress.IPv4Address(bucket)
            why = "must not look like an IP address"
        except ValueError:
            pass
    return None if why is None else f"bucket name {bucket!r} is invalid: it {why}"


def _serverless_problems(spec: DeploySpec, facts: VariantFacts) -> list[str]:
    out = []
    if spec.memory_mb not in SERVERLESS_MEMORY:
        out.append(f"memory {spec.memory_mb} MB is not allowed: serverless takes 1024-6144 MB in 1024 MB steps "
                   f"({', '.join(map(str, SERVERLESS_MEMORY))})")
    if not 1 <= spec.max_concurrency <= MAX_CONCURRENCY:
        out.append(f"max concurrency {spec.max_concurrency} is out of range 1-{MAX_CONCURRENCY}")
    if spec.provisioned is not None:
        if not 1 <= spec.provisioned <= MAX_CONCURRENCY:
            out.append(f"provisioned concurrency {spec.provisioned} is out of range 1-{MAX_CONCURRENCY}")
        elif spec.provisioned > spec.max_concurrency:
            out.append(f"provisioned concurrency {spec.provisioned} is above max concurrency {spec.max_concurrency}")
    need = required_memory_mb(facts.model_bytes)
    if need > SERVERLESS_MEMORY[-1]:
        out.append(f"{facts.name} ({facts.model_bytes / MB:.0f} MB) is too large for serverless: it needs about "
                   f"{need} MB ({RUNTIME_OVERHEAD_MB} MB runtime + {MODEL_FACTOR:g} x model) and the maximum is "
                   f"6144 MB; deploy it --realtime or shrink it (quantize/prune)")
    elif spec.memory_mb in SERVERLESS_MEMORY and need > spec.memory_mb:
        fit = next(m for m in SERVERLESS_MEMORY if m >= need)
        out.append(f"memory {spec.memory_mb} MB is too small for {facts.name}: it needs about {need} MB "
                   f"({RUNTIME_OVERHEAD_MB} MB runtime + {MODEL_FACTOR:g} x model); use --memory {fit}")
    return out


def _realtime_problems(spec: DeploySpec, facts: VariantFacts) -> list[str]:
    out = []
    if not INSTANCE_RE.match(spec.instance_type or ""):
        out.append(f"{spec.instance_type!r} is not a SageMaker instance type (e.g. ml.c5.xlarge)")
    if spec.initial_count < 1:
        out.append(f"initial instance count must be >= 1, got {spec.initial_count}")
    if not 1 <= spec.min_capacity <= spec.max_capacity:
        out.append(f"autoscaling capacity must satisfy 1 <= min ({spec.min_capacity}) <= max ({spec.max_capacity})")
    elif not spec.min_capacity <= spec.initial_count <= spec.max_capacity:
        out.append(f"initial count {spec.initial_count} is outside autoscaling min/max "
                   f"{spec.min_capacity}-{spec.max_capacity}")
    if spec.target_invocations is not None and not spec.target_invocations > 0:
        out.append("the autoscaling target (invocations per instance per minute) must be > 0")
    if not 0 < spec.target_safety <= 1:
        out.append(f"the autoscaling safety margin {spec.target_safety:g} must be in (0, 1] (default 0.7)")
    from engines.deploy.images import is_gpu_instance

    if facts.gpu_only_reason and INSTANCE_RE.match(spec.instance_type or "") and not is_gpu_instance(spec.instance_type):
        out.append(f"{facts.name} needs a GPU ({facts.gpu_only_reason}) but {spec.instance_type} has none")
    if facts.format == "openvino" and INSTANCE_RE.match(spec.instance_type or "") and is_gpu_instance(spec.instance_type):
        out.append(f"{facts.name} is an OpenVINO IR, which the package runs on CPU: its GPU ({spec.instance_type}) "
                   "would sit idle; choose a CPU instance (e.g. ml.c6i.xlarge)")
    return out


def _aws_problems(spec: DeploySpec, check_image: bool) -> list[str]:
    held = set(getattr(spec, "placeholders", []) or [])   # dry run without credentials: shown, not checked
    problems = [p for f, p in (("role_arn", role_arn_problem(spec.role_arn)), ("bucket", bucket_problem(spec.bucket)))
                if p and f not in held]
    if not ENDPOINT_NAME_RE.match(spec.name or "") or len(spec.name) > 63 - len("-config"):
        problems.append(f"endpoint name {spec.name!r} is invalid: letters, digits and hyphens, at most 56 characters")
    try:
        from engines.deploy.aws import check_region

        check_region(spec.region)
        if check_image and (spec.mode == "serverless"
                            or (spec.mode == "realtime" and INSTANCE_RE.match(spec.instance_type or ""))):
            from engines.deploy.images import image_uri

            image_uri(spec.region, spec.instance_type if spec.mode == "realtime" else None)
    except WorkbenchError as exc:
        problems.append(str(exc))
    return problems


def validate(spec: DeploySpec, facts: VariantFacts, *, check_image: bool = True, aws: bool = True) -> list[str]:
    """Raise one :class:`WorkbenchError` naming every problem; return warnings (possibly empty).

    ``aws=False`` (the local check) skips the role, bucket, name, region and image checks.
    """
    problems: list[str] = []
    warnings: list[str] = []
    if spec.mode not in ("serverless", "realtime"):
        problems.append(f"unknown deployment mode {spec.mode!r}: use serverless or realtime")
    if facts.format == "tensorrt":
        problems.append(f"{facts.name} is a TensorRT engine: it runs only on the NVIDIA GPU it was built for, "
                        "and the SageMaker package runs ONNX Runtime; deploy the ONNX variant it was built from")
    elif facts.format not in ("onnx", "openvino"):
        problems.append(f"{facts.name} is {facts.format}: the SageMaker package runs ONNX Runtime or OpenVINO; "
                        "deploy an ONNX variant or an OpenVINO IR")
    elif spec.mode == "serverless" and facts.gpu_only_reason:
        problems.append(f"serverless is CPU only and {facts.name} needs a GPU ({facts.gpu_only_reason}); "
                        "deploy --realtime on a GPU instance or pick a CPU variant")
    if spec.mode == "serverless":
        problems += _serverless_problems(spec, facts)
    elif spec.mode == "realtime":
        problems += _realtime_problems(spec, facts)
    limit = SERVERLESS_PAYLOAD if spec.mode == "serverless" else REALTIME_PAYLOAD
    for what, size in (("request", facts.request_bytes), ("response", facts.response_bytes)):
        if size is not None and size > limit:
            problems.append(f"a {what} of {facts.name} is {size / MB:.1f} MB ({spec.content_type}); {spec.mode} "
                            f"accepts {limit // MB} MB: send smaller inputs"
                            + (" or use --realtime (6 MB)" if spec.mode == "serverless" else ""))
    if facts.latency_p99_ms is not None:
        if facts.latency_p99_ms >= INVOCATION_LIMIT_MS:
            problems.append(f"measured p99 latency {facts.latency_p99_ms / 1000:.1f} s reaches SageMaker's 60 s "
                            "invocation limit: use a faster variant or a bigger instance")
        elif facts.latency_p99_ms >= INVOCATION_LIMIT_MS / 2:
            warnings.append(f"measured p99 latency {facts.latency_p99_ms / 1000:.1f} s is over half of the 60 s limit")
    if aws:
        problems += _aws_problems(spec, check_image)
    if problems:
        raise WorkbenchError("cannot deploy: " + "; ".join(problems))
    if spec.mode == "serverless":
        warnings.append("serverless cold starts can add seconds to minutes to the first request (ModelSetupTime)")
    return warnings
