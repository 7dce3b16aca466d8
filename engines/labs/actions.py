"""Run one lab step: the engine call behind each step, and what it leaves behind for the checks.

Every action first reads the real state: a step whose inputs are missing is
refused with the step to do first; a step already satisfied (a variant made on
the Optimize screen counts) answers at once, except the measuring steps, which
measure again when asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.labs import record, state
from engines.labs.tours import Lab, lab as get_lab
from engines.tasks import TaskContext, ensure_task

REMEASURE = {"bench1", "bench2", "gpu", "monitor", "cost", "gpu_cost", "sweep", "serve"}


@dataclass
class LabSettings:
    """How long the measuring steps measure (tests and the timing script shorten them)."""

    iterations: int = 100
    budget_s: float = 2.0
    warmup: int = 5
    throughput_batch: int = 32
    sweep_max_batch: int = 32
    sweep_budget_s: float = 1.5
    serve_levels: tuple[int, ...] = (1, 8)
    serve_requests: int = 300
    serve_duration_s: float = 5.0
    build_iterations: int = 100
    build_budget_s: float = 2.0
    poll_interval_s: float = 0.2


@dataclass
class LabEnv:
    model_path: Path
    workspace: Any = None                 # engines.workspace.Workspace (default: the model's own)
    data_path: Path | None = None
    trust_pickle: bool = False
    settings: LabSettings = field(default_factory=LabSettings)
    practice_port: int = 0
    _ctx: Any = None

    def context(self) -> Any:
        if self._ctx is None:
            from engines.optimize.context import MeasureOptions, open_context

            s = self.settings
            self._ctx = open_context(self.model_path, data=self.data_path, workspace=self.workspace,
                                     trust_pickle=self.trust_pickle,
                                     measure=MeasureOptions(iterations=s.iterations, budget_s=s.budget_s,
                                                            warmup=s.warmup, throughput_batch=s.throughput_batch))
            self.workspace = self._ctx.workspace
        return self._ctx

    def facts(self, probe_cloud: bool = True) -> state.Facts:
        from engines.deploy import practice
        from engines.models.loader import detect_format

        try:
            fmt = detect_format(Path(self.model_path))
        except Exception:  # noqa: BLE001 - an unreadable model has no format; model_problem says so
            fmt = None
        return state.gather(Path(self.model_path), fmt, self.workspace, cloud=practice.current(),
                            probe_cloud=probe_cloud)


@dataclass
class StepDone:
    lab: int
    step: str
    message: str
    already: bool = False
    seconds: float = 0.0


def model_problem(lab: Lab, model_format: str | None) -> str | None:
    """Why the open model cannot do this lab (None when it can)."""
    from engines import formats

    if model_format is None:
        return f"lab {lab.number} needs a model: open one, or use the lab sample (digits32_resnet.pt)"
    if model_format not in lab.formats:
        return (f"lab {lab.number} cannot use this {formats.label(model_format)} model: {lab.format_reason}. "
                "The lab sample (digits32_resnet.pt) fits every lab")
    return None


def run_step(env: LabEnv, lab_no: int, step_id: str, *, task: TaskContext | None = None) -> StepDone:
    task = ensure_task(task)
    lab = get_lab(lab_no)
    step = lab.step(step_id)
    t0 = time.perf_counter()
    facts = env.facts()
    problem = model_problem(lab, facts.model_format)
    if problem:
        raise WorkbenchError(problem)
    if env.workspace is None and step_id != "cloud":
        env.context()
        facts = env.facts()
    current = {s.step.id: s for s in state.states(lab, facts)}[step_id]
    if current.done and step_id not in REMEASURE:
        return StepDone(lab_no, step_id, f"already done: {current.detail}", already=True)
    why_not = state.order_problem(lab, step_id, facts)
    if why_not:
        raise WorkbenchError(why_not)
    message = ACTIONS[step_id](env, lab, facts, task)
    return StepDone(lab_no, step_id, message, seconds=time.perf_counter() - t0)


# -- the actions -----------------------------------------------------------------------------------------------
def _baseline(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.optimize.pipeline import ensure_baseline

    v = ensure_baseline(env.context(), task)
    return f"baseline ready: {state._variant_detail(v)}"


def _apply(recipe: Any) -> Any:
    def run(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
        from engines.optimize.pipeline import apply_recipe

        res = apply_recipe(env.context(), recipe(), task=task)
        if res.variant.status != "ok":
            raise WorkbenchError(f"{res.variant.name} failed: {res.variant.error}")
        return f"{state._variant_detail(res.variant)}" + (" (already in the workspace)" if res.cached else "")
    return run


def _int8() -> Any:
    from engines.optimize.recipes import Recipe

    return Recipe(quant="int8-static")


def _pruned(mode: str) -> Any:
    def make() -> Any:
        from engines.optimize.recipes import Recipe

        return Recipe(prune_mode=mode, prune_amount=0.5)
    return make


def _retime(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext, preds: list[Any], key: str) -> str:
    from engines.optimize.pipeline import retime

    ctx = env.context()
    targets = [facts.find(p) for p in preds]
    done = retime(ctx, [v for v in targets if v is not None], task=task)
    base = facts.baseline()
    rows = []
    for v in done:
        p = (v.metrics or {}).get("paired") or {}
        sp = p.get("speedup") or {}
        rows.append({"id": v.id, "name": v.name, "p50_ms": p.get("p50_ms"), "reference_p50_ms": p.get("reference_p50_ms"),
                     "speedup": sp.get("value"), "interval": sp.get("interval"), "within_noise": sp.get("within_noise"),
                     "rounds": p.get("rounds"), "accuracy": v.metrics.get("accuracy"),
                     "size_bytes": v.metrics.get("size_bytes"), "load_warning": p.get("load_warning")})
    entry = record.put(ctx.workspace.root, lab.number, key, {
        "variant_ids": [base.id] + [r["id"] for r in rows], "baseline": base.id, "rows": rows,
        "rounds": rows[0]["rounds"] if rows else None,
        "baseline_accuracy": base.metrics.get("accuracy"), "baseline_size": base.metrics.get("size_bytes")})
    return "; ".join(f"{r['name']}: {r['speedup']:.2f}x vs baseline" for r in entry["rows"] if r["speedup"]) or \
        "timed"


def _bench1(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    return _retime(env, lab, facts, task, [state.is_int8], "bench1")


def _bench2(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    return _retime(env, lab, facts, task, [state.is_pruned("structured"), state.is_pruned("unstructured")], "bench2")


def _engine(backend: str) -> Any:
    def run(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
        from engines.build.builder import BuildOptions, build_engine

        ctx = env.context()
        s = env.settings
        opts = BuildOptions(bench_iterations=s.build_iterations, bench_budget_s=s.build_budget_s)
        v = build_engine(ctx.workspace, facts.baseline(), backend, "fp32", model_path=ctx.model_path,
                         data=(ctx.x, ctx.y), options=opts, task=task)
        if v.status != "ok":
            raise WorkbenchError(f"{v.name} failed: {v.error}")
        sp = v.extra.get("speedup_p50")
        return f"{state._variant_detail(v)}" + (f", {sp:.2f}x the baseline" if sp else "")
    return run


def _gpu(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.labs.published import GPU_FIGURES
    from engines.registry import get

    trt = get("engine", "tensorrt").availability(device="cuda")
    engines = [v for v in facts.ok() if v.kind == "engine"]
    record.put(env.context().workspace.root, 3, "gpu", {
        "variant_ids": [v.id for v in engines], "tensorrt_here": trt.ok, "tensorrt_text": trt.text(),
        "published": [f.__dict__ for f in GPU_FIGURES]})
    return ("TensorRT is available here: build it on the Engine screen (3), device cuda" if trt.ok else
            "no TensorRT here: the measured CPU engines are shown beside NVIDIA's published GPU figures")


def _cloud(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.deploy import practice

    cloud = practice.start(env.practice_port)
    return f"practice cloud running at {cloud.url}: moto on this machine, nothing real is created"


def _need_cloud() -> Any:
    from engines.deploy import practice

    cloud = practice.current()
    if cloud is None:
        raise WorkbenchError("the practice cloud is not running: start it first (step b)")
    return cloud


def _deploy(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.deploy.prepare import prepare
    from engines.deploy.sagemaker_ops import deploy
    from engines.deploy.spec import DeploySpec, default_name
    from engines.errors import UnsupportedError
    from engines.targets import Target

    cloud = _need_cloud()
    ctx = env.context()
    target = Target.of_variant(ctx.workspace, facts.baseline())
    spec = DeploySpec(mode="serverless", name=default_name("lab4-practice"), region=cloud.region,
                      role_arn=cloud.role_arn, bucket=cloud.bucket, endpoint_url=cloud.url,
                      poll_interval_s=env.settings.poll_interval_s, poll_timeout_s=60.0)
    out_dir = ctx.workspace.root / "labs-packages" / spec.name
    try:
        prepared = prepare(target, spec, out_dir=out_dir, task=task.sub(0.0, 0.5))
    except UnsupportedError:   # no sagemaker SDK to name the image: moto does not run it anyway
        prepared = prepare(target, spec, out_dir=out_dir, check_image=False, task=task.sub(0.0, 0.5))
    res = deploy(prepared.plan, cloud.clients(), prepared.request_body, task=task.sub(0.5, 1.0),
                 sleep=lambda s: time.sleep(min(s, env.settings.poll_interval_s)))
    est = prepared.plan.estimate or {}
    record.put(ctx.workspace.root, 4, "deploy", {
        "endpoint": res.endpoint_name, "cloud_url": cloud.url, "deployment_id": res.deployment_id,
        "created": res.created, "invoke_latency_ms": res.invoke_latency_ms, "estimate": est.get("summary"),
        "monthly": est.get("monthly"), "memory_mb": spec.memory_mb, "variant_id": facts.baseline().id,
        "package_bytes": prepared.package.size_bytes, "step_seconds": res.step_seconds})
    return f"{res.endpoint_name} InService in the practice cloud ({len(res.created)} resources created)"


def _monitor(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.deploy.monitor import monitor_endpoint

    cloud = _need_cloud()
    dep = record.get(facts.record, 4, "deploy")
    rep = monitor_endpoint(dep["endpoint"], cloudwatch=cloud.cloudwatch(), sagemaker=cloud.clients().sagemaker,
                           region=cloud.region, since="1h")
    start, end = rep.start, rep.end
    hours = _hours(dep["at"], end)
    record.put(env.context().workspace.root, 4, "monitor", {
        "endpoint": rep.endpoint, "status": rep.status, "mode": rep.mode, "hours": hours, "window": [start, end],
        "has_data": rep.has_data, "summary": rep.summary, "cost": rep.cost.__dict__ if rep.cost else None,
        "estimate": rep.estimate, "notes": rep.notes})
    return f"{rep.endpoint}: {rep.status} (practice), " + ("metrics found" if rep.has_data else
                                                          "no CloudWatch data points (the practice cloud records none)")


def _hours(since: str, end: str) -> float:
    import datetime as dt

    try:
        a = dt.datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        b = dt.datetime.fromisoformat(end)
        return max(0.0, (b - a).total_seconds() / 3600.0)
    except ValueError:
        return 0.0


def _teardown(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.deploy.sagemaker_ops import teardown

    cloud = _need_cloud()
    dep = record.get(facts.record, 4, "deploy")
    out = teardown(dep["endpoint"], cloud.clients(), task=task, sleep=lambda s: time.sleep(min(s, 0.05)))
    record.put(env.context().workspace.root, 4, "teardown", {"endpoint": dep["endpoint"], "removed": out["removed"],
                                                             "errors": out["errors"]})
    if out["errors"]:
        raise WorkbenchError(f"teardown left errors: {'; '.join(out['errors'])}")
    return f"removed {len(out['removed'])} resources of {dep['endpoint']} (practice)"


def _cost(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.cost.report import CostOptions, project_costs
    from engines.targets import Target

    ctx = env.context()
    base = facts.baseline()
    rep = project_costs(Target.of_variant(ctx.workspace, base), CostOptions(), task=task)
    rows = [{k: r.get(k) for k in ("instance", "gpu", "ips", "basis", "usd_per_hour", "cost_per_1m",
                                   "instances_for_peak", "monthly_always_on")} for r in rep["instances"]]
    cpu = min((r for r in rows if not r["gpu"]), key=lambda r: r["cost_per_1m"], default=None)
    sl = rep.get("serverless") or {}
    be = rep.get("break_even") or {}
    record.put(ctx.workspace.root, 5, "cost", {
        "variant_ids": [base.id], "rows": rows, "cheapest_cpu": cpu["instance"] if cpu else None,
        "cpu_cost_per_1m": cpu["cost_per_1m"] if cpu else None, "cpu_ips": cpu["ips"] if cpu else None,
        "cpu_usd_per_hour": cpu["usd_per_hour"] if cpu else None,
        "serverless_monthly": sl.get("monthly"), "serverless_per_1m": sl.get("cost_per_1m"),
        "break_even_rps": be.get("break_even_rps"), "break_even_vs": be.get("instance_name"),
        "profile": rep["profile"], "catalog": rep["catalog"], "measured": rep["measured"]})
    return f"cheapest CPU instance per 1M inferences: {cpu['instance'] if cpu else '—'}"


def _gpu_cost(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.cost.prices import load_catalog
    from engines.labs.published import GPU_FIGURES

    cost = record.get(facts.record, 5, "cost")
    if not cost or not cost.get("cpu_ips"):
        raise WorkbenchError("no CPU cost row to compare with: run step b (cost) first")
    cat = load_catalog()
    gpus = []
    for inst in cat.instances():
        if not cat.is_gpu(inst):
            continue
        hourly = cat.hourly(inst).usd
        # the GPU is cheaper per inference once ips_gpu / usd_gpu > ips_cpu / usd_cpu
        need = cost["cpu_ips"] * hourly / cost["cpu_usd_per_hour"] if cost["cpu_usd_per_hour"] else None
        gpus.append({"instance": inst, "usd_per_hour": hourly, "breakeven_ips": need})
    gpus.sort(key=lambda g: g["usd_per_hour"])
    first = gpus[0] if gpus else None
    sentence = (f"{first['instance']} (${first['usd_per_hour']:.3f}/h) must exceed {first['breakeven_ips']:,.0f} "
                f"inferences/s to beat {cost['cheapest_cpu']}" if first and first["breakeven_ips"] else
                "no GPU instance in the price catalog")
    record.put(env.context().workspace.root, 5, "gpu_cost", {
        "variant_ids": cost["variant_ids"], "cpu": cost["cheapest_cpu"], "cpu_ips": cost["cpu_ips"], "gpus": gpus,
        "sentence": sentence, "published": [f.__dict__ for f in GPU_FIGURES]})
    return sentence


def _sweep(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.measure.sweep import batch_sweep

    ctx = env.context()
    base = facts.baseline()
    s = env.settings
    res = batch_sweep(ctx.workspace.model_path(base), fmt=base.format, max_batch=s.sweep_max_batch,
                      iterations=s.iterations, warmup=s.warmup, budget_s_per_point=s.sweep_budget_s,
                      data=ctx.x, task=task)
    points = [{"batch": p.batch, "p50_ms": p.latency_ms.get("p50"), "p99_ms": p.latency_ms.get("p99"),
               "ips": p.throughput_ips, "cpu_mean": (p.run_metrics or {}).get("cpu_mean")} for p in res.points]
    record.put(ctx.workspace.root, 6, "sweep", {"variant_ids": [base.id], "points": points, "threads": res.threads,
                                                "device": res.device, "notes": res.notes})
    best = max(points, key=lambda p: p["ips"])
    return f"batch {best['batch']}: {best['ips']:,.0f}/s, {best['ips'] / points[0]['ips']:.1f}x batch 1"


def _serve(env: LabEnv, lab: Lab, facts: state.Facts, task: TaskContext) -> str:
    from engines.serving.experiment import compare_batching

    ctx = env.context()
    base = facts.baseline()
    s = env.settings
    out = compare_batching(ctx.workspace.model_path(base), fmt=base.format, levels=s.serve_levels,
                           requests_per_level=s.serve_requests, duration_s_per_level=s.serve_duration_s,
                           max_batch=32, task=task)

    def rows(key: str) -> list[dict[str, Any]]:
        return [{"concurrency": r["level"], "rps": r["throughput_rps"], "p50_ms": r["latency_ms"].get("p50"),
                 "p99_ms": r["latency_ms"].get("p99"), "errors": sum((r.get("errors") or {}).values())}
                for r in out[key]]
    stats = {k: {m: v for m, v in (out.get(f"stats_{k}") or {}).items() if isinstance(v, (int, float))}
             for k in ("on", "off")}
    record.put(ctx.workspace.root, 6, "serve", {"variant_ids": [base.id], "levels": list(s.serve_levels),
                                                "on": rows("on"), "off": rows("off"), "stats": stats,
                                                "threads": out.get("threads")})
    on, off = rows("on")[-1], rows("off")[-1]
    return (f"at concurrency {on['concurrency']:g}: batching on {on['rps']:,.0f} req/s, off {off['rps']:,.0f} req/s")


ACTIONS = {
    "baseline": _baseline, "int8": _apply(_int8), "bench1": _bench1,
    "structured": _apply(_pruned("structured")), "unstructured": _apply(_pruned("unstructured")), "bench2": _bench2,
    "openvino": _engine("openvino"), "aoti": _engine("aoti"), "gpu": _gpu,
    "cloud": _cloud, "deploy": _deploy, "monitor": _monitor, "teardown": _teardown,
    "cost": _cost, "gpu_cost": _gpu_cost, "sweep": _sweep, "serve": _serve,
}
