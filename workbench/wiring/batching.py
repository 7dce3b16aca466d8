"""Batching area wiring: the runnable target, the server, sweeps, on/off comparison, Triton export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.threads import yielding
from workbench.wiring.results import BatchingCompared, ServerStarted, ServerStopped, SweepDone, TritonExported


def runnable_target(model_path: Any, workspace: Any, variant_id: str | None) -> Any:
    from engines.serving.target import runnable_target as resolve

    return resolve(model_path, workspace, variant_id)


def target_from_path(path: Path) -> Any:
    """A :class:`engines.targets.Target` for an .onnx/.tflite file, or None when it is not one."""
    from engines.serving.target import RUNNABLE_SUFFIXES, Target

    fmt = RUNNABLE_SUFFIXES.get(path.suffix.lower())
    if not path.is_file() or fmt is None:
        return None
    return Target(path.stem, path, fmt)


def start_server(model: str, fmt: str, *, task: Any = None, **kw: Any) -> ServerStarted:
    from engines.serving.app import open_and_serve

    return ServerStarted(open_and_serve(model, fmt, "127.0.0.1", 0, task=task, **kw))


def stop_server(server: Any, task: Any = None) -> ServerStopped:
    from engines.serving.app import stop_server as stop

    return ServerStopped(stop(server, task=task))


def server_stats(server: Any) -> dict[str, Any]:
    """The live counters: the batcher's (requests, mean batch, queue depth, ...) and ``latency_ms`` (p50, p99)."""
    return server.app.state.serving.stats()


def sweep(model: str, *, task: Any = None, **kw: Any) -> SweepDone:
    from engines.measure.sweep import batch_sweep

    return SweepDone(yielding(batch_sweep)(model, task=task, **kw))


def compare(model: str, *, task: Any = None, sweep: Any = None, record_in: Any = None,
            **kw: Any) -> BatchingCompared:
    """Batching on vs off, with the model's own batch gain (``result["batch_gain"]``) that explains it: taken
    from ``sweep`` when that is a sweep of this model, else measured first (batch 1 and max batch, paired).
    When ``record_in`` (a Target) is a workspace variant, what the server reached is stored in it
    (``metrics.served``), so
    ``workbench cost``/``deploy`` and the Cost area price it without another run."""
    from engines.serving.experiment import compare_batching
    from engines.tasks import ensure_task

    task = ensure_task(task)
    top = max(1, int(kw.get("max_batch", 32)))
    gain = batch_gain(sweep, model, top)
    share = 0.0
    if gain is None and top > 1:
        from engines.measure.sweep import batch_sweep

        share = 0.15
        task.report(0.0, f"timing the model at batch 1 and {top}, interleaved")
        quick = yielding(batch_sweep)(model, fmt=kw.get("fmt", "onnx"), batches=[1, top], iterations=100,
                                      budget_s_per_point=1.0, task=task.sub(0.0, share))
        gain = batch_gain(quick, model, top)
    result = yielding(compare_batching)(model, task=task.sub(share, 1.0), **kw)
    result["batch_gain"] = gain
    if record_in is not None and getattr(record_in, "variant", None) is not None:
        from engines.cost.served import record_served
        from workbench.wiring.cost import served_figures

        record_served(record_in.workspace, record_in.variant.id, served_figures(record_in, result))
    return BatchingCompared(result)


def batch_gain(sweep: Any, model: str, top: int) -> dict[str, Any] | None:
    """The model's items/s gain from its smallest batch to the largest one <= ``top`` in a sweep of ``model``."""
    if sweep is None or Path(sweep.model).resolve() != Path(model).resolve():
        return None
    pts = [p for p in sweep.points if p.batch <= top and p.gain]
    if not pts:
        return None
    p = max(pts, key=lambda q: q.batch)
    return {"from": p.gain.get("vs_batch", 1), "to": p.batch, "value": p.gain["value"],
            "interval": p.gain.get("interval"), "within_noise": p.gain.get("within_noise"), "device": sweep.device}


def batching_verdict(result: dict[str, Any]) -> str | None:
    """The on/off result in one sentence, explained by the model's measured batch gain."""
    on, off = result.get("on") or [], result.get("off") or []
    if not (on and off) or not off[-1]["throughput_rps"] > 0:
        return None
    ratio = on[-1]["throughput_rps"] / off[-1]["throughput_rps"]
    head = f"at concurrency {on[-1]['level']:g}, batching gives {ratio:.2f}x the throughput of batching off"
    gain = result.get("batch_gain")
    if not gain:
        return head + " (a batch sweep, w, measures how much the model itself gains from batching)"
    g, iv = gain["value"], gain.get("interval")
    where = "on this CPU" if gain.get("device", "cpu") == "cpu" else f"on {gain['device']}"
    grows = (f"this model's throughput grows {'only ' if g < 1.5 else ''}{g:.2f}x"
             + (f" [{iv[0]:.2f}-{iv[1]:.2f}]" if iv else "") + f" from batch {gain['from']} to {gain['to']} {where}")
    mean = (result.get("stats_on") or {}).get("mean_batch")
    if ratio >= 1.1 and g >= 1.5:
        tail = "so grouping requests pays off" + (f" (batches held {mean:.1f} requests on average)" if mean else "")
    elif ratio >= 1.1:
        tail = "so most of the gain comes from the serving path, not from the model's own batch speed-up"
    elif g < 1.5:
        tail = "so waiting for a batch costs more than it saves"
    elif mean is not None and mean < 2:
        tail = (f"but batches held only {mean:.1f} requests on average at this concurrency: the queue delay was "
                "mostly waiting (raise the concurrency or lower the delay)")
    else:
        tail = ("yet the work outside the model (HTTP, decoding each request) limits what batching saves here"
                + (f" (batches held {mean:.1f} requests on average)" if mean else ""))
    return f"{head}: {grows}, {tail}"


def export_triton(model: str, out: Path, *, task: Any = None, **kw: Any) -> TritonExported:
    from engines.serving.triton import export_triton_repo

    r = export_triton_repo(model, out, task=task, **kw)
    return TritonExported(Path(r["model_dir"]), r)


def recommend(sweep_result: Any, budget_ms: float) -> dict[str, Any]:
    from engines.measure.sweep import recommend_batching

    return recommend_batching(sweep_result, budget_ms)


def right_sizing_hint(run_metrics: Any, batch: int) -> str:
    from engines.measure.metrics import right_sizing_hint as hint

    return hint(run_metrics, batch)


def curl_example(server: Any) -> str:
    """A request a person can paste: one zero sample of the served model's first input, as NPY."""
    import sys

    state = server.app.state.serving
    spec = state.inputs[0] if state.inputs else None
    if spec is None:
        return f"curl -s {server.url}/metadata"
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in spec.shape] or [1]
    dims[0] = 1
    shape = ",".join(str(d) for d in dims) + ("," if len(dims) == 1 else "")
    return (f"{sys.executable} -c \"import numpy as n,sys; n.save(sys.stdout.buffer, n.zeros(({shape}), '{spec.dtype}'))\" | "
            f"curl -s -X POST {server.url}/invocations -H 'content-type: application/x-npy' --data-binary @-")
