"""``workbench deploy VARIANT --serverless|--realtime ... [--dry-run] [--local] [--teardown NAME]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from typing import Any, Iterator

from workbench.commands import add_target_args


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "deploy", help="package a variant and deploy it to SageMaker (plan, local check, teardown)",
        description="Package an ONNX variant as model.tar.gz (code/inference.py on ONNX Runtime) and deploy it to "
                    "a SageMaker serverless or real-time endpoint. --dry-run prints every API call and the monthly "
                    "estimate; --local serves the exact package on 127.0.0.1 under the container contract and "
                    "invokes it; --teardown NAME removes an endpoint and what was created with it. Credentials "
                    "come from boto3's default chain and are never printed.")
    add_target_args(p, "an ONNX model path", optional=True)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--serverless", dest="mode", action="store_const", const="serverless",
                      help="serverless endpoint (default)")
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="real-time endpoint on instances, with target-tracking autoscaling")
    p.add_argument("--memory", type=int, default=2048, help="serverless memory MB: 1024..6144 in 1024 steps")
    p.add_argument("--max-concurrency", type=int, default=5, help="serverless max concurrency 1..200")
    p.add_argument("--provisioned", type=int, help="serverless provisioned concurrency (<= max concurrency)")
    p.add_argument("--instance-type", default="ml.c5.xlarge", help="real-time instance type")
    p.add_argument("--initial-count", type=int, default=1, help="real-time initial instance count")
    p.add_argument("--min-capacity", type=int, default=1, help="autoscaling minimum instances")
    p.add_argument("--max-capacity", type=int, default=4, help="autoscaling maximum instances")
    p.add_argument("--target-invocations", type=float, default=None,
                   help="autoscaling target, invocations per instance per minute (default: the measured "
                        "per-instance req/s x 60 x --target-safety; this overrides it)")
    p.add_argument("--target-safety", type=float, default=0.7,
                   help="share of the measured per-instance throughput autoscaling aims for, (0, 1] (default 0.7)")
    p.add_argument("--role", default="", help="SageMaker execution role ARN (default: $WORKBENCH_SAGEMAKER_ROLE, "
                   "$SAGEMAKER_ROLE_ARN or the SageMaker SDK config's SageMaker.Model.ExecutionRoleArn)")
    p.add_argument("--bucket", default="", help="S3 bucket for model.tar.gz (default: the SageMaker SDK's "
                   "sagemaker-{region}-{account}, created when missing)")
    p.add_argument("--prefix", default="workbench", help="S3 key prefix (default workbench)")
    p.add_argument("--name", help="endpoint name (default wb-<variant>-<timestamp>); a name in use is refused")
    p.add_argument("--replace", action="store_true",
                   help="delete an existing endpoint, endpoint config, model or autoscaling of the same name "
                        "(and what an earlier workbench deployment of it created) before creating")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--endpoint-url", help="one endpoint URL for every AWS service (e.g. a local moto server)")
    p.add_argument("--content-type", default="application/json", choices=("application/json", "application/x-npy"))
    p.add_argument("--rps", type=float, default=1.0, help="average req/s for the monthly estimate")
    p.add_argument("--hours", type=float, default=24.0, help="active hours/day for the monthly estimate")
    p.add_argument("--poll-interval", type=float, default=15.0, help="seconds between status polls")
    p.add_argument("--dry-run", action="store_true", help="print the plan and estimate; create nothing")
    p.add_argument("--local", action="store_true", help="serve the package on 127.0.0.1 and invoke it once")
    p.add_argument("--port", type=int, default=0, help="port for --local (default: a free one)")
    p.add_argument("--cold-start", type=int, default=None, metavar="RUNS",
                   help="measure the package's cold start locally RUNS times (fresh process -> /ping 200 -> first "
                        "inference); default 3 with --local, 0 (off) otherwise"),
    p.add_argument("--teardown", metavar="NAME", help="remove endpoint NAME, its config, model, autoscaling, S3 object")
    p.add_argument("--keep-s3", action="store_true", help="with --teardown: keep the S3 object")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(handler=run, mode=None)


def _printer(quiet: bool) -> Any:
    from engines.tasks import TaskContext

    last = ["", 0.0]

    def show(ev: Any) -> None:
        now = time.monotonic()
        if quiet or ev.message == last[0] or (now - float(last[1]) < 0.5 and ev.fraction != 1.0):
            return
        last[0], last[1] = ev.message, now
        pct = f"{ev.fraction * 100:5.1f}% " if ev.fraction is not None else ""
        print(f"  {pct}{ev.message}", file=sys.stderr)

    return TaskContext(show)


def _emit(args: argparse.Namespace, doc: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        json.dump(doc, sys.stdout, indent=1, default=str)
        print()
    else:
        print("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    from engines.errors import WorkbenchError

    if args.teardown:
        return _teardown(args)
    if not args.target:
        raise WorkbenchError("give VARIANT_OR_MODEL to deploy, or --teardown NAME")
    from engines.cost.model import TrafficProfile
    from engines.deploy.prepare import prepare
    from engines.deploy.spec import DeploySpec
    from engines.measure.figures import resolve_target

    target = resolve_target(args.target, workspace=args.workspace, model=args.model)
    spec = DeploySpec(mode=args.mode or "serverless", name=args.name or "", region=args.region, role_arn=args.role,
                      bucket=args.bucket, prefix=args.prefix, endpoint_url=args.endpoint_url,
                      memory_mb=args.memory, max_concurrency=args.max_concurrency, provisioned=args.provisioned,
                      instance_type=args.instance_type, initial_count=args.initial_count,
                      target_invocations=args.target_invocations, target_safety=args.target_safety,
                      min_capacity=args.min_capacity,
                      max_capacity=args.max_capacity, content_type=args.content_type,
                      poll_interval_s=args.poll_interval, replace=args.replace)
    task = _printer(args.json)
    clients = None
    defaults: list[str] = []
    if not args.local:
        from engines.deploy.aws import make_clients, make_session
        from engines.deploy.defaults import apply_defaults

        session = None  # the dry run calls nothing: without --bucket the account shows as a placeholder
        if not args.dry_run:  # no credentials: say so before measuring and packaging
            session = make_session(spec.region)
            clients = make_clients(spec.region, spec.endpoint_url, session=session)
        defaults = apply_defaults(spec, session)
        if spec.placeholders and not args.dry_run:
            raise WorkbenchError("an execution role is required: --role arn:aws:iam::<account>:role/<name>, or set "
                                 "WORKBENCH_SAGEMAKER_ROLE (or the SageMaker SDK config's ExecutionRoleArn)")
    profile = TrafficProfile(args.rps, args.rps, args.hours)
    prepared = prepare(target, spec, profile=profile, local=args.local, task=task)
    runs = args.cold_start if args.cold_start is not None else (3 if args.local else 0)
    cold = None
    if runs:
        from engines.deploy.coldstart import attach_cold_start

        cold = attach_cold_start(prepared, target, runs=runs, profile=profile, task=task)
    if args.local:
        from engines.deploy.local import local_check

        res = local_check(prepared.package.path, prepared.request_body, spec.content_type, port=args.port, task=task)
        return _emit(args, {"package": prepared.package.to_dict(), "local": res.to_dict(), "cold_start": cold},
                     [f"package {prepared.package.path} ({prepared.package.size_bytes:,} bytes): "
                      f"{', '.join(res.members)}",
                      f"served on {res.url}: GET /ping -> {res.ping_status}; POST /invocations -> "
                      f"{res.invoke_status} in {res.latency_ms:.1f} ms (model load {res.model_load_ms:.1f} ms)",
                      f"outputs: {res.output_shapes}",
                      *([cold["line"]] if cold else []),
                      *([f"provisioned concurrency: {cold['advice']['text']}"] if cold and cold.get("advice") else [])])
    lines = ["Plan:", *defaults, *prepared.plan.lines(), *[f"warning: {w}" for w in prepared.plan.warnings]]
    if args.dry_run:
        return _emit(args, {"dry_run": True, **prepared.to_dict()}, lines)
    if not args.json:
        print("\n".join(lines))
    if not args.yes and not sys.stdin.isatty():   # a script or a pipe: nothing is created unless it says so
        print("workbench: deploying creates resources that cost money: pass --yes to deploy without a terminal "
              "to confirm on (nothing created)", file=sys.stderr)
        return 2
    if not args.yes:
        if input(f"Create these resources in {spec.region}? They cost money until torn down. [y/N] ").strip().lower() \
                not in ("y", "yes"):
            print("nothing created")
            return 1
    from engines.deploy.sagemaker_ops import DeployCancelled, deploy

    try:
        with _signals_cancel():
            result = deploy(prepared.plan, clients, prepared.request_body, task=task)
    except DeployCancelled as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 128 + (exc.signum or signal.SIGINT)
    return _emit(args, {"plan": prepared.plan.to_dict(), "result": result.to_dict()},
                 [f"endpoint {result.endpoint_name} is {result.status} ({result.mode}, {result.region})",
                  f"test invocation: {result.invoke_latency_ms:.1f} ms -> {result.response_preview[:120]}",
                  f"created: {', '.join(result.created)}",
                  *([f"replaced: {', '.join(result.replaced)}"] if result.replaced else []),
                  f"record: {result.record_path}",
                  f"tear down with: workbench deploy --teardown {result.endpoint_name} --region {result.region}"])


class _Signalled(KeyboardInterrupt):
    """SIGTERM (or SIGINT) during a deployment: handled like Ctrl+C, so the deployment rolls back."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _signals_cancel() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`_Signalled` while deploying (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_it(signum: int, _frame: Any) -> None:
        raise _Signalled(signum)

    old = {sig: signal.signal(sig, raise_it) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _teardown(args: argparse.Namespace) -> int:
    from engines.deploy.aws import make_clients
    from engines.deploy.sagemaker_ops import teardown

    clients = make_clients(args.region, args.endpoint_url)
    out = teardown(args.teardown, clients, delete_s3=not args.keep_s3, task=_printer(args.json))
    lines = [f"removed: {', '.join(out['removed']) or 'nothing'}"]
    if out["not_found"]:
        lines.append(f"not found or kept: {', '.join(out['not_found'])}")
    if out["errors"]:
        lines.append(f"errors: {'; '.join(out['errors'])}")
        lines.append(f"the record keeps what is left: run workbench deploy --teardown {args.teardown} again")
    _emit(args, out, lines)
    return 2 if out["errors"] else 0
