"""What the user asked to deploy (``DeploySpec``) and what we know of the variant (``VariantFacts``)."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

MB = 1024 * 1024


@dataclass
class DeploySpec:
    mode: str = "serverless"                 # serverless | realtime
    name: str = ""                           # endpoint name; model/config names derive from it
    region: str = "us-east-1"
    role_arn: str = ""
    bucket: str = ""
    prefix: str = "workbench"
    endpoint_url: str | None = None
    # serverless
    memory_mb: int = 2048
    max_concurrency: int = 5
    provisioned: int | None = None
    # real-time
    instance_type: str = "ml.c5.xlarge"
    initial_count: int = 1
    # SageMakerVariantInvocationsPerInstance target (per instance per minute): None = derived from the measured
    # per-instance throughput x target_safety (engines/deploy/capacity.py); a number is the user's override
    target_invocations: float | None = None
    target_safety: float = 0.7
    min_capacity: int = 1
    max_capacity: int = 4
    # request used for the test invocation and payload checks
    content_type: str = "application/json"
    multipart_threshold: int = 8 * MB
    delete_s3_on_teardown: bool = True
    poll_interval_s: float = 15.0
    poll_timeout_s: float = 1800.0
    variant_name: str = "AllTraffic"
    deploy_id: str = ""                      # unique per deployment: in the S3 key and every resource's tag
    replace: bool = False                    # delete existing resources with the same names first
    bucket_default: bool = False             # the SageMaker SDK default bucket: created when missing, then kept
    placeholders: list[str] = field(default_factory=list)  # fields shown as placeholders (dry run, no credentials)

    @property
    def model_name(self) -> str:
        return f"{self.name}-model"

    @property
    def config_name(self) -> str:
        return f"{self.name}-config"

    @property
    def s3_key(self) -> str:
        run = f"{self.deploy_id}/" if self.deploy_id else ""
        return f"{self.prefix.strip('/')}/{self.name}/{run}model.tar.gz".lstrip("/")

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.s3_key}"

    @property
    def scaling_resource_id(self) -> str:
        return f"endpoint/{self.name}/variant/{self.variant_name}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VariantFacts:
    name: str
    format: str                       # onnx | tensorrt | tflite | ...
    model_bytes: int
    request_bytes: int | None = None
    response_bytes: int | None = None
    latency_p99_ms: float | None = None
    gpu_only_reason: str | None = None
    notes: list[str] = field(default_factory=list)


def new_deploy_id(now: float | None = None) -> str:
    """``<yyyymmddThhmmss>-<8 hex>``: unique per deployment, sortable by time."""
    import secrets

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{secrets.token_hex(4)}"


def default_name(variant_name: str, now: float | None = None) -> str:
    """``wb-<variant>-<yyyymmdd-hhmmss>``, trimmed to SageMaker's 63 characters."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", variant_name).strip("-").lower() or "model"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    # "-config" is appended for the endpoint config: keep room for it
    return f"wb-{slug[: 63 - len('wb--') - len(stamp) - len('-config')]}-{stamp}".replace("--", "-")
