"""AWS sessions, clients and error text, shared by deploy and ``prices refresh``.

Credentials come only from boto3's default chain (environment, shared files,
SSO, instance roles). Nothing here ever formats a credential into a message:
errors are reduced to the service's error code and message, and any text that
might still carry a known secret is scrubbed before it is shown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError, first_line

NO_CREDENTIALS = ("no AWS credentials found (boto3's default chain: environment, ~/.aws files, SSO, "
                  "instance role): set AWS_PROFILE or run `aws configure`, then try again")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_KNOWN_SECRETS: set[str] = set()
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")


def check_region(region: str) -> str:
    if not region or not _REGION_RE.match(region):
        raise WorkbenchError(f"{region!r} is not an AWS region name (e.g. us-east-1)")
    return region


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise UnsupportedError("boto3 is not installed: pip install 'workbench[aws]'") from exc
    return boto3


def make_session(region: str, profile: str | None = None) -> Any:
    """A boto3 session on the default credential chain; raises a one-line error without credentials."""
    boto3 = _boto3()
    check_region(region)
    try:
        session = boto3.session.Session(region_name=region, profile_name=profile)
    except Exception as exc:  # ProfileNotFound and friends
        raise WorkbenchError(f"cannot open the AWS profile: {error_text(exc)}") from None
    require_credentials(session)
    return session


def require_credentials(session: Any) -> None:
    try:
        creds = session.get_credentials()
    except Exception as exc:
        raise WorkbenchError(f"cannot read AWS credentials: {error_text(exc)}") from None
    if creds is None:
        raise WorkbenchError(NO_CREDENTIALS)
    try:  # remember the values (in memory only) so that scrub() can remove them from any text
        frozen = creds.get_frozen_credentials()
        _KNOWN_SECRETS.update(v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v)
    except Exception:
        pass


@dataclass
class AwsClients:
    """The four clients a deployment talks to (any of them may be wrapped by tests)."""

    s3: Any
    sagemaker: Any
    runtime: Any
    autoscaling: Any
    region: str
    endpoint_url: str | None = None


def make_clients(region: str, endpoint_url: str | None = None, session: Any = None, *,
                 retries: int = 3) -> AwsClients:
    session = session or make_session(region)
    require_credentials(session)
    kw: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kw["endpoint_url"] = endpoint_url
    from botocore.config import Config

    cfg = Config(retries={"max_attempts": retries, "mode": "standard"}, connect_timeout=10, read_timeout=70)
    return AwsClients(
        s3=session.client("s3", config=cfg, **kw),
        sagemaker=session.client("sagemaker", config=cfg, **kw),
        runtime=session.client("sagemaker-runtime", config=cfg, **kw),
        autoscaling=session.client("application-autoscaling", config=cfg, **kw),
        region=region,
        endpoint_url=endpoint_url,
    )


def error_code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict):
        return str(resp.get("Error", {}).get("Code", ""))
    return ""


def error_text(exc: BaseException) -> str:
    """One line for an AWS/botocore error: code and message, secrets scrubbed."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and resp.get("Error"):
        err = resp["Error"]
        text = f"{err.get('Code', type(exc).__name__)}: {err.get('Message', '')}".strip()
    else:
        name = type(exc).__name__
        if name == "NoCredentialsError":
            return NO_CREDENTIALS
        first = first_line(exc)
        text = f"{name}: {first}" if first else name
    return scrub(" ".join(text.split()))


def scrub(text: str) -> str:
    """Remove any credential value present in the environment from ``text``."""
    values = {os.environ.get(var) or "" for var in _SECRET_ENV} | _KNOWN_SECRETS
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
