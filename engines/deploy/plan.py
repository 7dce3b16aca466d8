"""The dry run: every API call a deployment will make, in order, with its parameters.

:func:`make_plan` builds the exact parameter dicts that
:mod:`engines.deploy.sagemaker_ops` then sends, so what the user confirmed is
what runs. Plans hold names, ARNs of the role, the image and S3 locations:
no credentials are ever part of a plan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engines.deploy.resources import DEPLOYMENT_TAG
from engines.deploy.spec import DeploySpec, VariantFacts

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TAGS = [{"Key": "created-by", "Value": "workbench"}]


@dataclass
class PlanStep:
    step: str                 # check | replace | upload | model | endpoint_config | endpoint | wait | autoscaling
    #                           | invoke
    service: str              # s3 | sagemaker | application-autoscaling | sagemaker-runtime
    operation: str
    params: dict[str, Any]
    creates: str | None = None
    note: str = ""
    resource: dict[str, Any] | None = None   # check/replace: {kind, ident, label} of the resource concerned

    def line(self) -> str:
        shown = {k: v for k, v in self.params.items() if k != "Body"}
        return f"{self.service}.{self.operation}({_compact(shown)})" + (f"  # {self.note}" if self.note else "")


def _compact(d: Any, top: bool = True) -> str:
    if isinstance(d, dict):
        inner = ", ".join(f"{k}={_compact(v, False)}" for k, v in d.items())
        return inner if top else "{" + inner + "}"
    if isinstance(d, list):
        return "[" + ", ".join(_compact(x, False) for x in d) + "]"
    return repr(d)


@dataclass
class Plan:
    spec: DeploySpec
    image: str
    package: dict[str, Any]
    steps: list[PlanStep]
    estimate: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    facts: VariantFacts | None = None
    cold_start: dict[str, Any] | None = None     # engines.deploy.coldstart: measured locally, with advice
    autoscaling: dict[str, Any] | None = None    # real-time: engines.deploy.capacity.AutoscalingTarget
    rightsize: dict[str, Any] | None = None      # real-time: engines.cost.instance_fit.InstanceFit

    def step(self, name: str) -> list[PlanStep]:
        return [s for s in self.steps if s.step == name]

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "image": self.image, "package": self.package,
                "steps": [asdict(s) for s in self.steps], "estimate": self.estimate, "warnings": self.warnings,
                "facts": asdict(self.facts) if self.facts else None, "cold_start": self.cold_start,
                "autoscaling": self.autoscaling, "rightsize": self.rightsize}

    def lines(self) -> list[str]:
        out = [f"{i + 1}. {s.line()}" for i, s in enumerate(self.steps)]
        if self.spec.placeholders:
            out.append(f"placeholders (no credentials, dry run only): {', '.join(self.spec.placeholders)}")
        if self.autoscaling:
            out.append(self.autoscaling["line"])
        if self.estimate:
            out.append(f"estimated monthly cost: {self.estimate['summary']}")
        if self.rightsize and self.rightsize.get("line"):
            out.append(("right-size warning: " if self.rightsize.get("warning") else "right-size: ")
                       + self.rightsize["line"])
        if self.cold_start:
            out.append(self.cold_start.get("line") or "cold start measured")
            if self.cold_start.get("advice"):
                out.append(f"provisioned concurrency: {self.cold_start['advice']['text']}")
        return out


def _guard_steps(spec: DeploySpec, previous: dict[str, Any] | None) -> list[PlanStep]:
    """The existence checks run before anything is created, and with --replace what is removed first."""
    target = {"ServiceNamespace": "sagemaker", "ResourceId": spec.scaling_resource_id,
              "ScalableDimension": SCALABLE_DIMENSION}
    policy = f"{spec.name}-invocations"
    pol_ident = {**target, "PolicyName": policy}
    named = [("endpoint", "describe_endpoint", {"EndpointName": spec.name}, None, f"endpoint {spec.name}"),
             ("endpoint_config", "describe_endpoint_config", {"EndpointConfigName": spec.config_name}, None,
              f"endpoint config {spec.config_name}"),
             ("model", "describe_model", {"ModelName": spec.model_name}, None, f"model {spec.model_name}")]
    scaling = [("scaling_policy", "describe_scaling_policies", pol_ident,
                {**target, "PolicyNames": [policy]}, f"scaling policy {policy}"),
               ("scalable_target", "describe_scalable_targets", target,
                {"ServiceNamespace": "sagemaker", "ResourceIds": [spec.scaling_resource_id],
                 "ScalableDimension": SCALABLE_DIMENSION}, f"scalable target {spec.scaling_resource_id}")]
    if spec.mode == "realtime":
        named = scaling + named
    if_exists = ("--replace: deleted first if it exists" if spec.replace
                 else "refused if it exists (--replace replaces it)")
    steps = [PlanStep("check", "s3", "head_bucket", {"Bucket": spec.bucket},
                      note="the bucket must be yours" + ("; created below when missing (SageMaker SDK default)"
                                                         if spec.bucket_default else "")),
             PlanStep("check", "s3", "head_object", {"Bucket": spec.bucket, "Key": spec.s3_key},
                      note="refused if it exists: an object is never overwritten")]
    steps += [PlanStep("check", "application-autoscaling" if kind.startswith("scal") else "sagemaker", op,
                       call or ident, note=if_exists, resource={"kind": kind, "ident": ident, "label": label})
              for kind, op, ident, call, label in named]
    if not spec.replace:
        return steps
    if previous:
        labels = [r.get("label", "?") for r in previous.get("resources", [])]
        steps.append(PlanStep("replace", "workbench", "teardown",
                              {"EndpointName": spec.name, "DeploymentId": previous.get("deployment_id")},
                              note=f"--replace: remove what the earlier deployment created: {', '.join(labels)}",
                              resource={"kind": "record", "ident": {}, "label": f"record of {spec.name}"}))
    deletes = {"endpoint": "delete_endpoint", "endpoint_config": "delete_endpoint_config", "model": "delete_model",
               "scaling_policy": "delete_scaling_policy", "scalable_target": "deregister_scalable_target"}
    steps += [PlanStep("replace", "application-autoscaling" if kind.startswith("scal") else "sagemaker",
                       deletes[kind], ident, note="--replace: only if it exists, whoever created it",
                       resource={"kind": kind, "ident": ident, "label": label})
              for kind, _op, ident, _call, label in named]
    return steps


def make_plan(spec: DeploySpec, package: dict[str, Any], image: str, *, request_bytes: int | None = None,
              estimate: dict[str, Any] | None = None, facts: VariantFacts | None = None,
              warnings: list[str] | None = None, previous: dict[str, Any] | None = None,
              autoscaling: dict[str, Any] | None = None) -> Plan:
    size = int(package.get("size_bytes") or 0)
    multipart = size >= spec.multipart_threshold
    tags = [*TAGS, {"Key": DEPLOYMENT_TAG, "Value": spec.deploy_id}] if spec.deploy_id else TAGS
    steps = _guard_steps(spec, previous)
    if spec.bucket_default:
        cb: dict[str, Any] = {"Bucket": spec.bucket}
        if spec.region != "us-east-1":
            cb["CreateBucketConfiguration"] = {"LocationConstraint": spec.region}
        steps.append(PlanStep("bucket", "s3", "create_bucket", cb,
                              note="only if head_bucket found none; kept afterwards (the shared default bucket, as "
                                   "the SageMaker SDK does)"))
    steps.append(PlanStep("upload", "s3", "upload_file",
                          {"Filename": str(package.get("path", "model.tar.gz")), "Bucket": spec.bucket,
                           "Key": spec.s3_key, "SizeBytes": size, "Multipart": multipart,
                           "MultipartThresholdBytes": spec.multipart_threshold,
                           "Metadata": {DEPLOYMENT_TAG: spec.deploy_id}},
                          creates=spec.s3_uri, note="multipart upload" if multipart else "single PUT"))
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
           "SAGEMAKER_REGION": spec.region, "WB_ORT_DEVICE": "auto" if spec.mode == "realtime" else "cpu"}
    steps.append(PlanStep("model", "sagemaker", "create_model",
                          {"ModelName": spec.model_name, "ExecutionRoleArn": spec.role_arn,
                           "PrimaryContainer": {"Image": image, "ModelDataUrl": spec.s3_uri, "Environment": env},
                           "Tags": tags}, creates=f"model {spec.model_name}"))
    variant: dict[str, Any] = {"VariantName": spec.variant_name, "ModelName": spec.model_name}
    if spec.mode == "serverless":
        cfg: dict[str, Any] = {"MemorySizeInMB": spec.memory_mb, "MaxConcurrency": spec.max_concurrency}
        if spec.provisioned:
            cfg["ProvisionedConcurrency"] = spec.provisioned
        variant["ServerlessConfig"] = cfg
    else:
        variant.update(InstanceType=spec.instance_type, InitialInstanceCount=spec.initial_count,
                       InitialVariantWeight=1.0)
    steps.append(PlanStep("endpoint_config", "sagemaker", "create_endpoint_config",
                          {"EndpointConfigName": spec.config_name, "ProductionVariants": [variant], "Tags": tags},
                          creates=f"endpoint config {spec.config_name}"))
    steps.append(PlanStep("endpoint", "sagemaker", "create_endpoint",
                          {"EndpointName": spec.name, "EndpointConfigName": spec.config_name, "Tags": tags},
                          creates=f"endpoint {spec.name}"))
    steps.append(PlanStep("wait", "sagemaker", "describe_endpoint", {"EndpointName": spec.name},
                          note=f"poll every {spec.poll_interval_s:g}s until InService or Failed "
                               f"(at most {spec.poll_timeout_s / 60:g} min)"))
    if spec.mode == "realtime":
        target = {"ServiceNamespace": "sagemaker", "ResourceId": spec.scaling_resource_id,
                  "ScalableDimension": SCALABLE_DIMENSION}
        steps.append(PlanStep("autoscaling", "application-autoscaling", "register_scalable_target",
                              {**target, "MinCapacity": spec.min_capacity, "MaxCapacity": spec.max_capacity},
                              creates=f"scalable target {spec.scaling_resource_id}"))
        steps.append(PlanStep("autoscaling", "application-autoscaling", "put_scaling_policy",
                              {"PolicyName": f"{spec.name}-invocations", **target,
                               "PolicyType": "TargetTrackingScaling",
                               "TargetTrackingScalingPolicyConfiguration": {
                                   "TargetValue": float(spec.target_invocations or 0.0),
                                   "PredefinedMetricSpecification": {
                                       "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                                   "ScaleInCooldown": 300, "ScaleOutCooldown": 60}},
                              creates=f"scaling policy {spec.name}-invocations",
                              note="target invocations per instance per minute"
                                   + (" (yours)" if (autoscaling or {}).get("override") else
                                      " (measured x margin)" if autoscaling else "")))
    steps.append(PlanStep("invoke", "sagemaker-runtime", "invoke_endpoint",
                          {"EndpointName": spec.name, "ContentType": spec.content_type, "Accept": spec.content_type,
                           "Body": f"<example request, {request_bytes if request_bytes is not None else '?'} bytes>"},
                          note="one timed test request"))
    return Plan(spec, image, package, steps, estimate, list(warnings or []), facts, autoscaling=autoscaling)


def estimate_monthly(spec: DeploySpec, catalog: Any, *, latency_ms: float | None, request_bytes: int | None,
                     response_bytes: int | None, profile: Any) -> dict[str, Any]:
    """Monthly cost of the endpoint for a traffic profile; labels carry the prices' status."""
    from engines.cost.model import serverless_estimate

    if spec.mode == "serverless":
        if latency_ms is None or request_bytes is None or response_bytes is None:
            return {"summary": "n/a (no measured latency)", "monthly": None}
        est = serverless_estimate(catalog, latency_ms, spec.memory_mb, request_bytes, response_bytes, profile,
                                  provisioned=spec.provisioned or 0, max_concurrency=spec.max_concurrency)
        est["summary"] = (f"{est['monthly']:.2f} USD/month serverless {spec.memory_mb} MB at "
                          f"{profile.avg_rps:g} req/s avg, {profile.hours_per_day:g} h/day ({est['label']}; "
                          f"catalog {catalog.as_of})")
        return est
    try:
        hourly = catalog.hourly(spec.instance_type)
    except Exception:
        return {"summary": f"n/a (no catalog price for {spec.instance_type}; catalog {catalog.as_of})",
                "monthly": None}
    hours = 24.0 * profile.days
    low = spec.initial_count * hourly.usd * hours
    high = spec.max_capacity * hourly.usd * hours
    return {"monthly": low, "monthly_max": high, "usd_per_hour": hourly.usd, "price_label": hourly.label,
            "price_basis": hourly.basis,
            "summary": (f"{low:.2f} USD/month for {spec.initial_count} x {spec.instance_type} always on, up to "
                        f"{high:.2f} at the autoscaling max of {spec.max_capacity} ({hourly.label} price, catalog "
                        f"{catalog.as_of})")}
