"""Wiring between the Cost/Deploy screens and the engines: which variant, and the worker functions.

Screens call these from thread workers (``TaskPanel.start``); engines are
imported inside the functions so the screens stay free of model code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engines.tasks import TaskContext

PRICED_FORMATS = ("onnx", "tflite")


def target_label(target: Any) -> str:
    if target is None:
        return "no runnable variant"
    m = target.metrics
    bench = "benchmarked" if (m.get("throughput") or {}).get("ips") else "not benchmarked yet"
    kind = f"variant {target.variant.id[:8]}" if target.variant is not None else "model file"
    return f"{target.name} ({kind}, {target.format}, {bench})"


def catalog_summary() -> dict[str, Any]:
    from engines.cost.prices import BUNDLED, load_catalog

    try:
        cat = load_catalog()
    except Exception as exc:  # a broken user catalog is reported, the screen still opens
        return {"as_of": "?", "origin": "invalid", "error": str(exc)}
    origin = "bundled" if cat.origin == str(BUNDLED) else "your prices.json"
    return {"as_of": cat.as_of, "origin": origin, "error": None}


def served_for(target: Any, comparison: dict[str, Any] | None) -> Any:
    """The batching-off figure of the session's server run of ``target`` (for SageMaker's target), or None."""
    figures = served_figures(target, comparison)
    return figures.get("off")


def served_figures(target: Any, comparison: dict[str, Any] | None) -> dict[str, Any]:
    """``{"on"/"off": ServedFigure}`` from the Batching area's comparison, when it ran this target's file."""
    from engines.cost.served import from_comparison

    if target is None or not comparison or not comparison.get("model"):
        return {}
    try:
        same = Path(comparison["model"]).resolve() == Path(target.path).resolve()
    except OSError:
        same = False
    return from_comparison(comparison) if same else {}


def compute_cost(target: Any, options: dict[str, Any], *, comparison: dict[str, Any] | None = None,
                 task: TaskContext | None = None) -> dict[str, Any]:
    """The cost report for ``target`` (benchmarks it first when it has no figures). A server run of it in this
    session (``comparison``) is priced beside the model-only figure and stored in the variant."""
    from engines.cost.model import parse_assumptions
    from engines.cost.report import CostOptions, project_costs
    from engines.errors import WorkbenchError

    if target is None:
        raise WorkbenchError("no ONNX or TFLite variant to price: open an ONNX model or build the baseline (b)")
    opts = dict(options)
    raw = opts.pop("assumptions", "") or ""
    finetune = opts.pop("finetune", None)
    opts["assumptions"] = parse_assumptions([a for a in raw.replace(",", " ").split() if a])
    served = served_figures(target, comparison)
    if served:
        from engines.cost.served import record_served

        if target.variant is not None:
            record_served(target.workspace, target.variant.id, served)
        opts["served"] = served
    report = project_costs(target, CostOptions(**opts), task=task)
    if finetune and finetune.get("hours"):
        from engines.cost.model import spot_finetune
        from engines.cost.prices import load_catalog

        report["spot_finetune"] = spot_finetune(load_catalog(), finetune["instance"], finetune["hours"],
                                                interruption_rate=finetune.get("rate"),
                                                checkpoint_interval_h=finetune.get("checkpoint_h") or 1.0)
    return report


def build_baseline(model_path: str | os.PathLike, workspace: Any, data_path: str | os.PathLike | None = None,
                   *, task: TaskContext | None = None) -> str:
    """Export the open model to the workspace's baseline variant (ONNX or TFLite) and benchmark it."""
    from engines.optimize.pipeline import ensure_baseline
    from engines.optimize.context import open_context

    ctx = open_context(model_path, data=data_path, workspace=workspace)
    return ensure_baseline(ctx, task).id



def usd(value: Any) -> str:
    from engines.cost.report import usd as fmt

    return fmt(value)


def break_even_sentence(r: Any) -> str:
    from engines.cost.report import break_even_sentence as say

    return say(r)


def gpu_vs_cpu_sentence(r: Any) -> str:
    from engines.cost.report import gpu_vs_cpu_sentence as say

    return say(r)


def spot_finetune_sentence(r: Any) -> str:
    from engines.cost.report import spot_finetune_sentence as say

    return say(r)
