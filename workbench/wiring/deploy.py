"""Wiring between the Deploy screen and engines.deploy: form -> spec, and the worker functions."""

from __future__ import annotations

from typing import Any

from engines.tasks import TaskContext

NUMBERS = {"memory_mb": "memory", "max_concurrency": "max concurrency", "provisioned": "provisioned",
           "initial_count": "initial count", "min_capacity": "min capacity", "max_capacity": "max capacity",
           "target_invocations": "target invocations", "target_safety": "margin"}
FLOATS = ("target_invocations", "target_safety")
OPTIONAL = ("provisioned", "target_invocations")      # empty: none / derived from the measured throughput
TRAFFIC = {"avg_rps": "avg req/s", "peak_rps": "peak req/s", "hours_per_day": "h/day"}


def traffic_from_form(fields: dict[str, str]) -> Any:
    """The shared traffic inputs of the form as a :class:`TrafficProfile` (defaults where absent)."""
    from engines.cost.model import TrafficProfile
    from engines.errors import WorkbenchError

    values = {"avg_rps": 1.0, "peak_rps": None, "hours_per_day": 24.0}
    for key, label in TRAFFIC.items():
        raw = str(fields.get(key, "") or "").strip()
        if raw:
            try:
                values[key] = float(raw)
            except ValueError:
                raise WorkbenchError(f"{label} must be a number, not {raw!r}") from None
    peak = values["peak_rps"] if values["peak_rps"] is not None else values["avg_rps"]
    return TrafficProfile(values["avg_rps"], peak, values["hours_per_day"])


def spec_from_form(fields: dict[str, str]) -> Any:
    """A :class:`DeploySpec` from the form's text values (numbers checked here, limits by validate)."""
    from engines.deploy.spec import DeploySpec
    from engines.errors import WorkbenchError

    values: dict[str, Any] = {}
    for key, raw in fields.items():
        raw = str(raw).strip()
        if key in TRAFFIC:
            continue
        if key in OPTIONAL and not raw:
            values[key] = None
        elif key in NUMBERS:
            try:
                values[key] = float(raw) if key in FLOATS else int(raw)
            except ValueError:
                kind = "a number" if key in FLOATS else "a whole number"
                raise WorkbenchError(f"{NUMBERS[key]} must be {kind}, not {raw!r}") from None
        elif key == "endpoint_url":
            values[key] = raw or None
        else:
            values[key] = raw
    return DeploySpec(**values)


def plan_deploy(target: Any, fields: dict[str, str], *, local: bool = False, served: Any = None,
                task: TaskContext | None = None) -> Any:
    from engines.deploy.prepare import prepare
    from engines.errors import WorkbenchError

    if target is None:
        raise WorkbenchError("no ONNX variant to deploy: open an ONNX model or build the baseline on the Cost screen")
    spec = spec_from_form(fields)
    profile = traffic_from_form(fields)
    if not local:  # SageMaker SDK defaults: role from the environment/SDK config, sagemaker-{region}-{account}
        from engines.deploy.defaults import apply_defaults

        apply_defaults(spec, None)
    return prepare(target, spec, local=local, profile=profile, served=served, task=task)


def preview_lines(prepared: Any) -> list[str]:
    """The plan as numbered lines: the package by name and size rather than local path, the existence checks
    (and --replace deletions) on one line each, the fresh deployment id as ``<deployment id>``."""
    from workbench.formatting import human_bytes

    plan = prepared.plan
    dep_id = plan.spec.deploy_id
    checks = [s.resource["label"] for s in plan.step("check") if s.resource]
    replaces = [s.resource["label"] for s in plan.step("replace") if s.resource]
    lines = summary_lines(prepared)
    lines.append(f"first, creating nothing: bucket {plan.spec.bucket} usable; the S3 key is free (never "
                 f"overwritten); {', '.join(checks)} not taken "
                 + ("(--replace: deleted first if they exist)" if plan.spec.replace else "(refused if taken)"))
    steps = [s for s in plan.steps if s.step not in ("check", "replace")]
    if replaces:
        lines.append(f"then --replace: delete {', '.join(replaces)} where they exist, whoever created them")
    for i, step in enumerate(steps, 1):
        if step.step == "upload":
            p = step.params
            line = (f"{i}. s3.upload_file(model.tar.gz {human_bytes(p['SizeBytes'])} -> "
                    f"s3://{p['Bucket']}/{p['Key']}, {'multipart' if p['Multipart'] else 'single PUT'})")
        else:
            line = f"{i}. {step.line()}"
        lines.append(line.replace(dep_id, "<deployment id>") if dep_id else line)
    return lines


def summary_lines(prepared: Any) -> list[str]:
    """What the plan creates and costs, first: the endpoint, its capacity, the estimate, the autoscaling target,
    the right-size check and the warnings (the calls follow)."""
    plan = prepared.plan
    spec = plan.spec
    if spec.mode == "serverless":
        what = (f"serverless endpoint {spec.name}: {spec.memory_mb} MB, max concurrency {spec.max_concurrency}"
                + (f", provisioned {spec.provisioned}" if spec.provisioned else ""))
    else:
        what = (f"real-time endpoint {spec.name}: {spec.initial_count} x {spec.instance_type}, autoscaling "
                f"{spec.min_capacity}-{spec.max_capacity} instances")
    lines = [f"Creates {what} in {spec.region}"]
    if plan.estimate:
        lines.append(f"Estimated: {plan.estimate['summary']}")
    if plan.autoscaling:
        lines.append(plan.autoscaling["line"][:1].upper() + plan.autoscaling["line"][1:])
    if plan.rightsize and plan.rightsize.get("line"):
        lines.append(("Right-size warning: " if plan.rightsize.get("warning") else "Right-size: ")
                     + plan.rightsize["line"])
    lines += [f"warning: {w}" for w in plan.warnings]
    return lines


def run_local(prepared: Any, *, task: TaskContext | None = None) -> Any:
    from engines.deploy.local import local_check

    return local_check(prepared.package.path, prepared.request_body, prepared.plan.spec.content_type, task=task)


def local_flow(target: Any, fields: dict[str, str], *, task: TaskContext | None = None) -> Any:
    """Package (AWS-only checks skipped), then serve and invoke it locally, as one task."""
    from engines.tasks import ensure_task

    from engines.deploy.coldstart import attach_cold_start

    task = ensure_task(task)
    prepared = plan_deploy(target, fields, local=True, task=task.sub(0.0, 0.5))
    result = run_local(prepared, task=task.sub(0.5, 0.7))
    result.cold_start = attach_cold_start(prepared, target, runs=3, task=task.sub(0.7, 1.0))
    return result


def run_deploy(prepared: Any, *, task: TaskContext | None = None) -> Any:
    from engines.deploy.aws import make_clients
    from engines.deploy.sagemaker_ops import deploy

    spec = prepared.plan.spec
    clients = make_clients(spec.region, spec.endpoint_url)
    return deploy(prepared.plan, clients, prepared.request_body, task=task)


def run_teardown(name: str, region: str, endpoint_url: str | None = None, delete_s3: bool = True, *,
                 task: TaskContext | None = None) -> dict[str, Any]:
    from engines.deploy.aws import make_clients
    from engines.deploy.sagemaker_ops import teardown
    from engines.errors import WorkbenchError

    if not name:
        raise WorkbenchError("give the endpoint name to tear down")
    return teardown(name, make_clients(region, endpoint_url or None), delete_s3=delete_s3, task=task)


def monitor_deployed(name: str, region: str, endpoint_url: str | None = None, since: str = "1h", *,
                     task: TaskContext | None = None) -> Any:
    """Worker body: the endpoint's CloudWatch metrics over ``since`` and its cost so far (a MonitorReport)."""
    from engines.deploy.aws import make_clients, make_session
    from engines.deploy.monitor import cloudwatch_client, monitor_endpoint
    from engines.errors import WorkbenchError

    if not name:
        raise WorkbenchError("give the endpoint name to watch")
    session = make_session(region)
    clients = make_clients(region, endpoint_url, session=session)
    cw = cloudwatch_client(region, endpoint_url, session=session)
    return monitor_endpoint(name, cloudwatch=cw, sagemaker=clients.sagemaker, region=region, since=since)


def monitor_lines(report: Any) -> list[str]:
    """The same lines ``workbench monitor`` prints."""
    from workbench.commands.monitor import report_lines

    return report_lines(report)
