"""Auto-tune: search recipes within an accuracy budget and a time budget.

Candidates are tried in order of how likely they are to pay off on a CPU
(static INT8 with U8 activations / S8 weights per channel first, the recipe
that is fast on VNNI/AMX machines), OpenVINO INT8 (NNCF; accuracy-controlled
too when the data has labels) where openvino and nncf are installed, then
other formats, calibrations and types, dynamic INT8, FP16, INT4 for MatMul
models, and structured pruning (with recovery) alone and combined with INT8
(ORT, and OpenVINO). Every candidate is measured;
the result is the Pareto front and one recommended variant: the fastest whose
quality drop is within ``max_drop`` points, timed against the other finalists
in the same rounds; when its interval does not separate it from another, the
more faithful, simpler recipe is recommended, and a note says so. The
baseline always qualifies, so the tuner never ends with nothing. Recipes already in the workspace return at
once, so an interrupted tune resumes where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from engines.errors import WorkbenchError
from engines.optimize.pipeline import apply_recipe, ensure_baseline
from engines.optimize.context import KERAS_FORMATS, TORCH_FORMATS, OptimizeContext
from engines.optimize.pareto import pareto_front, quality
from engines.optimize.recipes import Recipe
from engines.tasks import TaskContext, ensure_task
from engines.workspace import Variant

FINALISTS = 8   # at most this many qualifying variants re-timed side by side with the baseline
CONTENDER = 0.8  # a qualifying variant whose build-time speedup is >= 80% of the best one's joins the race
RACE_ROUNDS = 7
TIE = 0.03      # a lead whose interval's low end is under 3% is a tie: the more faithful, simpler variant wins

FAST_INT8 = Recipe(quant="int8-static", quant_format="qdq", per_channel=True, activation_type="u8",
                   weight_type="s8", calibration="minmax")


@dataclass
class TuneResult:
    baseline: Variant
    recommended: Variant
    front: list[Variant]
    tried: list[Variant]
    qualifying: list[Variant]
    quality_key: str                 # "accuracy" or "fidelity"
    max_drop: float                  # points (percent)
    elapsed_s: float
    skipped: list[str] = field(default_factory=list)   # recipe labels not tried (budget)
    raced: dict[str, float] = field(default_factory=dict)   # variant id -> p50 ms in the final race
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.id, "recommended": self.recommended.to_dict(),
                "front": [v.id for v in self.front], "tried": [v.to_dict() for v in self.tried],
                "qualifying": [v.id for v in self.qualifying], "quality_key": self.quality_key,
                "max_drop_points": self.max_drop, "elapsed_s": round(self.elapsed_s, 2),
                "skipped": self.skipped, "raced_p50_ms": self.raced, "notes": self.notes}


def has_weight_matmul(path: Any) -> bool:
    """Whether an ONNX file has a MatMul with a constant weight (what INT4 weight-only can quantize)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return any(n.op_type == "MatMul" and any(i in inits for i in n.input) for n in model.graph.node)


def candidates(ctx: OptimizeContext, *, pruning: bool = True, recover_epochs: int = 3,
               matmul_path: Any = None, amounts: tuple[float, ...] = (0.3, 0.5)) -> list[Recipe]:
    """The recipes to try for this model, most promising first (``matmul_path``: the baseline ONNX file)."""
    if ctx.fmt in KERAS_FORMATS:
        return [Recipe(quant="tflite-int8"), Recipe(quant="tflite-dynamic"), Recipe(quant="tflite-fp16")]
    if ctx.fmt == "tflite":
        return []
    from engines.optimize.quantize_openvino import tuner_modes

    ov = tuner_modes(ctx)   # OpenVINO INT8 (NNCF), where openvino and nncf are installed
    out = [
        FAST_INT8,
        *(Recipe(quant=m) for m in ov),
        Recipe(quant="int8-static", quant_format="qoperator"),
        Recipe(quant="int8-static", calibration="percentile"),
        Recipe(quant="int8-static", calibration="entropy"),
        Recipe(quant="int8-static", activation_type="s8", weight_type="s8"),   # ORT's default types
        Recipe(quant="int8-static", per_channel=False),
        Recipe(quant="int8-dynamic"),
        Recipe(quant="fp16"),
    ]
    if matmul_path is not None and has_weight_matmul(matmul_path):
        out.append(Recipe(quant="int4"))
    if pruning and ctx.fmt in TORCH_FORMATS and getattr(ctx.model_info(), "arch", None):
        for amount in amounts:
            base = Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=recover_epochs)
            out.append(base)
            out.append(Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=recover_epochs,
                              quant="int8-static"))
            if ov:   # the combined recipe on OpenVINO: pruned channels and NNCF INT8
                out.append(Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=recover_epochs,
                                  quant="openvino-int8"))
    return out


def quality_drop(v: Variant, baseline: Variant, key: str) -> float | None:
    """Points (percent) of quality lost against the baseline; None when unmeasured."""
    if v.status != "ok":
        return None
    m = v.metrics
    if key == "accuracy":
        a, b = m.get("accuracy"), baseline.metrics.get("accuracy")
        return None if a is None or b is None else (b - a) * 100.0
    fid = m.get("fidelity") or {}
    if fid.get("nan_inf"):
        return 100.0
    agree = fid.get("top1_agreement")
    if agree is not None:
        return (1.0 - agree) * 100.0
    cos = fid.get("cosine")
    return None if cos is None else (1.0 - cos) * 100.0


def _latency(v: Variant) -> float:
    return float((v.metrics.get("latency_ms") or {}).get("p50") or float("inf"))


def paired_speedup(v: Variant) -> float | None:
    """The variant's speedup over the baseline, timed interleaved with it (None when never paired)."""
    rec = ((v.metrics.get("paired") or {}).get("speedup") or {})
    return rec.get("value")


def _speed_order(v: Variant, baseline: Variant) -> tuple[float, float]:
    """Sort key, fastest first: the paired speedup where there is one, else the stored p50 ratio."""
    if v.id == baseline.id:
        return (-1.0, v.metrics.get("size_bytes") or 0)
    s = paired_speedup(v)
    if s is None:
        b, p = _latency(baseline), _latency(v)
        s = b / p if p and p != float("inf") and b != float("inf") else 0.0
    return (-float(s), v.metrics.get("size_bytes") or 0)


def recommend(variants: list[Variant], baseline: Variant, key: str, max_drop: float) -> tuple[Variant, list[Variant]]:
    """The fastest qualifying variant (ties: smaller file); the baseline always qualifies."""
    ok = [v for v in variants if v.status == "ok" and v.id != baseline.id]
    qualifying = [baseline] + [v for v in ok if (d := quality_drop(v, baseline, key)) is not None
                               and d <= max_drop + 1e-9]
    best = min(qualifying, key=lambda v: _speed_order(v, baseline))
    return best, qualifying


def _quality_tuple(v: Variant, key: str) -> tuple[float, float, float]:
    fid = v.metrics.get("fidelity") or {}
    q = 1.0 if v.kind == "baseline" else (quality(v, key) or 0.0)
    if v.kind == "baseline":
        return (q, 1.0, 1.0)
    return (q, fid.get("top1_agreement") or 0.0, fid.get("cosine") or 0.0)


def complexity(v: Variant) -> int:
    """How much a recipe changes the model: the baseline 0, one light step 1, ..., prune and quantize most."""
    r = v.recipe or {}
    score = 0
    if r.get("prune_mode", "none") != "none":
        score += 3 + (1 if r.get("recover_epochs") else 0)
    score += {"none": 0, "fp16": 1, "int8-dynamic": 2, "int8-static": 3, "int4": 3, "openvino-int8": 3,
              "openvino-int8-acc": 4}.get(r.get("quant", "none"), 2)
    defaults = FAST_INT8
    if r.get("quant") == "int8-static":
        score += sum(r.get(f) != getattr(defaults, f) for f in
                     ("quant_format", "per_channel", "activation_type", "weight_type", "calibration"))
    return score


def pick_fastest(variants: list[Variant], p50: dict[str, float], key: str, tolerance: float = TIE) -> Variant:
    """The fastest variant; among those within ``tolerance`` of it (timing noise), the most faithful."""
    fastest = min(p50[v.id] for v in variants)
    near = [v for v in variants if p50[v.id] <= fastest * (1.0 + tolerance)]
    return max(near, key=lambda v: (_quality_tuple(v, key), -(v.metrics.get("size_bytes") or 0)))


def pick_separated(variants: list[Variant], timing: Any, key: str) -> tuple[Variant, list[Variant], str | None]:
    """The fastest variant only where its interval separates it from the others; else the more faithful,
    simpler one among those it cannot be told apart from.

    ``timing`` is a :class:`engines.measure.paired.PairedTiming` of ``variants`` (names = ids), so every
    pairwise ratio comes from the same rounds. Returns (choice, the tied group, a note when it was a tie).
    """
    import numpy as np

    from engines.measure.paired import ratio_interval

    rounds = {v.id: np.asarray(timing.round_ms[v.id]) for v in variants}
    fastest = min(variants, key=lambda v: (timing.latency_ms[v.id]["p50"], v.metrics.get("size_bytes") or 0))
    tied = []
    for v in variants:
        if v.id == fastest.id:
            tied.append(v)
            continue
        r = ratio_interval(rounds[v.id] / rounds[fastest.id])   # > 1: fastest is faster than v
        if r.low <= 1.0 + TIE:   # not separated, or separated by less than a practical difference
            tied.append(v)
    choice = max(tied, key=lambda v: (_quality_tuple(v, key), -complexity(v), -(v.metrics.get("size_bytes") or 0)))
    note = None
    if len(tied) > 1:
        names = ", ".join(v.name for v in tied if v.id != choice.id)
        if choice.id == fastest.id:
            note = (f"{choice.name} is the fastest, and also the most faithful and simplest of those its "
                    f"interval cannot separate it from ({names})")
        else:
            note = (f"{fastest.name} was fastest, but its interval does not separate it from {choice.name}: "
                    f"recommending the more faithful, simpler {choice.name} (tied with: {names})")
    return choice, tied, note


def race(ctx: OptimizeContext, variants: list[Variant], *, rounds: int = 5, iters: int = 10,
         task: TaskContext | None = None) -> Any:
    """Time the variants side by side (interleaved rounds, rotating order) at batch 1, the first one the
    reference: a :class:`engines.measure.paired.PairedTiming` keyed by variant id."""
    from engines.measure.paired import runner_calls, time_paired
    from engines.measure.runners import example_feeds
    from engines.measure.speed import open_timing_runner

    runners = {v.id: open_timing_runner(ctx.workspace.model_path(v), v.format, ctx.threads) for v in variants}
    feeds = {}
    for vid, r in runners.items():
        first = r.inputs[0].shape[0] if r.inputs and r.inputs[0].shape else None
        batch = first if isinstance(first, int) and first > 0 else 1
        feeds[vid] = example_feeds(r.inputs, batch=batch, data=ctx.x[:batch])
    return time_paired(runner_calls(runners, feeds), variants[0].id, rounds=rounds, iterations=iters, warmup=3,
                       threads=ctx.threads, task=task)


def contenders(qualifying: list[Variant], baseline: Variant) -> list[Variant]:
    """The qualifying variants that could be the fastest: every one not clearly slower than the best at
    build time (its paired speedup >= CONTENDER x the best's), fastest first, at most FINALISTS.

    Taking all of them, not a fixed top few, keeps the race's field the same from run to run: recipes that
    make the same graph (calibrations of one INT8 format) time alike and would otherwise swap in and out.
    """
    ranked = sorted((v for v in qualifying if v.id != baseline.id), key=lambda v: _speed_order(v, baseline))
    if not ranked:
        return []
    best = -_speed_order(ranked[0], baseline)[0]
    return [v for v in ranked if -_speed_order(v, baseline)[0] >= CONTENDER * best][:FINALISTS]


def _final_race(ctx: OptimizeContext, baseline: Variant, qualifying: list[Variant], key: str, notes: list[str],
                task: TaskContext) -> tuple[Variant | None, dict[str, float]]:
    """Re-time the fastest qualifying variants (and the fast U8/S8 recipe) with the baseline; pick one.

    The raced figures replace the ones stored at build time, each paired with the baseline in this race.
    """
    finalists = contenders(qualifying, baseline)
    favourite = ctx.workspace.find(FAST_INT8.to_dict(ctx.source_hash, ctx.data_hash))
    if favourite is not None and favourite in qualifying and all(v.id != favourite.id for v in finalists):
        finalists.append(favourite)   # the recipe known to be fast on VNNI/AMX always gets a fair race
    if not finalists:
        return None, {}
    task.report(0.97, "timing the finalists side by side")
    its = max(3, min(20, ctx.measure.iterations // 10))
    field_ = [baseline] + finalists
    timed = race(ctx, field_, rounds=RACE_ROUNDS, iters=its, task=task.sub(0.97, 1.0))
    if timed.load is not None and timed.load.message:
        notes.append(timed.load.message)
    for v in field_:
        lat = {k: timed.latency_ms[v.id][k] for k in ("p50", "p90", "p95", "p99", "mean")}
        figures: dict[str, Any] = {"latency_ms": lat, "latency_source": "side-by-side race (auto-tune)",
                                   "measured": dict(timed.measured)}
        if v.id != baseline.id:
            figures["paired"] = timed.record(v.id, baseline.id)
        ctx.workspace.update_metrics(v.id, **figures)
    p50 = {vid: t["p50"] for vid, t in timed.latency_ms.items()}
    notes.append("final side-by-side race (p50 ms, speedup [95% interval]): " + "; ".join(
        f"{v.name} {p50[v.id]:.3g}" + ("" if v.id == baseline.id else f" ({_ratio_text(timed.ratios[v.id])})")
        for v in field_))
    choice, _, note = pick_separated(field_, timed, key)
    if note:
        notes.append(note)
    return choice, p50


def _ratio_text(r: Any) -> str:
    noise = ", within noise" if r.within_noise else ""
    return f"{r.value:.2f}x [{r.low:.2f}-{r.high:.2f}]{noise}"


def tune(ctx: OptimizeContext, *, max_drop: float = 1.0, budget_s: float = 300.0, pruning: bool = True,
         recover_epochs: int = 3, task: TaskContext | None = None, curve: bool = True) -> TuneResult:
    """Search recipes for ``ctx``; see the module docstring."""
    task = ensure_task(task)
    if max_drop < 0 or budget_s <= 0:
        raise WorkbenchError("max drop must be >= 0 points and the budget > 0 seconds")
    t0 = time.perf_counter()
    notes = list(ctx.notes)
    key = "accuracy" if ctx.has_labels else "fidelity"
    if key == "fidelity":
        notes.append("no labels: the accuracy goal is checked as fidelity (top-1 agreement with the baseline)")
    task.report(0.0, "baseline")
    baseline = ensure_baseline(ctx, task.sub(0.0, 0.05))
    base_file = ctx.workspace.model_path(baseline) if baseline.format == "onnx" else None
    amounts: tuple[float, ...] = (0.3, 0.5)
    if pruning and curve and ctx.fmt in TORCH_FORMATS and getattr(ctx.model_info(), "arch", None):
        from engines.optimize.prune_curve import tune_amounts  # the pruning curve picks the amount

        amounts, curve_notes = tune_amounts(ctx, max_drop=max_drop, recover_epochs=recover_epochs,
                                            budget_s=budget_s / 2, task=task.sub(0.05, 0.05))
        notes.extend(curve_notes)
    todo = candidates(ctx, pruning=pruning, recover_epochs=recover_epochs, matmul_path=base_file, amounts=amounts)
    tried: list[Variant] = []
    skipped: list[str] = []
    durations: list[float] = []
    for i, recipe in enumerate(todo):
        task.check()
        elapsed = time.perf_counter() - t0
        typical = sorted(durations)[len(durations) // 2] if durations else 0.0
        stored = ctx.workspace.find(recipe.to_dict(ctx.source_hash, ctx.data_hash))
        if stored is None and (elapsed >= budget_s or elapsed + typical > budget_s * 1.1):
            skipped.append(recipe.label())
            continue
        lo, hi = 0.05 + 0.92 * i / len(todo), 0.05 + 0.92 * (i + 1) / len(todo)
        task.report(lo, f"[{i + 1}/{len(todo)}] {recipe.label()}")
        start = time.perf_counter()
        res = apply_recipe(ctx, recipe, task=task.sub(lo, hi), retry_failed=False)
        if not res.cached:
            durations.append(time.perf_counter() - start)
        tried.append(res.variant)
        if recipe.prunes and recipe.quantizes and res.variant.parent and res.variant.parent != baseline.id:
            parent = ctx.workspace.get(res.variant.parent)
            if all(t.id != parent.id for t in tried):
                tried.append(parent)
    if skipped:
        notes.append(f"time budget reached: {len(skipped)} recipe(s) not tried; run again to resume")
    pool = [baseline] + [v for v in tried if v.id != baseline.id]
    best, qualifying = recommend(pool, baseline, key, max_drop)
    raced_best, raced = _final_race(ctx, baseline, qualifying, key, notes, task)
    if raced_best is not None:
        best = raced_best
    front = pareto_front(pool, "latency", key)
    if best.id == baseline.id and len(qualifying) == 1:
        notes.append(f"no variant stayed within {max_drop:g} point(s); the baseline is recommended")
    task.report(1.0, f"recommended: {best.name}")
    return TuneResult(baseline=baseline, recommended=best, front=front, tried=tried, qualifying=qualifying,
                      quality_key=key, max_drop=max_drop, elapsed_s=time.perf_counter() - t0, skipped=skipped,
                      raced=raced, notes=notes)
