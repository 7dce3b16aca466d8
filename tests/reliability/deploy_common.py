"""Shared by the deploy reliability tests: plans, labels of what exists, the record on disk."""

from __future__ import annotations

import json
from typing import Any

from engines.deploy.prepare import prepare
from engines.deploy.spec import DeploySpec
from tests.unit.deploy_helpers import BUCKET, ROLE, leftovers, measured


def prepared(target: Any, tmp_path: Any, url: str, name: str, mode: str = "realtime", **kw: Any) -> Any:
    spec = DeploySpec(mode=mode, name=name, role_arn=ROLE, bucket=kw.pop("bucket", BUCKET), endpoint_url=url,
                      poll_interval_s=0.01, **kw)
    return prepare(target, spec, out_dir=tmp_path / f"pkg-{name}", measured=measured())


def labels(clients: Any, bucket: str = BUCKET) -> set[str]:
    """Everything that exists, named as deploy labels its resources."""
    left = leftovers(clients, bucket)
    return ({f"s3://{bucket}/{k}" for k in left["s3"]} | {f"model {m}" for m in left["models"]}
            | {f"endpoint config {c}" for c in left["configs"]} | {f"endpoint {e}" for e in left["endpoints"]}
            | {f"scalable target {t}" for t in left["targets"]} | {f"scaling policy {p}" for p in left["policies"]})


def record(name: str) -> dict[str, Any] | None:
    """The deployment record of ``name`` ($WORKBENCH_HOME/deployments/<name>.json), or None."""
    from engines.workspace import default_home

    path = default_home() / "deployments" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def someone_elses(clients: Any, *, endpoint: str | None = None, config: str = "other-config",
                  model: str = "other-model", key: str = "theirs/keep.bin") -> None:
    """Resources this workbench never created: an object, a model, a config and (optionally) an endpoint."""
    clients.s3.put_object(Bucket=BUCKET, Key=key, Body=b"not yours")
    clients.sagemaker.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                                   PrimaryContainer={"Image": "theirs", "ModelDataUrl": f"s3://{BUCKET}/{key}"})
    clients.sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model,
                             "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}])
    if endpoint:
        clients.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
