"""Run a deployment plan with boto3, rolling back what it created on failure; tear endpoints down.

Before anything is created the plan's checks run (:mod:`engines.deploy.guard`):
a taken name is refused unless the plan replaces it. Then the deployment record
(:mod:`engines.deploy.record`) is written, and updated around every create
call: ``pending`` while the call is in flight, ``created`` once it returned. If
any step fails, is cancelled or interrupted (SIGINT, or SIGTERM turned into the
same by the CLI), rollback deletes in reverse order only what this deployment
created: a pending resource is deleted only when it exists and carries this
deployment's tag. Whatever could not be removed stays in the record, and
``--teardown`` removes exactly that later. An endpoint still ``Creating``
cannot be deleted, so rollback waits for it to leave that state first.
"""

from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from engines.deploy.aws import AwsClients, error_text
from engines.deploy.guard import existing, refuse_or_replace, remove_resources
from engines.deploy.plan import Plan, PlanStep
from engines.deploy.record import deployments_dir, load_record, record_path, record_resources, save_record
from engines.deploy.resources import OURS, Resource, delete_resource, is_not_found, probe, rejected_outright
from engines.errors import Cancelled, WorkbenchError
from engines.tasks import TaskContext, ensure_task

__all__ = ["DeployCancelled", "DeployError", "DeployResult", "Resource", "delete_resource", "deploy",
           "deployments_dir", "teardown"]
_STEP_SPAN = {"bucket": (0.0, 0.01), "upload": (0.01, 0.3), "model": (0.3, 0.35), "endpoint_config": (0.35, 0.4),
              "endpoint": (0.4, 0.45), "wait": (0.45, 0.85), "autoscaling": (0.85, 0.9), "invoke": (0.9, 1.0)}


class DeployError(WorkbenchError):
    def __init__(self, message: str, step: str, cleaned: list[str], left: list[str]) -> None:
        super().__init__(message)
        self.step = step
        self.cleaned = cleaned
        self.left = left


class DeployCancelled(DeployError):
    """Cancelled (task cancel, Ctrl+C, SIGTERM): ``signum`` is the signal, if one caused it."""

    def __init__(self, message: str, step: str, cleaned: list[str], left: list[str],
                 signum: int | None = None) -> None:
        super().__init__(message, step, cleaned, left)
        self.signum = signum


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
    deployment_id: str = ""
    replaced: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Deployment:
    def __init__(self, plan: Plan, clients: AwsClients, task: TaskContext, sleep: Callable[[float], None]):
        self.plan, self.c, self.task, self.sleep = plan, clients, task, sleep
        self.spec = plan.spec
        self.resources: list[Resource] = []
        from engines.deploy.record import Record

        self.rec = Record(plan, self.resources)

    # -- steps ------------------------------------------------------------
    def run_step(self, step: PlanStep, request_body: bytes) -> Any:
        sub = self.task.sub(*_STEP_SPAN.get(step.step, (0.0, 1.0)))
        sub.report(0.0, f"{step.service}.{step.operation}")
        p = step.params
        if step.step == "wait":
            return self._wait(p["EndpointName"], sub)
        if step.step == "invoke":
            return self._invoke(request_body)
        if step.step == "bucket":
            return self._ensure_bucket(p)
        if step.step == "upload":
            res = Resource("s3", {"Bucket": p["Bucket"], "Key": p["Key"]}, f"s3://{p['Bucket']}/{p['Key']}")
            return self._create(res, lambda: self._upload(p, sub))
        kinds = {"create_model": ("model", "ModelName"), "create_endpoint_config": ("endpoint_config",
                 "EndpointConfigName"), "create_endpoint": ("endpoint", "EndpointName")}
        if step.operation in kinds:
            kind, key = kinds[step.operation]
            res = Resource(kind, {key: p[key]}, step.creates or p[key])
            return self._create(res, lambda: getattr(self.c.sagemaker, step.operation)(**p))
        ident = {k: p[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        if step.operation == "put_scaling_policy":
            ident["PolicyName"] = p["PolicyName"]
        kind = "scaling_policy" if step.operation == "put_scaling_policy" else "scalable_target"
        return self._create(Resource(kind, ident, step.creates or kind),
                            lambda: getattr(self.c.autoscaling, step.operation)(**p))

    def _create(self, res: Resource, call: Callable[[], Any]) -> Any:
        """Record the resource as pending, make the call, mark it created: the record is saved around it."""
        res.state = "pending"
        self.resources.append(res)
        self.rec.save()
        try:
            out = call()
        except Exception as exc:
            if rejected_outright(exc):  # the service refused it: nothing exists to roll back
                self.resources.remove(res)
            raise
        res.state = "created"
        self.rec.save()
        return out

    def _ensure_bucket(self, p: dict[str, Any]) -> str:
        """The SDK default bucket: created when missing, never deleted (not a resource of this deployment)."""
        from engines.deploy.guard import check_bucket

        if check_bucket(self.c, p["Bucket"], create_ok=True):
            return "exists"
        self.c.s3.create_bucket(**p)
        self.rec.save(bucket_created=p["Bucket"])
        return "created"

    def _upload(self, p: dict[str, Any], sub: TaskContext) -> None:
        from boto3.s3.transfer import TransferConfig

        total = max(1, int(p.get("SizeBytes") or 1))
        sent = [0]

        def progress(n: int) -> None:
            sent[0] += n
            sub.report(sent[0] / total, f"uploading {sent[0] / 1e6:.1f}/{total / 1e6:.1f} MB")

        cfg = TransferConfig(multipart_threshold=int(p["MultipartThresholdBytes"]),
                             multipart_chunksize=max(5 * 1024 * 1024, int(p["MultipartThresholdBytes"])),
                             use_threads=True, max_concurrency=4)
        extra = {"Metadata": dict(p["Metadata"])} if p.get("Metadata") else None
        self.c.s3.upload_file(p["Filename"], p["Bucket"], p["Key"], Config=cfg, Callback=progress,
                              ExtraArgs=extra)

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
        """Delete in reverse order what this deployment created; the record keeps what could not be."""
        cleaned: list[str] = []
        left: list[str] = []
        try:
            for res in reversed(list(self.resources)):
                try:
                    if res.state == "pending" and probe(self.c, res, self.spec.deploy_id) != OURS:
                        self._forget(res)  # its create never happened (or the name is someone else's)
                        continue
                    removed = delete_resource(self.c, res, self.spec.poll_interval_s, self.spec.poll_timeout_s,
                                              self.sleep)
                except Exception as exc:
                    left.append(f"{res.label} ({error_text(exc)})")
                    continue
                self._forget(res)
                if removed:
                    cleaned.append(res.label)
        except KeyboardInterrupt:  # a second Ctrl+C/SIGTERM stops the rollback; the record keeps the rest
            done = {x.split(" (")[0] for x in left}
            left += [f"{r.label} (rollback interrupted)" for r in self.resources if r.label not in done]
        if not self.resources:
            self.rec.remove()
        elif self.rec.written:
            self.rec.save(status="rollback incomplete")
        return cleaned, left

    def _forget(self, res: Resource) -> None:
        self.resources.remove(res)
        if self.rec.written and self.resources:
            self.rec.save()

    def fail(self, exc: BaseException, current: PlanStep) -> DeployError:
        cancelled = isinstance(exc, (Cancelled, KeyboardInterrupt))
        signum = getattr(exc, "signum", None)
        what = "cancelled" if cancelled else (str(exc) if isinstance(exc, WorkbenchError) else error_text(exc))
        if self.rec.written:
            try:
                self.rec.save(status="rolling back", error=f"{current.step}: {what}")
            except BaseException:
                pass
        cleaned, left = self.rollback()
        done = "rolled back: " + (", ".join(cleaned) if cleaned else "nothing had been created")
        if left:
            done += (f"; could NOT remove {', '.join(left)}: they are listed in {self.rec.path}; run workbench "
                     f"deploy --teardown {self.spec.name}")
        if cancelled:
            by = f" by {signal.Signals(signum).name}" if signum else ""
            return DeployCancelled(f"deploy cancelled{by} at step {current.step}; {done}", current.step, cleaned,
                                   left, signum)
        return DeployError(f"deploy failed at step {current.step} ({current.service}.{current.operation}): "
                           f"{what}; {done}", current.step, cleaned, left)


def deploy(plan: Plan, clients: AwsClients, request_body: bytes, *, task: TaskContext | None = None,
           sleep: Callable[[float], None] = time.sleep, record: bool = True) -> DeployResult:
    """Check, then execute ``plan`` step by step; on any failure roll back and raise :class:`DeployError`.

    ``record=False`` removes the record once the deployment succeeded (it is kept while it runs).
    """
    if plan.spec.placeholders:  # a dry run's plan without credentials: never deployed as is
        raise WorkbenchError(f"the plan has placeholders ({', '.join(plan.spec.placeholders)}): give --role and "
                             "--bucket (or credentials for the default bucket) and plan again")
    task = ensure_task(task)
    run = _Deployment(plan, clients, task, sleep)
    replaced: list[str] = []
    try:
        task.report(0.0, "checking that no name is taken")
        replaced = refuse_or_replace(plan, clients, existing(plan, clients), sleep)
    except (Cancelled, KeyboardInterrupt) as exc:
        signum = getattr(exc, "signum", None)
        by = f" by {signal.Signals(signum).name}" if signum else ""
        part = " (--replace may have deleted part of what it replaces)" if plan.spec.replace else ""
        raise DeployCancelled(f"deploy cancelled{by} before anything was created{part}", "check", [], [],
                              signum) from None
    seconds: dict[str, float] = {}
    invoke: tuple[float, str, str] | None = None
    steps = [s for s in plan.steps if s.step not in ("check", "replace")]
    current = steps[0]
    try:
        run.rec.save(replaced=replaced)  # before the first create
        for current in steps:
            task.check()
            run.rec.save(step=current.step)
            t0 = time.perf_counter()
            out = run.run_step(current, request_body)
            seconds[current.step] = seconds.get(current.step, 0.0) + time.perf_counter() - t0
            if current.step == "invoke":
                invoke = out
    except BaseException as exc:
        raise run.fail(exc, current) from None
    task.report(1.0, f"endpoint {plan.spec.name} InService")
    result = DeployResult(plan.spec.name, plan.spec.mode, plan.spec.region, "InService",
                          [r.label for r in run.resources], invoke[0] if invoke else None,
                          invoke[1] if invoke else None, invoke[2] if invoke else "", seconds,
                          deployment_id=plan.spec.deploy_id, replaced=replaced)
    if record:
        result.record_path = str(run.rec.path)
        run.rec.save(status="in service", step=None, result=result.to_dict())
    else:
        run.rec.remove()
    return result


def teardown(name: str, clients: AwsClients, *, delete_s3: bool = True, task: TaskContext | None = None,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Remove what the workbench created for endpoint ``name``: from its record, else by describing it."""
    task = ensure_task(task)
    doc = load_record(name)
    resources = record_resources(doc) if doc else _discover(clients, name)
    if not resources and not doc:
        raise WorkbenchError(f"no endpoint {name!r} in {clients.region} and no workbench record of it")
    out = remove_resources(clients, resources, doc.get("deployment_id") if doc else None, delete_s3=delete_s3,
                           task=task, sleep=sleep)
    remaining = out.pop("remaining")
    if doc is not None:
        if out["errors"] or remaining:
            doc.update(resources=[r.to_dict() for r in remaining], status="teardown incomplete")
            save_record(name, doc)
        else:
            record_path(name).unlink(missing_ok=True)
    task.report(1.0, f"removed {len(out['removed'])} resources")
    return {"endpoint": name, **out, "not_found": out["not_found"] + out["kept"]}


def _tagged(c: AwsClients, arn: str | None) -> bool:
    """True when the resource carries the workbench's created-by tag."""
    if not arn:
        return False
    try:
        tags = c.sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
    except Exception:
        return False
    return any(t.get("Key") == "created-by" and t.get("Value") == "workbench" for t in tags)


def _discover(c: AwsClients, name: str) -> list[Resource]:
    """Resources of an endpoint found by describing it (no record); only workbench-tagged ones are ours."""
    out: list[Resource] = []
    try:
        ep = c.sagemaker.describe_endpoint(EndpointName=name)
    except Exception as exc:
        if is_not_found(exc):
            return out
        raise WorkbenchError(f"cannot describe endpoint {name}: {error_text(exc)}") from None
    ours = _tagged(c, ep.get("EndpointArn"))
    config = ep.get("EndpointConfigName")
    for v in ep.get("ProductionVariants", []):
        rid = f"endpoint/{name}/variant/{v.get('VariantName', 'AllTraffic')}"
        dim = {"ServiceNamespace": "sagemaker", "ResourceId": rid,
               "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
        try:
            pols = c.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)
            for pol in pols.get("ScalingPolicies", []):
                out.append(Resource("scaling_policy", {**dim, "PolicyName": pol["PolicyName"]},
                                    f"scaling policy {pol['PolicyName']}", created_by_us=ours))
            tgts = c.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])
            if tgts.get("ScalableTargets"):
                out.append(Resource("scalable_target", dim, f"scalable target {rid}", created_by_us=ours))
        except Exception:
            pass
    out.append(Resource("endpoint", {"EndpointName": name}, f"endpoint {name}", created_by_us=ours))
    if config:
        try:
            cfg = c.sagemaker.describe_endpoint_config(EndpointConfigName=config)
        except Exception as exc:
            if not is_not_found(exc):
                raise WorkbenchError(f"cannot describe endpoint config {config}: {error_text(exc)}") from None
            return out
        out.append(Resource("endpoint_config", {"EndpointConfigName": config}, f"endpoint config {config}",
                            created_by_us=_tagged(c, cfg.get("EndpointConfigArn"))))
        for v in cfg.get("ProductionVariants", []):
            try:
                arn = c.sagemaker.describe_model(ModelName=v["ModelName"]).get("ModelArn")
            except Exception as exc:
                if is_not_found(exc):
                    continue
                raise WorkbenchError(f"cannot describe model {v['ModelName']}: {error_text(exc)}") from None
            out.append(Resource("model", {"ModelName": v["ModelName"]}, f"model {v['ModelName']}",
                                created_by_us=_tagged(c, arn)))
    return out
