"""From a variant to a validated package and plan: everything before the first AWS call.

``prepare(target, spec)`` measures what it needs (latency, request/response
sizes with the shipped encoder), validates the spec, builds ``model.tar.gz``
atomically, resolves the container image and returns the :class:`Plan` with
its monthly estimate. ``deploy --dry-run`` prints it; ``deploy`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.deploy.spec import DeploySpec, VariantFacts, default_name, new_deploy_id
from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task


@dataclass
class Prepared:
    plan: Any                     # engines.deploy.plan.Plan
    package: Any                  # engines.deploy.package.PackageInfo
    request_body: bytes
    measured: Any                 # engines.measure.figures.Measured | None
    payload: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.to_dict(), "package": self.package.to_dict(),
                "measured": self.measured.to_dict() if self.measured else None, "payload": self.payload}


def gpu_only_reason(target: Any) -> str | None:
    if target.format == "tensorrt":
        return "TensorRT engine"
    v = target.variant
    if v is None:
        return None
    if v.extra.get("gpu_only"):
        return str(v.extra.get("gpu_only_reason") or "marked GPU-only")
    device = str(v.recipe.get("device") or v.recipe.get("target_device") or "")
    if device.startswith(("cuda", "gpu")):
        return f"built for {device}"
    return None


def facts_for(target: Any, measured: Any, payload: dict[str, Any] | None) -> VariantFacts:
    return VariantFacts(
        name=target.name, format=target.format, model_bytes=target.size_bytes,
        request_bytes=payload["request_bytes"] if payload else None,
        response_bytes=payload["response_bytes"] if payload else None,
        latency_p99_ms=float(measured.latency_ms.get("p99")) if measured and measured.latency_ms.get("p99") else None,
        gpu_only_reason=gpu_only_reason(target))


def autoscaling_for(target: Any, spec: DeploySpec, measured: Any, served: Any = None) -> Any:
    """The real-time autoscaling target: the user's number (``spec.target_invocations``) when given, else the
    measured per-instance rate (a server run with batching off when recorded, else batch 1) x the margin."""
    from engines.cost.served import from_metrics
    from engines.deploy.capacity import provenance_text, sagemaker_target

    metrics = getattr(target, "metrics", None) or {}
    if served is None:
        served = from_metrics(metrics).get("off")
    if served is not None and served.batching:   # the SageMaker package answers each invocation alone
        served = None
    return sagemaker_target(measured, safety=spec.target_safety, override=spec.target_invocations, served=served,
                            provenance=provenance_text(metrics, measured), name=target.name)


def example_request(target: Any, content_type: str) -> bytes:
    from engines.deploy import container_inference as ci
    from engines.measure.runners import example_feeds, open_runner

    runner = open_runner(target.path, target.format if target.format == "openvino" else "onnx", threads=1)
    return ci.encode_request(example_feeds(runner.inputs, batch=1, seed=0), content_type)


def prepare(target: Any, spec: DeploySpec, *, out_dir: str | Path | None = None, profile: Any = None,
            catalog: Any = None, allow_measure: bool = True, check_image: bool = True, local: bool = False,
            measured: Any = None, served: Any = None, task: TaskContext | None = None) -> Prepared:
    """Measure, validate, package and plan. ``local=True`` skips AWS-only checks and the image lookup."""
    from engines.cost.model import TrafficProfile
    from engines.deploy.images import image_uri, is_gpu_instance
    from engines.deploy.package import build_package
    from engines.deploy.plan import estimate_monthly, make_plan
    from engines.deploy.validate import validate
    from engines.measure.figures import measured_figures, payload_sizes
    from engines.cost.prices import load_catalog

    task = ensure_task(task)
    if not spec.name:
        spec.name = default_name(target.name)
    if not spec.deploy_id:
        spec.deploy_id = new_deploy_id()
    payload = None
    # refuse bad settings before any measuring or packaging; checked again below with measured figures
    validate(spec, facts_for(target, None, None), check_image=False, aws=not local)
    if target.format in ("onnx", "openvino"):
        task.report(0.0, "measuring latency")
        if measured is None:
            try:
                measured = measured_figures(target, allow_measure=allow_measure, task=task.sub(0.0, 0.4))
            except WorkbenchError:
                if allow_measure:
                    raise
                measured = None   # no stored benchmark and measuring not allowed: the plan says what is missing
        payload = payload_sizes(target, spec.content_type)
    facts = facts_for(target, measured, payload)
    autoscaling = None
    if spec.mode == "realtime":
        autoscaling = autoscaling_for(target, spec, measured, served)
        if autoscaling.value is None:   # nothing measured, no override: refused with how to get a figure
            raise WorkbenchError(f"cannot deploy: {autoscaling.line}")
        spec.target_invocations = autoscaling.value
    task.report(0.45, "validating")
    warnings = validate(spec, facts, check_image=check_image and not local, aws=not local)
    gpu = spec.mode == "realtime" and is_gpu_instance(spec.instance_type)
    out = Path(out_dir) if out_dir else _package_dir(spec.name)
    variant_meta = {"name": target.name, "id": getattr(target.variant, "id", None), "format": target.format}
    pkg = build_package(target.path, out / "model.tar.gz", gpu=gpu, variant=variant_meta, task=task.sub(0.5, 0.9))
    image = "<image not resolved>"
    if check_image and not local:
        image = image_uri(spec.region, spec.instance_type if spec.mode == "realtime" else None)
    catalog = catalog or load_catalog()
    profile = profile or TrafficProfile(1.0, 1.0)
    estimate = estimate_monthly(spec, catalog, latency_ms=measured.request_latency_ms if measured else None,
                                request_bytes=facts.request_bytes, response_bytes=facts.response_bytes,
                                profile=profile)
    body = example_request(target, spec.content_type)
    previous = None
    if not local:
        from engines.deploy.record import load_record

        previous = load_record(spec.name)
        if previous and not spec.replace:
            warnings.append(f"a workbench record of deployment {previous.get('deployment_id') or '?'} of "
                            f"{spec.name} exists: deploy is refused unless --replace (or tear it down first)")
    plan = make_plan(spec, pkg.to_dict(), image, request_bytes=len(body), estimate=estimate, facts=facts,
                     warnings=warnings, previous=previous,
                     autoscaling=autoscaling.to_dict() if autoscaling is not None else None)
    if spec.mode == "realtime" and measured is not None:
        from engines.cost.instance_fit import fit_for_target

        plan.rightsize = fit_for_target(target, measured, spec.instance_type, catalog, profile,
                                        count=spec.initial_count).to_dict()
    task.report(1.0, "plan ready")
    return Prepared(plan, pkg, body, measured, payload)


def _package_dir(name: str) -> Path:
    from engines.workspace import default_home

    return default_home() / "packages" / name
