"""The "why" of a lab's results, computed from the measured evidence stored in the variants and the lab record.

No sentence here is fixed text about the outcome: which way a result went,
by how much, and the cause named (Q/DQ nodes left in float, no VNNI, MACs
removed or not, batching gain flattening) all come from the figures and the
model graphs.
"""

from __future__ import annotations

from typing import Any

from engines.labs import record, state
from engines.labs.tours import Lab


def _speed_line(row: dict[str, Any]) -> str:
    sp, iv = row.get("speedup"), row.get("interval") or [None, None]
    if sp is None:
        return f"{row['name']}: not timed side by side"
    way = "faster" if sp > 1 else "slower"
    size = f"{sp:.2f}x" if sp >= 1 else f"{1 / sp:.2f}x"
    noise = " — within the noise: no real difference" if row.get("within_noise") else ""
    interval = f" (interval {iv[0]:.2f}–{iv[1]:.2f} over {row.get('rounds')} rounds)" if iv[0] is not None else ""
    return (f"{row['name']}: {row['p50_ms']:.3f} ms vs {row['reference_p50_ms']:.3f} ms, {size} {way}"
            f"{interval}{noise}")


_GRAPHS: dict[tuple[str, str], Any] = {}


def _graph(workspace: Any, v: Any) -> Any:
    """The variant's graph facts, read once per variant (its id is a hash of what made it)."""
    from engines.measure.causes import graph_facts

    if v is None or workspace is None or v.format != "onnx":
        return None
    key = (str(workspace.root), v.id)
    if key not in _GRAPHS:
        _GRAPHS[key] = graph_facts(workspace.model_path(v), "onnx")
    return _GRAPHS[key]


def _macs(facts: state.Facts, workspace: Any, v: Any) -> int | None:
    g = _graph(workspace, v)
    return g.macs if g is not None else None


def _acc_line(name: str, acc: float | None, base_acc: float | None) -> str | None:
    if acc is None or base_acc is None:
        return None
    d = 100 * (acc - base_acc)
    return f"{name}: accuracy {100 * acc:.2f} % vs {100 * base_acc:.2f} % ({d:+.2f} points)"


def lab1(facts: state.Facts, workspace: Any) -> list[str]:
    from engines.measure.causes import slowdown_causes
    from engines.measure.cpu_features import cpu_features

    out: list[str] = []
    bench = record.get(facts.record, 1, "bench1")
    v = facts.find(state.is_int8)
    base = facts.baseline()
    if v is None or base is None:
        return ["Make the INT8 variant (step b): the explanation comes from its measured figures."]
    row = (bench or {}).get("rows", [{}])[0] if bench else None
    if row and row.get("id") == v.id:
        out.append(_speed_line(row))
        sp = row.get("speedup") or 0
    else:
        p = (v.metrics or {}).get("paired") or {}
        sp = (p.get("speedup") or {}).get("value") or 0
        vb = ((base.metrics or {}).get("latency_ms") or {}).get("p50")
        vv = ((v.metrics or {}).get("latency_ms") or {}).get("p50")
        if not sp and vb and vv:
            sp = vb / vv
        out.append(f"{v.name}: {sp:.2f}x the baseline as timed when it was made; step c times the two side by "
                   "side" if sp else f"{v.name}: not timed yet; step c times it beside the baseline")
    cpu = cpu_features()
    g = _graph(workspace, v)
    if sp and sp < 1:
        out += [f"why slower: {c}" for c in slowdown_causes("int8-static", g, recipe=v.recipe, cpu=cpu)]
    elif sp:
        dot = "has 8-bit dot-product instructions (VNNI/dotprod)" if cpu.int8_dot else \
            "has no 8-bit dot-product instructions, so the gain comes from smaller memory traffic"
        macs = f" {g.macs / 1e6:.1f} M MACs per sample: enough arithmetic for INT8 kernels to pay off;" \
            if g is not None and g.macs else ""
        qdq = f" {g.qdq_nodes} Q/DQ nodes in {g.nodes}, {sum(g.float_between_qdq.values())} ops left in float" \
            if g is not None else ""
        out.append(f"why faster: this CPU ({cpu.model}) {dot};{macs}{qdq}")
    acc = _acc_line("INT8", v.metrics.get("accuracy"), base.metrics.get("accuracy"))
    if acc:
        out.append(acc)
    sb, sv = base.metrics.get("size_bytes"), v.metrics.get("size_bytes")
    if sb and sv:
        out.append(f"size: {sv / 1024:.0f} KB vs {sb / 1024:.0f} KB ({sb / sv:.1f}x smaller): 8-bit weights")
    return out


def lab2(facts: state.Facts, workspace: Any) -> list[str]:
    out: list[str] = []
    base = facts.baseline()
    if base is None:
        return ["Export the baseline first (step a)."]
    bench = record.get(facts.record, 2, "bench2")
    rows = {r["id"]: r for r in (bench or {}).get("rows", [])}
    base_macs = _macs(facts, workspace, base)
    for mode in ("structured", "unstructured"):
        v = facts.find(state.is_pruned(mode))
        if v is None:
            out.append(f"{mode}: not made yet")
            continue
        out.append(_speed_line(rows[v.id]) if v.id in rows else f"{v.name}: benchmark it side by side (step d)")
        macs = _macs(facts, workspace, v)
        if base_macs and macs:
            if macs < 0.95 * base_macs:
                out.append(f"why: {mode} pruning removed channels: {base_macs / 1e6:.1f} M → {macs / 1e6:.1f} M MACs "
                           f"per sample ({base_macs / macs:.1f}x less arithmetic), so every layer is smaller")
            else:
                out.append(f"why: {mode} pruning only zeroed weights: still {macs / 1e6:.1f} M MACs per sample; dense "
                           "CPU kernels multiply the zeros too, so masking alone does not speed anything up")
        acc = _acc_line(mode, v.metrics.get("accuracy"), base.metrics.get("accuracy"))
        if acc:
            out.append(acc)
            a, b = v.metrics.get("accuracy"), base.metrics.get("accuracy")
            if b - a > 0.05 and not v.recipe.get("recover_epochs"):
                out.append(f"why the accuracy fell: the layers left never learned to do without the removed "
                           f"{mode} {'channels' if mode == 'structured' else 'weights'}; recovery epochs "
                           "(fine-tuning after pruning) win most of it back")
    return out


def lab3(facts: state.Facts, workspace: Any) -> list[str]:
    from engines.labs.published import GPU_FIGURES, lines

    out: list[str] = []
    for backend in ("openvino", "aoti"):
        v = facts.find(state.is_engine(backend))
        if v is None:
            out.append(f"{backend}: not built yet")
            continue
        e = v.extra
        sp, iv = e.get("speedup_p50"), e.get("speedup_interval")
        src = ((e.get("source_speed") or {}).get("latency_ms") or {}).get("p50")
        p50 = (v.metrics.get("latency_ms") or {}).get("p50")
        if sp:
            noise = " — within the noise" if e.get("speedup_within_noise") else ""
            ivs = f" (interval {iv[0]:.2f}–{iv[1]:.2f})" if iv else ""
            out.append(f"{v.name}: p50 {p50:.3f} ms vs ONNX Runtime {src:.3f} ms: {sp:.2f}x{ivs}{noise}"
                       if p50 and src else f"{v.name}: {sp:.2f}x the baseline{ivs}{noise}")
        eager = e.get("eager_speed") or {}
        ep50 = (eager.get("latency_ms") or {}).get("p50")
        if ep50 and p50:
            out.append(f"{v.name} vs the PyTorch model run eagerly: {ep50 / p50:.2f}x ({ep50:.3f} → {p50:.3f} ms)")
        notes = list(e.get("notes") or [])[:2]
        out += [f"{backend}: {n}" for n in notes]
    gpu = record.get(facts.record, 3, "gpu")
    if gpu is not None and not gpu.get("tensorrt_here"):
        out.append(f"no GPU run here: {gpu.get('tensorrt_text')}")
    out.append("Published GPU figures (not measured here, other models):")
    out += ["  " + line for line in lines(GPU_FIGURES)]
    return out


def lab4(facts: state.Facts, workspace: Any) -> list[str]:
    out = ["practice cloud: moto answers every AWS call on 127.0.0.1; its endpoint is InService at once and "
           "returns a canned body, so the model is not run there (the Deploy screen's local check runs it)"]
    dep = record.get(facts.record, 4, "deploy")
    base = facts.baseline()
    if base is not None:
        lat = base.metrics.get("latency_ms") or {}
        if lat.get("p50") is not None:
            out.append(f"the model's own latency, measured here: p50 {lat['p50']:.2f} ms, p99 {lat.get('p99', 0):.2f} ms "
                       "— what serverless bills per request (plus its overhead)")
    if dep:
        if dep.get("invoke_latency_ms") is not None:
            out.append(f"test invocation: {dep['invoke_latency_ms']:.1f} ms round trip to the practice endpoint "
                       "(moto's HTTP, not a model run)")
        if dep.get("estimate"):
            out.append(f"pre-deploy estimate: {dep['estimate']}")
    mon = record.get(facts.record, 4, "monitor")
    if mon:
        cost = mon.get("cost") or {}
        out.append(f"monitor: {mon['status']}, {mon['hours']:.3f} h since deploy, cost so far "
                   f"${cost.get('usd', 0):.4f} ({cost.get('basis', '')})")
        out += [f"monitor: {n}" for n in (mon.get("notes") or [])[:2]]
    return out


def lab5(facts: state.Facts, workspace: Any) -> list[str]:
    from engines.labs.published import GPU_FIGURES, lines

    cost = record.get(facts.record, 5, "cost")
    if cost is None:
        return ["Project costs first (step b)."]
    m = cost.get("measured") or {}
    out = [f"measured here: {m.get('ips', 0):,.0f} inferences/s at batch {m.get('batch')} on "
           f"{m.get('threads')} threads ({m.get('device')})"]
    for r in cost["rows"]:
        out.append(f"{r['instance']}: ${r['usd_per_hour']:.3f}/h, {r['ips']:,.0f}/s ({r['basis']}) → "
                   f"${r['cost_per_1m']:.4f} per 1M, {r['instances_for_peak']} for the peak")
    if cost.get("serverless_monthly") is not None:
        out.append(f"serverless for {cost['profile']['requests_per_month']:,.0f} requests/month: "
                   f"${cost['serverless_monthly']:.2f}/month")
    if cost.get("break_even_rps") is not None:
        out.append(f"serverless and {cost['break_even_vs']} always-on break even at "
                   f"{cost['break_even_rps']:.2f} req/s on average: below it serverless is cheaper")
    g = record.get(facts.record, 5, "gpu_cost")
    if g:
        out.append(f"what a GPU must do to be cheaper: {g['sentence']}; the small model is already cheap per inference on "
                   "a CPU, a GPU's hourly price must be paid back by throughput")
        out.append("Published GPU figures for scale (other models, not measured here):")
        out += ["  " + line for line in lines(GPU_FIGURES)[1::2]]
    return out


def lab6(facts: state.Facts, workspace: Any) -> list[str]:
    from engines.labs.published import BATCHING_FIGURES, lines

    out: list[str] = []
    sw = record.get(facts.record, 6, "sweep")
    if sw:
        pts = sw["points"]
        one = pts[0]
        best = max(pts, key=lambda p: p["ips"])
        out.append(f"batch sweep: {one['ips']:,.0f}/s at batch 1 → {best['ips']:,.0f}/s at batch {best['batch']} "
                   f"({best['ips'] / one['ips']:.1f}x), on {sw.get('threads')} threads")
        flat = next((b for a, b in zip(pts, pts[1:]) if b["ips"] < 1.1 * a["ips"]), None)
        if best["ips"] > 1.3 * one["ips"]:
            out.append(f"why it helped: one call's fixed cost (dispatch, thread wake-up) is shared by the whole batch; "
                       f"per sample {1000 / one['ips']:.3f} ms at batch 1 vs {1000 / best['ips']:.3f} ms at "
                       f"batch {best['batch']} (from the measured throughput)")
        else:
            out.append("why it did not help much: each sample already keeps the cores busy, so a batch only "
                       "queues more work for the same cores")
        if flat is not None:
            cpu = flat.get("cpu_mean")
            busy = f", CPU {cpu:.0f} % busy on average" if isinstance(cpu, (int, float)) else ""
            more = "the cores are saturated: " if isinstance(cpu, (int, float)) and cpu >= 80 else ""
            out.append(f"throughput stops growing from batch {flat['batch']} ({flat['ips']:,.0f}/s{busy}): {more}"
                       "larger batches add latency, not throughput")
    sv = record.get(facts.record, 6, "serve")
    if sv:
        on, off = sv["on"][-1], sv["off"][-1]
        ratio = on["rps"] / off["rps"] if off["rps"] else 0
        out.append(f"served at concurrency {on['concurrency']:g}: batching on {on['rps']:,.0f} req/s (p99 "
                   f"{on['p99_ms']:.1f} ms) vs off {off['rps']:,.0f} req/s (p99 {off['p99_ms']:.1f} ms): {ratio:.2f}x")
        st = (sv.get("stats") or {}).get("on") or {}
        mean = st.get("mean_batch") or st.get("avg_batch")
        if mean:
            out.append(f"the batcher formed batches of {mean:.1f} requests on average")
        model_ms = sw["points"][0]["p50_ms"] if sw else None
        first = sv["on"][0]
        if model_ms and first.get("p50_ms"):
            out.append(f"one request at concurrency {first['concurrency']:g} takes {first['p50_ms']:.2f} ms, of which the "
                       f"model's own run is {model_ms:.3f} ms ({100 * model_ms / first['p50_ms']:.0f} %): the rest is "
                       "HTTP, JSON and queueing")
        if ratio < 1.05:
            out.append("why batching did not help here: a batch saves model time only, and the model is a small "
                       "share of each request; waiting for a batch to fill adds its delay to every request")
        else:
            out.append("why batching helped: concurrent requests were merged into one model call, sharing its "
                       "fixed cost")
    if not out:
        out.append("Sweep batch sizes (step b) and serve under load (step c): the explanation comes from them.")
    out.append("Published for scale (not measured here):")
    out += ["  " + line for line in lines(BATCHING_FIGURES)]
    return out


WHY = {1: lab1, 2: lab2, 3: lab3, 4: lab4, 5: lab5, 6: lab6}


def explain(lab: Lab, facts: state.Facts, workspace: Any) -> list[str]:
    try:
        return WHY[lab.number](facts, workspace)
    except Exception as exc:  # noqa: BLE001 - an explanation must never break the tour
        return [f"(the explanation could not be computed: {type(exc).__name__}: {exc})"]
