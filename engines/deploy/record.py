"""The deployment record: ``$WORKBENCH_HOME/deployments/<endpoint>.json``.

Written atomically before the first create call and again after every step, so
that whatever stops a deployment (a failure, a cut connection, Ctrl+C, SIGTERM,
even SIGKILL) leaves a list of what it may have created for ``--teardown``.
Each resource is ``pending`` while its create call is in flight and
``created`` once it returned; every one listed was created by this deployment
(``created_by_us``). Names and locations only, never credentials.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from engines.deploy.resources import Resource


def deployments_dir() -> Path:
    from engines.workspace import default_home

    return default_home() / "deployments"


def record_path(name: str) -> Path:
    return deployments_dir() / f"{name}.json"


def load_record(name: str) -> dict[str, Any] | None:
    path = record_path(name)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        from engines.errors import WorkbenchError

        raise WorkbenchError(f"the deployment record {path} cannot be read: fix or move it, then try again") from None


def record_resources(doc: dict[str, Any]) -> list[Resource]:
    return [Resource.from_dict(r) for r in doc.get("resources", [])]


def save_record(name: str, doc: dict[str, Any]) -> Path:
    from engines.fsutil import write_text_atomic

    doc["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = record_path(name)
    write_text_atomic(path, json.dumps(doc, indent=1, default=str))
    return path


class Record:
    """The record of one running deployment; :meth:`save` rewrites it atomically."""

    def __init__(self, plan: Any, resources: list[Resource]) -> None:
        spec = plan.spec
        self.path = record_path(spec.name)
        self.resources = resources
        self.doc: dict[str, Any] = {
            "endpoint": spec.name, "deployment_id": spec.deploy_id, "mode": spec.mode, "region": spec.region,
            "endpoint_url": spec.endpoint_url, "status": "deploying", "step": None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "image": plan.image,
            "package": plan.package, "estimate": plan.estimate, "replaced": [], "result": None,
            "cold_start": getattr(plan, "cold_start", None)}
        self.written = False

    def save(self, **fields: Any) -> None:
        self.doc.update(fields)
        self.doc["resources"] = [r.to_dict() for r in self.resources]
        save_record(self.doc["endpoint"], self.doc)
        self.written = True

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
