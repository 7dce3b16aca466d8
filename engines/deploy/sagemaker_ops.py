"""Run a deployment plan with boto3, rolling back everything on failure; tear endpoints down.

Every resource is recorded as soon as its create call is issued. If any step
fails (or is cancelled), the resources recorded so far are removed in reverse
order and a :class:`DeployError` names the failed step, what was cleaned up
and anything that could not be removed. An endpoint still ``Creating`` cannot
be deleted, so rollback waits for it to leave that state first.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from engines.deploy.aws import AwsClients, error_code, error_text
from engines.deploy.plan import Plan, PlanStep
from engines.errors import Cancelled, WorkbenchError
from engines.tasks import TaskContext, ensure_task

_NOT_FOUND = ("NoSuchKey", "NotFound", "404", "ObjectNotFound", "ResourceNotFound", "ObjectNotFoundException")
_STEP_SPAN = {"upload": (0.0, 0.3), "model": (0.3, 0.35), "endpoint_config": (0.35, 0.4),
              "endpoint": (0.4, 0.45), "wait": (0.45, 0.85), "autoscaling": (0.85, 0.9), "invoke": (0.9, 1.0)}


class DeployError(WorkbenchError):
    def __init__(self, message: str, step: str, cleaned: list[str], left: list[str]) -> None:
        super().__init__(message)
        self.step = step
        self.cleaned = cleaned
        self.left = left


@dataclass
class Resource:
    kind: str                  # s3 | model | endpoint_config | endpoint | scalable_target | scaling_policy
    ident: dict[str, Any]
    label: str
    confirmed: bool = False    # the create call returned (else it may or may not exist)


@dataclass
class DeployResult:
    endpoint_name: str
    mode: str
    region: str
    status: str
    created: list[str]
    invoke_latency_ms: float | None
    invoke_content_type: str | None
    response_preview: str
    step_seconds: dict[str, float] = field(default_factory=dict)
    record_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deployments_dir() -> Any:
    from engines.workspace import default_home

    return default_home() / "deployments"


def _is_not_found(exc: BaseException) -> bool:
    code, text = error_code(exc), error_text(exc)
    return code in _NOT_FOUND or any(s in text for s in ("Could not find", "does not exist", "No scal"))


class _Deployment:
    def __init__(self, plan: Plan, clients: AwsClients, task: TaskContext, sleep: Callable[[float], None]):
        self.plan, self.c, self.task, self.sleep = plan, clients, task, sleep
        self.spec = plan.spec
        self.resources: list[Resource] = []

    # -- steps ------------------------------------------------------------
    def run_step(self, step: PlanStep, request_body: bytes) -> Any:
        sub = self.task.sub(*_STEP_SPAN.get(step.step, (0.0, 1.0)))
        sub.report(0.0, f"{step.service}.{step.operation}")
        p = step.params
        if step.step == "upload":
            return self._upload(p, sub)
        if step.step == "wait":
            return self._wait(p["EndpointName"], sub)
        if step.step == "invoke":
            return self._invoke(request_body)
        kinds = {"create_model": ("model", "ModelName"), "create_endpoint_config": ("endpoint_config",
                 "EndpointConfigName"), "create_endpoint": ("endpoint", "EndpointName")}
        if step.operation in kinds:
            kind, key = kinds[step.operation]
            res = Resource(kind, {key: p[key]}, step.creates or p[key])
            self.resources.append(res)
            out = getattr(self.c.sagemaker, step.operation)(**p)
            res.confirmed = True
            return out
        ident = {k: p[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        if step.operation == "put_scaling_policy":
            ident["PolicyName"] = p["PolicyName"]
        kind = "scaling_policy" if step.operation == "put_scaling_policy" else "scalable_target"
        res = Resource(kind, ident, step.creates or kind)
        self.resources.append(res)
        out = getattr(self.c.autoscaling, step.operation)(**p)
        res.confirmed = True
        return out

    def _upload(self, p: dict[str, Any], sub: TaskContext) -> None:
        from boto3.s3.transfer import TransferConfig

        res = Resource("s3", {"Bucket": p["Bucket"], "Key": p["Key"]}, f"s3://{p['Bucket']}/{p['Key']}")
        self.resources.append(res)
        total = max(1, int(p.get("SizeBytes") or 1))
        sent = [0]

        def progress(n: int) -> None:
            sent[0] += n
            sub.report(sent[0] / total, f"uploading {sent[0] / 1e6:.1f}/{total / 1e6:.1f} MB")

        cfg = TransferConfig(multipart_threshold=int(p["MultipartThresholdBytes"]),
                             multipart_chunksize=max(5 * 1024 * 1024, int(p["MultipartThresholdBytes"])),
                             use_threads=True, max_concurrency=4)
        self.c.s3.upload_file(p["Filename"], p["Bucket"], p["Key"], Config=cfg, Callback=progress)
        res.confirmed = True

    def _wait(self, name: str, sub: TaskContext) -> dict[str, Any]:
        start = time.monotonic()
        while True:
            desc = self.c.sagemaker.describe_endpoint(EndpointName=name)
            status = desc.get("EndpointStatus", "?")
            waited = time.monotonic() - start
            sub.report(min(0.95, waited / max(1.0, self.spec.poll_timeout_s)), f"endpoint {name}: {status} "
                       f"({waited:.0f}s)")
            if status == "InService":
                return desc
            if status in ("Failed", "OutOfService", "Deleting", "RollingBack"):
                reason = desc.get("FailureReason") or "no reason given"
                raise WorkbenchError(f"endpoint {name} is {status}: {reason}")
            if waited > self.spec.poll_timeout_s:
                raise WorkbenchError(f"endpoint {name} still {status} after {self.spec.poll_timeout_s:g}s")
            self.sleep(self.spec.poll_interval_s)

    def _invoke(self, body: bytes) -> tuple[float, str, str]:
        ct = self.spec.content_type
        t0 = time.perf_counter()
        resp = self.c.runtime.invoke_endpoint(EndpointName=self.spec.name, ContentType=ct, Accept=ct, Body=body)
        data = resp["Body"].read()
        ms = (time.perf_counter() - t0) * 1000.0
        preview = data[:200].decode("utf-8", "replace") if isinstance(data, bytes) else str(data)[:200]
        return ms, resp.get("ContentType", ct), preview

    # -- rollback ---------------------------------------------------------
    def rollback(self) -> tuple[list[str], list[str]]:
        cleaned, left = [], []
        for res in reversed(self.resources):
            try:
                removed = delete_resource(self.c, res, self.spec.poll_interval_s, self.spec.poll_timeout_s,
                                          self.sleep)
            except Exception as exc:
                left.append(f"{res.label} ({error_text(exc)})")
                continue
            if removed:
                cleaned.append(res.label)
        self.resources.clear()
        return cleaned, left


def delete_resource(c: AwsClients, res: Resource, interval: float = 5.0, timeout: float = 1800.0,
                    sleep: Callable[[float], None] = time.sleep) -> bool:
    """Delete one resource; False when it did not exist. Waits out an endpoint still Creating/Updating."""
    try:
        if res.kind == "s3":
            if not res.confirmed:
                try:
                    c.s3.head_object(**res.ident)
                except Exception as exc:
                    if _is_not_found(exc) or error_code(exc) in ("403",):
                        return False
                    raise
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
        if _is_not_found(exc):
            return False
        raise
    return True


def deploy(plan: Plan, clients: AwsClients, request_body: bytes, *, task: TaskContext | None = None,
           sleep: Callable[[float], None] = time.sleep, record: bool = True) -> DeployResult:
    """Execute ``plan`` step by step; on any failure roll back and raise :class:`DeployError`."""
    task = ensure_task(task)
    run = _Deployment(plan, clients, task, sleep)
    seconds: dict[str, float] = {}
    invoke: tuple[float, str, str] | None = None
    current = plan.steps[0]
    try:
        for current in plan.steps:
            task.check()
            t0 = time.perf_counter()
            out = run.run_step(current, request_body)
            seconds[current.step] = seconds.get(current.step, 0.0) + time.perf_counter() - t0
            if current.step == "invoke":
                invoke = out
    except BaseException as exc:
        cleaned, left = run.rollback()
        done = "rolled back: " + (", ".join(cleaned) if cleaned else "nothing had been created")
        if left:
            done += f"; could NOT remove {', '.join(left)}: run workbench deploy --teardown {plan.spec.name}"
        if isinstance(exc, (Cancelled, KeyboardInterrupt)):
            task_msg = f"deploy cancelled at step {current.step}; {done}"
            raise DeployError(task_msg, current.step, cleaned, left) from None
        what = error_text(exc) if not isinstance(exc, WorkbenchError) else str(exc)
        raise DeployError(f"deploy failed at step {current.step} ({current.service}.{current.operation}): "
                          f"{what}; {done}", current.step, cleaned, left) from None
    task.report(1.0, f"endpoint {plan.spec.name} InService")
    result = DeployResult(plan.spec.name, plan.spec.mode, plan.spec.region, "InService",
                          [r.label for r in run.resources], invoke[0] if invoke else None,
                          invoke[1] if invoke else None, invoke[2] if invoke else "", seconds)
    if record:
        result.record_path = str(write_record(plan, result, run.resources))
    return result


def write_record(plan: Plan, result: DeployResult, resources: list[Resource]) -> Any:
    """What was created, for teardown later: names and locations only, never credentials."""
    from engines.fsutil import write_text_atomic

    path = deployments_dir() / f"{plan.spec.name}.json"
    doc = {"endpoint": plan.spec.name, "mode": plan.spec.mode, "region": plan.spec.region,
           "endpoint_url": plan.spec.endpoint_url, "image": plan.image, "package": plan.package,
           "resources": [asdict(r) for r in resources], "result": result.to_dict(), "estimate": plan.estimate}
    write_text_atomic(path, json.dumps(doc, indent=1, default=str))
    return path


def teardown(name: str, clients: AwsClients, *, delete_s3: bool = True, task: TaskContext | None = None,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Remove an endpoint and everything the workbench created with it (autoscaling, config, model, S3)."""
    task = ensure_task(task)
    rec_path = deployments_dir() / f"{name}.json"
    record = json.loads(rec_path.read_text(encoding="utf-8")) if rec_path.exists() else None
    resources: list[Resource] = []
    if record:
        resources = [Resource(**r) for r in record.get("resources", [])]
    else:
        resources = _discover(clients, name)
    if not resources:
        raise WorkbenchError(f"no endpoint {name!r} in {clients.region} and no workbench record of it")
    removed, missing, errors = [], [], []
    order = {"scaling_policy": 0, "scalable_target": 1, "endpoint": 2, "endpoint_config": 3, "model": 4, "s3": 5}
    for i, res in enumerate(sorted(resources, key=lambda r: order.get(r.kind, 9))):
        task.report(i / len(resources), f"removing {res.label}")
        if res.kind == "s3" and not delete_s3:
            missing.append(f"{res.label} (kept)")
            continue
        try:
            (removed if delete_resource(clients, res, 5.0, 1800.0, sleep) else missing).append(res.label)
        except Exception as exc:
            errors.append(f"{res.label}: {error_text(exc)}")
    if rec_path.exists() and not errors:
        rec_path.unlink()
    task.report(1.0, f"removed {len(removed)} resources")
    return {"endpoint": name, "removed": removed, "not_found": missing, "errors": errors}


def _discover(c: AwsClients, name: str) -> list[Resource]:
    """Resources of an endpoint found by describing it (when no workbench record exists)."""
    out: list[Resource] = []
    try:
        ep = c.sagemaker.describe_endpoint(EndpointName=name)
    except Exception as exc:
        if _is_not_found(exc):
            return out
        raise WorkbenchError(f"cannot describe endpoint {name}: {error_text(exc)}") from None
    config = ep.get("EndpointConfigName")
    for v in ep.get("ProductionVariants", []):
        rid = f"endpoint/{name}/variant/{v.get('VariantName', 'AllTraffic')}"
        dim = {"ServiceNamespace": "sagemaker", "ResourceId": rid,
               "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
        try:
            pols = c.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)
            for pol in pols.get("ScalingPolicies", []):
                out.append(Resource("scaling_policy", {**dim, "PolicyName": pol["PolicyName"]},
                                    f"scaling policy {pol['PolicyName']}", True))
            tgts = c.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])
            if tgts.get("ScalableTargets"):
                out.append(Resource("scalable_target", dim, f"scalable target {rid}", True))
        except Exception:
            pass
    out.append(Resource("endpoint", {"EndpointName": name}, f"endpoint {name}", True))
    if config:
        out.append(Resource("endpoint_config", {"EndpointConfigName": config}, f"endpoint config {config}", True))
        try:
            cfg = c.sagemaker.describe_endpoint_config(EndpointConfigName=config)
            for v in cfg.get("ProductionVariants", []):
                out.append(Resource("model", {"ModelName": v["ModelName"]}, f"model {v['ModelName']}", True))
        except Exception as exc:
            if not _is_not_found(exc):
                raise WorkbenchError(f"cannot describe endpoint config {config}: {error_text(exc)}") from None
    return out
