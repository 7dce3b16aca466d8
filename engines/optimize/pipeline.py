"""The variant pipeline: prune -> recover -> export -> quantize -> measure.

Every result is a :class:`engines.workspace.Variant` made through
``Workspace.create``, keyed by its recipe (which holds the source and data
hashes): a recipe already in the workspace comes back at once. A mode that
fails marks its variant failed with the reason (``Workspace.record_failure``)
and the caller goes on; a cancel or a disk/permission problem is raised
instead, and leaves the workspace as it was.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import Cancelled, WorkbenchError
from engines.optimize.context import MeasureOptions, OptimizeContext, check_recipe_supported, open_context
from engines.optimize.recipes import Recipe
from engines.tasks import TaskContext, ensure_task
from engines.workspace import Variant

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}

__all__ = ["MeasureOptions", "OptimizeResult", "apply_recipe", "ensure_baseline", "open_context", "reference_outputs",
           "retime"]


@dataclass
class OptimizeResult:
    variant: Variant
    baseline: Variant
    cached: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.variant.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant.to_dict(), "baseline_id": self.baseline.id, "cached": self.cached,
                "seconds": round(self.seconds, 4), "notes": list(self.notes)}


def _is_disk_error(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in DISK_ERRNOS:
            return True
        cause = cause.__cause__
    return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, WorkbenchError):
        return str(exc)
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def ensure_baseline(ctx: OptimizeContext, task: TaskContext | None = None) -> Variant:
    """The baseline variant (the model as ONNX, or float TFLite), built and measured once."""
    from engines.optimize.stages import build_baseline

    task = ensure_task(task)
    recipe = Recipe()
    rd = recipe.to_dict(ctx.source_hash, None)
    found = ctx.workspace.find(rd)
    if found is not None and found.status == "ok":
        return found
    task.report(0.0, "building the baseline")
    try:
        return ctx.workspace.create(rd, lambda folder: build_baseline(ctx, folder, task), name="baseline",
                                    kind="baseline")
    except Cancelled:
        raise
    except WorkbenchError:
        raise  # without a baseline nothing can be compared: the user must see why
    except Exception as exc:
        raise WorkbenchError(f"could not build the baseline: {_reason(exc)}") from exc


def reference_outputs(ctx: OptimizeContext, baseline: Variant, task: TaskContext | None = None) -> np.ndarray:
    """The baseline's outputs on the context's data (computed once per context)."""
    with ctx._lock:
        if ctx._reference is not None:
            return ctx._reference
    from engines.measure.evaluate import evaluate_model
    from engines.optimize.context import KERAS_FORMATS
    from engines.optimize.stages import original_outputs

    if ctx.fmt in KERAS_FORMATS:  # the original Keras model, not its float TFLite conversion
        outputs = original_outputs(ctx)
    else:
        _, outputs = evaluate_model(ctx.workspace.model_path(baseline), baseline.format, ctx.x, y=ctx.y,
                                    threads=ctx.threads, batch_size=ctx.measure.eval_batch, task=task,
                                    who="the baseline")
    with ctx._lock:
        ctx._reference = outputs
    return outputs


def _refresh_eval(ctx: OptimizeContext, v: Variant, baseline: Variant) -> Variant:
    """A cached variant measured on other data is re-evaluated on this data; when the data's input shape
    differs from the one its speed was timed at (another sequence length), it is re-timed too (paired with
    the baseline, which is re-timed first)."""
    if v.status != "ok" or v.metrics.get("eval_data") == ctx.data_hash:
        return v
    from engines.measure.evaluate import evaluate_model

    from engines.optimize.context import KERAS_FORMATS
    from engines.optimize.stages import timing_shape

    if v.kind != "engine" and v.metrics.get("timed_shape") != timing_shape(ctx):
        if v.id != baseline.id:
            baseline = _refresh_eval(ctx, baseline, baseline)
        v = retime(ctx, [v])[0]

    ref = None if v.id == baseline.id and ctx.fmt not in KERAS_FORMATS else reference_outputs(ctx, baseline)
    metrics, _ = evaluate_model(ctx.workspace.model_path(v), v.format, ctx.x, y=ctx.y, reference=ref,
                                threads=ctx.threads, batch_size=ctx.measure.eval_batch, who=v.name)
    metrics["eval_data"] = ctx.data_hash
    return ctx.workspace.update_metrics(v.id, **metrics)


def _stage(ctx: OptimizeContext, recipe: Recipe, build: Any, parent: Variant | None, retry_failed: bool,
           task: TaskContext) -> tuple[Variant, bool]:
    """Create one variant (or return the stored one); a failure is recorded, not raised."""
    rd = recipe.to_dict(ctx.source_hash, ctx.data_hash)
    found = ctx.workspace.find(rd)
    if found is not None and (found.status == "ok" or not retry_failed):
        return found, True
    name, kind = recipe.label(), recipe.kind()
    pid = parent.id if parent else None
    try:
        return ctx.workspace.create(rd, lambda folder: build(folder), name=name, kind=kind, parent=pid), False
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a mode becomes the variant's reason
        if _is_disk_error(exc):
            raise exc if isinstance(exc, WorkbenchError) else WorkbenchError(
                f"cannot write the workspace {ctx.workspace.root}: {_reason(exc)}") from exc
        task.report(None, f"{name} failed: {_reason(exc)}")
        return ctx.workspace.record_failure(rd, name=name, kind=kind, error=_reason(exc), parent=pid), False


def apply_recipe(ctx: OptimizeContext, recipe: Recipe, *, task: TaskContext | None = None,
                 retry_failed: bool = True) -> OptimizeResult:
    """Build (or fetch) the variant for ``recipe``; its pruned parent is a variant of its own."""
    from engines.optimize.stages import build_pruned, build_quantized

    task = ensure_task(task)
    t0 = time.perf_counter()
    recipe = recipe.normalized()
    check_recipe_supported(ctx, recipe)  # before any work: a wrong mode for the format exits at once
    notes = list(ctx.notes)
    # fast path: everything stored already
    final = ctx.workspace.find(recipe.to_dict(ctx.source_hash, ctx.data_hash))
    base = ctx.workspace.find(Recipe().to_dict(ctx.source_hash, None))
    if final is not None and base is not None and final.status == "ok" and base.status == "ok":
        final = _refresh_eval(ctx, final, base)
        return OptimizeResult(final, base, True, time.perf_counter() - t0, _with_warnings(notes, base, final))

    has_prune = recipe.prunes
    base = ensure_baseline(ctx, task.sub(0.0, 0.2))
    base = _refresh_eval(ctx, base, base)
    notes = _with_warnings(notes, base)
    if recipe.is_baseline:
        return OptimizeResult(base, base, False, time.perf_counter() - t0, notes)
    task.check()
    ref = reference_outputs(ctx, base, None)
    parent, cached = base, True
    if has_prune:
        stage = recipe.prune_stage()
        end = 0.6 if recipe.quantizes else 1.0
        sub = task.sub(0.2, end)
        parent, cached = _stage(ctx, stage, lambda folder: build_pruned(ctx, stage, folder, ref, sub), base,
                                retry_failed, task)
        if parent.status != "ok" or not recipe.quantizes:
            return OptimizeResult(parent, base, cached and parent.status == "ok", time.perf_counter() - t0, notes)
    task.check()
    parent_path = ctx.workspace.model_path(parent)
    sub = task.sub(0.6 if has_prune else 0.2, 1.0)
    variant, cached = _stage(ctx, recipe, lambda folder: build_quantized(ctx, recipe, parent_path, parent.format,
                                                                         folder, ref, sub), parent, retry_failed, task)
    variant = _refresh_eval(ctx, variant, base)
    if variant.status == "ok":
        task.report(1.0, f"{variant.name}: done")
    return OptimizeResult(variant, base, cached, time.perf_counter() - t0, _with_warnings(notes, base, variant))


def _with_warnings(notes: list[str], base: Variant, variant: Variant | None = None) -> list[str]:
    """``notes`` plus the baseline's degenerate-output warning and the variant's load warning, once each."""
    out = list(notes)
    for text in ((base.metrics or {}).get("degenerate"),
                 ((variant.metrics or {}).get("paired") or {}).get("load_warning") if variant is not None else None):
        if text and text not in out:
            out.append(text)
    return out


def retime(ctx: OptimizeContext, variants: list[Variant] | None = None, *, stale_only: bool = False,
           task: TaskContext | None = None) -> list[Variant]:
    """Re-time variants, each interleaved with the baseline in the same run; store the new paired figures.

    ``variants`` None: every ok variant of the workspace (``stale_only``: those whose figures are stale).
    The baseline's own figure is re-timed alone. Engine variants are skipped (``workbench build`` re-times).
    """
    from engines.measure.paired import is_stale
    from engines.measure.speed import measure_paired, measure_speed
    from engines.optimize.stages import timing_shape

    task = ensure_task(task)
    base = ensure_baseline(ctx, task.sub(0.0, 0.05))
    pool = [v for v in (variants if variants is not None else ctx.workspace.variants())
            if v.status == "ok" and v.kind != "engine"]
    if stale_only:
        pool = [v for v in pool if is_stale(v.metrics)]
    m = ctx.measure
    done: list[Variant] = []
    for i, v in enumerate(pool):
        task.check()
        sub = task.sub(0.05 + 0.95 * i / len(pool), 0.05 + 0.95 * (i + 1) / len(pool))
        sub.report(0.0, f"re-timing {v.name}")
        kw = dict(threads=ctx.threads, data=ctx.x[:1], iterations=m.iterations, budget_s=m.budget_s,
                  warmup=m.warmup, throughput_batch=m.throughput_batch, task=sub)
        if v.id == base.id:
            done.append(ctx.workspace.update_metrics(v.id, **measure_speed(ctx.workspace.model_path(v), v.format,
                                                                              **kw), timed_shape=timing_shape(ctx)))
            continue
        got = measure_paired({"baseline": (ctx.workspace.model_path(base), base.format),
                              "variant": (ctx.workspace.model_path(v), v.format)}, "baseline", **kw)
        figures = dict(got["variant"])
        figures["paired"]["reference"] = base.id
        figures["timed_shape"] = timing_shape(ctx)
        done.append(ctx.workspace.update_metrics(v.id, **figures))
    return done


def save_variant(ctx: OptimizeContext, variant: Variant, dest: str | os.PathLike) -> Path:
    """Copy a variant's model file to ``dest`` (a file path, or a folder to put it in), atomically."""
    import shutil

    from engines.fsutil import atomic_path

    if variant.status != "ok":
        raise WorkbenchError(f"variant {variant.name} failed ({variant.error}); there is no file to save")
    src = ctx.workspace.model_path(variant)
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / f"{ctx.model_path.stem}-{variant.id[:8]}{src.suffix}"
    if src.with_name(src.name + ".data").exists():  # ONNX external data: re-point it at the new name
        import onnx

        model = onnx.load(str(src))
        with atomic_path(dest) as tmp:
            onnx.save(model, str(tmp), save_as_external_data=True, location=dest.name + ".data")
        return dest
    if src.suffix == ".xml" and src.with_suffix(".bin").is_file():   # an OpenVINO IR: its weights go along
        with atomic_path(dest.with_suffix(".bin")) as tmp:
            shutil.copyfile(src.with_suffix(".bin"), tmp)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest
