"""One AWS resource of a deployment: who owns it, and how to delete it.

Ownership is checked on the resource itself, never assumed from its name: the
SageMaker resources a deployment creates carry the tag
``workbench-deployment=<deployment id>`` and its S3 object the same key in its
user metadata. A scalable target or scaling policy is bound to the endpoint
name, and a deployment registers one only for an endpoint it created after
checking that none was registered, so there existence is what is checked.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from engines.deploy.aws import AwsClients, error_code, error_text
from engines.errors import WorkbenchError

DEPLOYMENT_TAG = "workbench-deployment"
_NOT_FOUND = ("NoSuchKey", "NotFound", "404", "ObjectNotFound", "ResourceNotFound", "ObjectNotFoundException",
              "NoSuchBucket")
_DENIED = ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "AccessDeniedException")
ABSENT, OURS, FOREIGN = "absent", "ours", "foreign"
_ARN_KEY = {"model": ("describe_model", "ModelArn"), "endpoint_config": ("describe_endpoint_config",
                                                                         "EndpointConfigArn"),
            "endpoint": ("describe_endpoint", "EndpointArn")}


@dataclass
class Resource:
    kind: str                  # s3 | model | endpoint_config | endpoint | scalable_target | scaling_policy
    ident: dict[str, Any]
    label: str
    state: str = "created"     # pending: its create call was sent and did not return; created: it returned
    created_by_us: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Resource":
        state = d.get("state") or ("created" if d.get("confirmed", True) else "pending")
        return cls(d["kind"], dict(d["ident"]), d["label"], state, bool(d.get("created_by_us", True)))


def is_not_found(exc: BaseException) -> bool:
    code, text = error_code(exc), error_text(exc)
    return code in _NOT_FOUND or any(s in text for s in ("Could not find", "does not exist", "No scal"))


def is_denied(exc: BaseException) -> bool:
    return error_code(exc) in _DENIED


def rejected_outright(exc: BaseException) -> bool:
    """The service answered a first attempt with a 4xx error: the create did not happen.

    Anything else (a cut connection, a timeout, an interrupt, a 5xx, an answer to
    a retry whose first attempt may have succeeded) leaves it unknown.
    """
    meta = (getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}
    status = int(meta.get("HTTPStatusCode") or 0)
    return 400 <= status < 500 and status not in (408, 429) and not meta.get("RetryAttempts")


def probe(c: AwsClients, res: Resource, deployment_id: str | None) -> str:
    """ABSENT, OURS (carries ``deployment_id``; any existing one when it is None) or FOREIGN."""
    try:
        if res.kind == "s3":
            meta = c.s3.head_object(**res.ident).get("Metadata") or {}
            return OURS if deployment_id is None or meta.get(DEPLOYMENT_TAG) == deployment_id else FOREIGN
        if res.kind in _ARN_KEY:
            op, arn_key = _ARN_KEY[res.kind]
            arn = getattr(c.sagemaker, op)(**res.ident)[arn_key]
            if deployment_id is None:
                return OURS
            tags = {t["Key"]: t["Value"] for t in c.sagemaker.list_tags(ResourceArn=arn).get("Tags", [])}
            return OURS if tags.get(DEPLOYMENT_TAG) == deployment_id else FOREIGN
        dim = {k: res.ident[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        if res.kind == "scalable_target":
            found = c.autoscaling.describe_scalable_targets(
                ServiceNamespace=dim["ServiceNamespace"], ResourceIds=[dim["ResourceId"]],
                ScalableDimension=dim["ScalableDimension"]).get("ScalableTargets")
        else:
            found = c.autoscaling.describe_scaling_policies(
                ServiceNamespace=dim["ServiceNamespace"], ResourceId=dim["ResourceId"],
                ScalableDimension=dim["ScalableDimension"], PolicyNames=[res.ident["PolicyName"]]
            ).get("ScalingPolicies")
        return OURS if found else ABSENT
    except Exception as exc:
        if is_not_found(exc):
            return ABSENT
        raise


def delete_resource(c: AwsClients, res: Resource, interval: float = 5.0, timeout: float = 1800.0,
                    sleep: Callable[[float], None] = time.sleep) -> bool:
    """Delete one resource; False when it did not exist. Waits out an endpoint still Creating/Updating."""
    try:
        if res.kind == "s3":
            c.s3.delete_object(**res.ident)
        elif res.kind == "model":
            c.sagemaker.delete_model(**res.ident)
        elif res.kind == "endpoint_config":
            c.sagemaker.delete_endpoint_config(**res.ident)
        elif res.kind == "endpoint":
            name = res.ident["EndpointName"]
            deadline = time.monotonic() + timeout
            while c.sagemaker.describe_endpoint(EndpointName=name).get("EndpointStatus") in ("Creating", "Updating",
                                                                                           "SystemUpdating"):
                if time.monotonic() > deadline:
                    raise WorkbenchError(f"endpoint {name} stayed in a state that cannot be deleted")
                sleep(interval)
            c.sagemaker.delete_endpoint(EndpointName=name)
        elif res.kind == "scaling_policy":
            c.autoscaling.delete_scaling_policy(**res.ident)
        elif res.kind == "scalable_target":
            c.autoscaling.deregister_scalable_target(**res.ident)
    except Exception as exc:
        if is_not_found(exc):
            return False
        raise
    return True
