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
    return server.app.state.serving.batcher.stats()


def sweep(model: str, *, task: Any = None, **kw: Any) -> SweepDone:
    from engines.measure.sweep import batch_sweep

    return SweepDone(yielding(batch_sweep)(model, task=task, **kw))


def compare(model: str, *, task: Any = None, **kw: Any) -> BatchingCompared:
    from engines.serving.experiment import compare_batching

    return BatchingCompared(yielding(compare_batching)(model, task=task, **kw))


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
