"""Which steps of a lab are done, read from what exists: variants in the workspace manifest, the lab record of
runs (``engines.labs.record``), and the endpoint as the (practice) cloud reports it.

Nothing here is remembered by the tour itself: delete a variant and its step is
no longer checked; stop the practice cloud and its step says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engines.labs import record
from engines.labs.tours import Lab, Step


@dataclass
class StepState:
    step: Step
    done: bool
    detail: str                      # what was found (or what is missing)
    blocked_by: str | None = None    # the first unfinished step this one needs


@dataclass
class Facts:
    """Everything the checks read, gathered once per refresh."""

    model_path: Path | None
    model_format: str | None
    variants: list[Any]                          # engines.workspace.Variant
    record: dict[str, Any]
    cloud_url: str | None = None                 # the practice cloud, when it runs
    endpoint_status: dict[str, str] = field(default_factory=dict)   # endpoint name -> status (or "absent")

    def ok(self) -> list[Any]:
        return [v for v in self.variants if v.status == "ok"]

    def baseline(self) -> Any:
        return next((v for v in self.ok() if v.kind == "baseline"), None)

    def find(self, pred: Callable[[Any], bool]) -> Any:
        return next((v for v in reversed(self.ok()) if pred(v)), None)


def is_int8(v: Any) -> bool:
    r = v.recipe
    return v.kind == "quantized" and r.get("quant") == "int8-static" and r.get("prune_mode") == "none"


def is_pruned(mode: str) -> Callable[[Any], bool]:
    def pred(v: Any) -> bool:
        r = v.recipe
        return (v.kind == "pruned" and r.get("prune_mode") == mode and abs(float(r.get("prune_amount", 0)) - 0.5) < 1e-6
                and r.get("quant") == "none")
    return pred


def is_engine(backend: str) -> Callable[[Any], bool]:
    return lambda v: v.kind == "engine" and v.recipe.get("engine") == backend


def gather(model_path: Path | None, model_format: str | None, workspace: Any, *, cloud: Any = None,
           probe_cloud: bool = True) -> Facts:
    """Read the workspace, the lab record and (when the practice cloud runs) the endpoints the labs deployed."""
    variants: list[Any] = []
    rec: dict[str, Any] = {}
    if workspace is not None:
        workspace.refresh()
        variants = workspace.variants()
        rec = record.load(workspace.root)
    facts = Facts(model_path, model_format, variants, rec, cloud_url=cloud.url if cloud is not None else None)
    dep = record.get(rec, 4, "deploy")
    if dep and cloud is not None and probe_cloud and dep.get("cloud_url") == cloud.url:
        facts.endpoint_status[dep["endpoint"]] = endpoint_status(cloud, dep["endpoint"])
    return facts


def endpoint_status(cloud: Any, name: str) -> str:
    from engines.deploy.resources import is_not_found

    try:
        return str(cloud.clients().sagemaker.describe_endpoint(EndpointName=name).get("EndpointStatus"))
    except Exception as exc:  # noqa: BLE001
        if is_not_found(exc) or "Could not find endpoint" in str(exc):
            return "absent"
        return "unreachable"


def _variant_detail(v: Any) -> str:
    m = v.metrics or {}
    p50 = (m.get("latency_ms") or {}).get("p50")
    acc = m.get("accuracy")
    bits = [v.name]
    if p50 is not None:
        bits.append(f"p50 {p50:.2f} ms")
    if acc is not None:
        bits.append(f"accuracy {100 * acc:.2f} %")
    return ", ".join(bits)


def _check_variant(facts: Facts, pred: Callable[[Any], bool], missing: str) -> tuple[bool, str]:
    v = facts.find(pred)
    return (True, _variant_detail(v)) if v is not None else (False, missing)


def _check_record(facts: Facts, lab: int, key: str, missing: str, describe: Callable[[dict], str],
                  valid: Callable[[dict], bool] = lambda e: True) -> tuple[bool, str]:
    entry = record.get(facts.record, lab, key)
    if entry is None or not valid(entry):
        return False, missing
    return True, describe(entry)


def _bench_valid(facts: Facts, ids_key: str) -> Callable[[dict], bool]:
    """A recorded benchmark counts while every variant it timed still exists."""
    have = {v.id for v in facts.ok()}
    return lambda e: bool(e.get(ids_key)) and all(i in have for i in e[ids_key])


def check_step(lab: Lab, step: Step, facts: Facts) -> tuple[bool, str]:
    n = lab.number
    sid = step.id
    if sid == "baseline":
        b = facts.baseline()
        if b is not None and b.format == "onnx":
            return True, _variant_detail(b)
        return (False, "baseline is " + b.format + ", not ONNX") if b is not None else (False, "no baseline yet")
    if sid == "int8":
        return _check_variant(facts, is_int8, "no INT8 static variant yet")
    if sid in ("structured", "unstructured"):
        return _check_variant(facts, is_pruned(sid), f"no 50% {sid} variant yet")
    if sid in ("openvino", "aoti"):
        return _check_variant(facts, is_engine(sid), f"no {sid} engine yet")
    if sid in ("bench1", "bench2"):
        return _check_record(facts, n, sid, "not benchmarked side by side yet",
                             lambda e: f"timed {e.get('rounds', '?')} rounds at {e['at']}",
                             _bench_valid(facts, "variant_ids"))
    if sid == "gpu":
        return _check_record(facts, n, "gpu", "not read yet", lambda e: f"read at {e['at']}",
                             _bench_valid(facts, "variant_ids"))
    if sid == "cloud":
        if facts.cloud_url:
            return True, f"practice cloud at {facts.cloud_url}"
        return False, "the practice cloud is not running"
    if sid == "deploy":
        dep = record.get(facts.record, 4, "deploy")
        if dep is None:
            return False, "nothing deployed yet"
        status = facts.endpoint_status.get(dep["endpoint"])
        if status is None:
            return False, f"{dep['endpoint']} was deployed to a practice cloud that is no longer running"
        if status == "InService":
            return True, f"{dep['endpoint']} InService (practice)"
        if status == "absent" and record.get(facts.record, 4, "teardown"):
            return True, f"{dep['endpoint']} was deployed, then torn down (practice)"
        return False, f"{dep['endpoint']} is {status} (practice)"
    if sid == "monitor":
        dep = record.get(facts.record, 4, "deploy")
        return _check_record(facts, 4, "monitor", "not monitored yet",
                             lambda e: f"{e['endpoint']}: {e['status']}, {e['hours']:.3f} h (practice)",
                             lambda e: dep is not None and e.get("endpoint") == dep.get("endpoint"))
    if sid == "teardown":
        dep = record.get(facts.record, 4, "deploy")
        if dep is None:
            return False, "nothing deployed yet"
        td = record.get(facts.record, 4, "teardown")
        if td is None or td.get("endpoint") != dep["endpoint"]:
            return False, f"{dep['endpoint']} still deployed"
        return True, f"removed {len(td.get('removed') or [])} resources of {dep['endpoint']} (practice)"
    if sid == "cost":
        return _check_record(facts, 5, "cost", "no cost projection yet",
                             lambda e: f"cheapest CPU {e.get('cheapest_cpu') or '—'}",
                             _bench_valid(facts, "variant_ids"))
    if sid == "gpu_cost":
        return _check_record(facts, 5, "gpu_cost", "no GPU basis priced yet",
                             lambda e: e.get("sentence", "priced"), _bench_valid(facts, "variant_ids"))
    if sid == "sweep":
        return _check_record(facts, 6, "sweep", "no batch sweep yet",
                             lambda e: f"batch 1..{e['points'][-1]['batch']}", _bench_valid(facts, "variant_ids"))
    if sid == "serve":
        return _check_record(facts, 6, "serve", "not served under load yet",
                             lambda e: f"levels {', '.join(str(x) for x in e.get('levels', []))}",
                             _bench_valid(facts, "variant_ids"))
    return False, "unknown step"


def states(lab: Lab, facts: Facts) -> list[StepState]:
    out: list[StepState] = []
    done: dict[str, bool] = {}
    for step in lab.steps:
        ok, detail = check_step(lab, step, facts)
        done[step.id] = ok
        blocked = next((s for s in step.needs if not done.get(s)), None)
        out.append(StepState(step, ok, detail, None if ok else blocked))
    return out


def order_problem(lab: Lab, step_id: str, facts: Facts) -> str | None:
    """Why ``step_id`` cannot run yet (which step comes first), or None when it can."""
    by_id = {s.step.id: s for s in states(lab, facts)}
    st = by_id[lab.step(step_id).id]
    for need in st.step.needs:
        if not by_id[need].done:
            first = by_id[need].step
            return (f"do step {lab.key_of(first.id)} first ({first.title}): {by_id[need].detail}; "
                    f"'{st.step.title}' uses its result")
    return None


def next_step(lab: Lab, facts: Facts) -> Step | None:
    return next((s.step for s in states(lab, facts) if not s.done), None)
