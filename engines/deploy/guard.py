"""Before the first create: the bucket is usable, no name is taken, and ``--replace`` clears the way.

Nothing here creates anything. An existing endpoint, endpoint config, model,
scalable target or scaling policy with a name the plan will use is refused
(one line naming it and ``--replace``) unless the plan says to replace it; an
object at the deployment's S3 key is never overwritten, with or without
``--replace``. A workbench record of an earlier deployment of the same name is
refused too (``--teardown`` it first), or with ``--replace`` torn down first.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from engines.deploy.aws import AwsClients, error_text
from engines.deploy.record import load_record, record_path, record_resources
from engines.deploy.resources import (ABSENT, FOREIGN, Resource, delete_resource, is_denied, is_not_found,
                                      probe)
from engines.errors import WorkbenchError

TEARDOWN_ORDER = {"scaling_policy": 0, "scalable_target": 1, "endpoint": 2, "endpoint_config": 3, "model": 4,
                  "s3": 5}


def _join(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def check_bucket(c: AwsClients, bucket: str, *, create_ok: bool = False) -> bool:
    """True when the bucket exists and is ours; False when missing and ``create_ok``; else one-line error."""
    try:
        c.s3.head_bucket(Bucket=bucket)
        return True
    except Exception as exc:
        if is_denied(exc):
            raise WorkbenchError(f"cannot use bucket {bucket}: access denied ({error_text(exc)}); it belongs to "
                                 "another account or these credentials may not use it: give a bucket of your "
                                 "account with --bucket") from None
        if is_not_found(exc):
            if create_ok:
                return False
            raise WorkbenchError(f"bucket {bucket} does not exist: create it or give another --bucket") from None
        raise WorkbenchError(f"cannot check bucket {bucket}: {error_text(exc)}; nothing was created") from None


def existing(plan: Any, c: AwsClients) -> list[Resource]:
    """Run the plan's check steps; the resources that already exist (none of them ours)."""
    found = []
    for step in plan.step("check"):
        p = step.params
        if step.operation == "head_bucket":
            check_bucket(c, p["Bucket"], create_ok=bool(getattr(plan.spec, "bucket_default", False)))
            continue
        if step.operation == "head_object":
            res = Resource("s3", {"Bucket": p["Bucket"], "Key": p["Key"]}, f"s3://{p['Bucket']}/{p['Key']}")
        else:
            r = step.resource or {}
            res = Resource(r["kind"], dict(r["ident"]), r["label"], created_by_us=False)
        try:
            if probe(c, res, plan.spec.deploy_id) != ABSENT:
                found.append(res)
        except Exception as exc:
            why = "access denied" if is_denied(exc) else "the check failed"
            raise WorkbenchError(f"cannot tell whether {res.label} exists ({why}: {error_text(exc)}); nothing "
                                 "was created") from None
    return found


def refuse_or_replace(plan: Any, c: AwsClients, found: list[Resource], sleep: Callable[[float], None]) -> list[str]:
    """Raise unless the way is clear; with --replace remove what is in the way. Returns what was replaced."""
    spec = plan.spec
    taken = [r.label for r in found if r.kind == "s3"]
    if taken:
        raise WorkbenchError(f"{taken[0]} already exists and is never overwritten: deploy again (a new deployment "
                             "gets a new key) or use another --prefix")
    previous = load_record(spec.name)
    labels = [r.label for r in found]
    if not spec.replace:
        if labels:
            rec = f" (a workbench record of an earlier deployment is at {record_path(spec.name)})" if previous else ""
            verb, them = ("exists", "it") if len(labels) == 1 else ("exist", "them")
            raise WorkbenchError(f"cannot deploy {spec.name}: {_join(labels)} already {verb}{rec}: choose another "
                                 f"--name, or pass --replace to delete and replace {them}")
        if previous:
            raise WorkbenchError(f"cannot deploy {spec.name}: a workbench record of an earlier deployment exists at "
                                 f"{record_path(spec.name)}: run workbench deploy --teardown {spec.name} first, or "
                                 "pass --replace")
        return []
    replaced: list[str] = []
    if previous:
        if not [s for s in plan.step("replace") if s.operation == "teardown"]:
            raise WorkbenchError(f"a workbench record of {spec.name} appeared after the plan was made: plan again")
        out = remove_resources(c, record_resources(previous), previous.get("deployment_id"), sleep=sleep)
        if out["errors"]:
            raise WorkbenchError(f"--replace could not remove the earlier deployment: {'; '.join(out['errors'])}; "
                                 "nothing was created")
        record_path(spec.name).unlink(missing_ok=True)
        replaced += out["removed"]
    in_way = {r.label for r in found}
    for step in plan.step("replace"):
        r = step.resource or {}
        if r.get("label") not in in_way:
            continue
        res = Resource(r["kind"], dict(r["ident"]), r["label"], created_by_us=False)
        try:
            if delete_resource(c, res, spec.poll_interval_s, spec.poll_timeout_s, sleep):
                replaced.append(res.label)
        except Exception as exc:
            raise WorkbenchError(f"--replace could not delete {res.label}: {error_text(exc)}; nothing was "
                                 "created") from None
    return replaced


def remove_resources(c: AwsClients, resources: list[Resource], deployment_id: str | None, *, delete_s3: bool = True,
                     task: Any = None, sleep: Callable[[float], None] = time.sleep) -> dict[str, list]:
    """Delete what ``deployment_id`` created (checked on each resource); keep anything else."""
    removed, missing, kept, errors, remaining = [], [], [], [], []
    ordered = sorted(resources, key=lambda r: TEARDOWN_ORDER.get(r.kind, 9))
    for i, res in enumerate(ordered):
        if task is not None:
            task.report(i / len(ordered), f"removing {res.label}")
        if not res.created_by_us:
            kept.append(f"{res.label} (not created by workbench: kept)")
            continue
        if res.kind == "s3" and not delete_s3:
            kept.append(f"{res.label} (kept)")
            remaining.append(res)
            continue
        try:
            who = probe(c, res, deployment_id)
            if who == ABSENT:
                missing.append(res.label)
            elif who == FOREIGN:
                kept.append(f"{res.label} (not created by deployment {deployment_id}: kept)")
            else:
                (removed if delete_resource(c, res, 5.0, 1800.0, sleep) else missing).append(res.label)
        except Exception as exc:
            errors.append(f"{res.label}: {error_text(exc)}")
            remaining.append(res)
    return {"removed": removed, "not_found": missing, "kept": kept, "errors": errors, "remaining": remaining}
