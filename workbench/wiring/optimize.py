"""Glue between the Optimize screen and the engines: form -> recipe, worker bodies, table rows.

The screen never touches model code: it calls :func:`apply_in_session` and
:func:`tune_in_session` through ``workbench.tasks.run_task`` (they run in a
thread worker) and reads display rows from :func:`table_rows` /
:func:`chart_points`. Engines are imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.session import Session

# Measurement settings for variants made from the UI (tests shorten them).
MEASURE = {"iterations": 100, "budget_s": 2.0, "warmup": 5, "throughput_batch": 32}

def _modes(output_format: str, none_label: str) -> list[tuple[str, str]]:
    from engines.registry import by_kind

    formats = (output_format, "openvino") if output_format == "onnx" else (output_format,)   # OpenVINO IR from ONNX
    return [(none_label, "none")] + [(c.label, c.id) for c in by_kind("quantize") if c.output_format in formats]


def prune_modes() -> list[tuple[str, str]]:
    from engines.registry import by_kind

    return [(c.id, c.id) for c in by_kind("prune")]


def quant_modes(fmt: str | None) -> list[tuple[str, str]]:
    """The quantization modes the registry offers for a model of format ``fmt``."""
    from engines import formats

    if fmt == formats.TFLITE:
        return [("None (already TFLite)", "none")]   # quantize the Keras/SavedModel source instead
    if formats.is_tf(fmt):
        return _modes(formats.TFLITE, "None (float)")
    return _modes(formats.ONNX, "None (FP32)")


def default_mode(fmt: str | None) -> str:
    return {"keras": "tflite-int8", "savedmodel": "tflite-int8", "tflite": "none"}.get(fmt or "", "int8-static")


def mode_hint(mode: str) -> str:
    """Which hardware a quantization mode speeds up."""
    if mode == "none":
        return "No quantization: the FP32 baseline (plus pruning, if any)."
    from engines.registry import get

    return f"Speeds up: {get('quantize', mode).speeds_up}"


def cpu_line() -> str:
    from engines.measure.cpu_features import cpu_features, int8_outlook

    cpu = cpu_features()
    return f"CPU {cpu.model}: {int8_outlook(cpu)}"


def get_context(session: "Session") -> Any:
    """The session's optimization context, opened once per (model, data, workspace)."""
    from engines.optimize.context import MeasureOptions, open_context

    key = (str(session.model_path), str(session.data_path), str(session.workspace.root if session.workspace else ""))
    cached = session.model_state.optimize_ctx
    if cached is not None and cached[0] == key:
        return cached[1]
    ctx = open_context(session.model_path, data=session.data_path, workspace=session.workspace,
                       trust_pickle=session.trust_pickle, info=session.model_info, measure=MeasureOptions(**MEASURE))
    session.model_state.optimize_ctx = (key, ctx)
    return ctx


def recipe_from_form(form: dict[str, Any]) -> Any:
    from engines.optimize.recipes import Recipe

    amount = int(form.get("prune_pct", 0)) / 100.0
    mode = form.get("prune_mode", "structured")
    prune_mode = "2:4" if mode == "2:4" and amount > 0 else (mode if amount > 0 else "none")
    schedule = form.get("schedule", "one-shot") if prune_mode == "structured" else "one-shot"
    return Recipe(prune_mode=prune_mode, prune_amount=amount if prune_mode != "none" else 0.0,
                  recover_epochs=int(form.get("recover_epochs", 0) or 0) if prune_mode != "none" else 0,
                  quant=form.get("quant", "none"), quant_format=form.get("format", "qdq"),
                  per_channel=bool(form.get("per_channel", True)), activation_type=form.get("act", "u8"),
                  weight_type=form.get("weights", "s8"), calibration=form.get("calibration", "minmax"),
                  calib_samples=int(form.get("calib_samples", 128) or 128), prune_schedule=schedule,
                  prune_steps=int(form.get("prune_steps", 3) or 3), reg_epochs=int(form.get("reg_epochs", 2) or 0),
                  qat_epochs=int(form.get("qat_epochs", 2) or 0))


def apply_in_session(session: "Session", form: dict[str, Any], task: Any = None) -> dict[str, Any]:
    """Worker body: build (or fetch) the variant for the form's recipe."""
    from engines.optimize.pipeline import apply_recipe

    recipe = recipe_from_form(form)
    ctx = get_context(session)
    if recipe.quant == "int8-qat":   # refused before any work; without labels, the way that works is offered
        from engines.errors import WorkbenchError
        from engines.optimize.qat import NO_LABELS
        from engines.optimize.qat_variant import check_qat

        try:
            check_qat(ctx, recipe)
        except WorkbenchError as exc:
            if str(exc) != NO_LABELS:
                raise
            return {"kind": "refused", "variant_id": None, "error": NO_LABELS, "offer": {"quant": "int8-static"},
                    "offer_label": "post-training INT8 (static, calibrated on inputs alone)"}
    res = apply_recipe(ctx, recipe, task=task)
    v = res.variant
    return {"kind": "apply", "variant_id": v.id, "name": v.name, "status": v.status, "error": v.error,
            "cached": res.cached, "seconds": res.seconds, "notes": res.notes}


def tune_in_session(session: "Session", max_drop: float, budget_s: float, task: Any = None) -> dict[str, Any]:
    """Worker body: auto-tune within ``max_drop`` points and ``budget_s`` seconds."""
    from engines.optimize.tune import tune

    res = tune(get_context(session), max_drop=max_drop, budget_s=budget_s, task=task)
    return {"kind": "tune", "variant_id": res.recommended.id, "name": res.recommended.name, "status": "ok",
            "error": None, "front": [v.id for v in res.front], "notes": res.notes, "quality": res.quality_key,
            "tried": len(res.tried), "seconds": res.elapsed_s}


def retime_in_session(session: "Session", variant_id: str | None, task: Any = None) -> dict[str, Any]:
    """Worker body: re-time one variant paired with the baseline; the baseline (or none) selected: every
    variant whose figures are stale (another machine, too old, or no record of where)."""
    from engines.optimize.pipeline import retime

    ctx = get_context(session)
    chosen = ctx.workspace.get(variant_id) if variant_id else None
    single = chosen is not None and chosen.kind != "baseline"
    done = retime(ctx, [chosen] if single else None, stale_only=not single, task=task)
    target = done[0] if single and done else chosen
    what = (f"re-timed {target.name} against the baseline, interleaved in one run" if single and done else
            f"re-timed {len(done)} stale variant(s), each interleaved with the baseline" if done else
            "nothing stale to re-time: every figure was measured here, recently (select a variant to force it)")
    return {"kind": "retime", "variant_id": target.id if target is not None else None,
            "name": target.name if target is not None else "", "status": "ok", "error": None, "notes": [what]}


def table_rows(session: "Session") -> tuple[list[dict[str, Any]], str]:
    """Display rows (with deltas vs the baseline and Pareto marks) and the quality measure's name."""
    from engines.optimize.pareto import pareto_ids, quality_key
    from engines.optimize.report import variant_row

    ws = session.workspace
    if ws is None:
        return [], "accuracy"
    vs = ws.variants()
    key = quality_key(vs)
    front = pareto_ids(vs, key)
    base = ws.baseline()
    from engines.optimize.short_name import short_name
    from workbench.wiring.variants import _macs

    rows = []
    for v in vs:
        row = variant_row(v, base, key, front, ws)
        row["short"] = short_name(v.recipe, v.name, v.kind)
        row["macs"] = _macs(session, v) if v.status == "ok" else None
        rows.append(row)
    return rows, key


def chart_points(rows: list[dict[str, Any]], key: str, axis: str) -> list[dict[str, Any]]:
    """(x = p50 ms or size KB, y = quality %) for every measured variant, with its Pareto mark."""
    out = []
    for r in rows:
        if r["status"] != "ok":
            continue
        x = r["p50_ms"] if axis == "latency" else (r["size_bytes"] or 0) / 1024
        q = r["accuracy"] if key == "accuracy" else (r["top1_agreement"] if r["top1_agreement"] is not None
                                                    else r["cosine"])
        if x is None or q is None:
            continue
        out.append({"name": r["name"], "short": r.get("short") or r["name"], "x": float(x), "y": 100.0 * float(q), "id": r["id"],
                    "front": r["pareto_latency"] if axis == "latency" else r["pareto_size"],
                    "baseline": r["kind"] == "baseline"})
    return out
