"""Defaults users expect from the SageMaker Python SDK: the default bucket and the execution role.

* **Bucket**: ``--bucket`` > ``WORKBENCH_SAGEMAKER_BUCKET`` > the SDK config file's
  ``SageMaker.PythonSDK.Modules.Session.DefaultS3Bucket`` > ``sagemaker-{region}-{account}``
  (the SDK's ``Session.default_bucket()`` name; the account from STS
  ``get_caller_identity``). The default bucket is created when missing (plan step
  ``create_bucket``) and kept afterwards, as the SDK does. A bucket of that name owned
  by another account answers AccessDenied: deploy stops with one line, nothing deleted.
* **Role**: ``--role`` > ``WORKBENCH_SAGEMAKER_ROLE`` > ``SAGEMAKER_ROLE_ARN`` > the SDK config file's
  ``SageMaker.Model.ExecutionRoleArn``.

The SDK config file is ``$SAGEMAKER_USER_CONFIG_OVERRIDE`` or
``~/.config/sagemaker/config.yaml`` (the SDK's own locations). Without credentials
(``--dry-run``), unknown values are shown as placeholders ``<account>`` / ``<role>``
and marked as such in the plan; a real deploy never runs with a placeholder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT_PLACEHOLDER = "<account>"
ROLE_PLACEHOLDER = "<role: give --role or set WORKBENCH_SAGEMAKER_ROLE>"


@dataclass
class Resolved:
    value: str
    source: str                  # where it came from, shown in the plan
    placeholder: bool = False
    default_bucket: bool = False  # the SDK default: created when missing


def sdk_config() -> dict[str, Any]:
    """The SageMaker SDK's user config file (YAML), or {} when absent or unreadable."""
    path = Path(os.environ.get("SAGEMAKER_USER_CONFIG_OVERRIDE") or Path.home() / ".config/sagemaker/config.yaml")
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        return {}
    try:
        import yaml

        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:
        return {}
    return doc if isinstance(doc, dict) else {}


def _dig(doc: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(k)
    return doc


def resolve_role(given: str = "") -> Resolved:
    if given:
        return Resolved(given, "--role")
    for var in ("WORKBENCH_SAGEMAKER_ROLE", "SAGEMAKER_ROLE_ARN"):
        if os.environ.get(var):
            return Resolved(os.environ[var].strip(), f"${var}")
    arn = _dig(sdk_config(), "SageMaker", "Model", "ExecutionRoleArn")
    if isinstance(arn, str) and arn:
        return Resolved(arn, "SageMaker SDK config (SageMaker.Model.ExecutionRoleArn)")
    return Resolved(ROLE_PLACEHOLDER, "not given", placeholder=True)


def account_id(session: Any, endpoint_url: str | None = None, region: str = "us-east-1") -> str | None:
    """The caller's account from STS, or None without credentials."""
    if session is None:
        return None
    try:
        kw: dict[str, Any] = {"region_name": region}
        if endpoint_url:
            kw["endpoint_url"] = endpoint_url
        return str(session.client("sts", **kw).get_caller_identity()["Account"])
    except Exception:
        return None


def resolve_bucket(given: str, region: str, account: str | None) -> Resolved:
    if given:
        return Resolved(given, "--bucket")
    if os.environ.get("WORKBENCH_SAGEMAKER_BUCKET"):
        return Resolved(os.environ["WORKBENCH_SAGEMAKER_BUCKET"].strip(), "$WORKBENCH_SAGEMAKER_BUCKET")
    cfg = _dig(sdk_config(), "SageMaker", "PythonSDK", "Modules", "Session", "DefaultS3Bucket")
    if isinstance(cfg, str) and cfg:
        return Resolved(cfg, "SageMaker SDK config (DefaultS3Bucket)", default_bucket=True)
    if account:
        return Resolved(f"sagemaker-{region}-{account}", "SageMaker SDK default (created when missing)",
                        default_bucket=True)
    return Resolved(f"sagemaker-{region}-{ACCOUNT_PLACEHOLDER}", "SageMaker SDK default; account unknown without "
                    "credentials", placeholder=True, default_bucket=True)


def apply_defaults(spec: Any, session: Any = None) -> list[str]:
    """Fill ``spec.role_arn`` / ``spec.bucket``; returns the lines saying where each came from."""
    role = resolve_role(spec.role_arn)
    account = None
    if not spec.bucket and not os.environ.get("WORKBENCH_SAGEMAKER_BUCKET"):
        account = account_id(session, spec.endpoint_url, spec.region)
    bucket = resolve_bucket(spec.bucket, spec.region, account)
    spec.role_arn, spec.bucket = role.value, bucket.value
    spec.bucket_default = bucket.default_bucket
    spec.placeholders = [f for f, r in (("role_arn", role), ("bucket", bucket)) if r.placeholder]
    out = [f"role: {role.value} ({role.source})", f"bucket: {bucket.value} ({bucket.source})"]
    return [line + ("  [placeholder]" if "<" in line.split(" (")[0] else "") for line in out]
