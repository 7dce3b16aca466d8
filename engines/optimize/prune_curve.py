"""The pruning curve: accuracy and speed against the structured pruning amount, with recovery.

:func:`prune_curve` builds (or fetches from the workspace) one pruned variant per amount through the
variant pipeline, so each point is measured like any variant (accuracy on the held-out data, speed paired
with the baseline), then times every point side by side with the baseline in one interleaved run
(:func:`engines.optimize.tune.race`), so all the speedups on the curve come from the same rounds.
:func:`pick_amount` reads the largest amount within an accuracy budget; :func:`tune_amounts` is the
auto-tuner's hook (it used to try only 30 % and 50 %).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from engines.errors import Cancelled, WorkbenchError
from engines.tasks import TaskContext, ensure_task

DEFAULT_AMOUNTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TUNE_AMOUNTS = (0.3, 0.5, 0.7, 0.9)   # the tuner's coarse sweep, ascending; it stops past the budget


@dataclass
class CurvePoint:
    amount: float
    variant_id: str
    status: str
    error: str | None = None
    quality: float | None = None          # accuracy (0..1) with labels, else top-1 agreement with the baseline
    drop_points: float | None = None      # quality lost against the baseline, in points
    speedup: float | None = None          # baseline p50 / point p50, from the side-by-side run
    speedup_interval: tuple[float, float] | None = None
    p50_ms: float | None = None
    macs: int | None = None
    params: int | None = None
    size_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class PruneCurve:
    model: str
    quality_key: str                      # "accuracy" or "fidelity"
    schedule: str
    recover_epochs: int
    points: list[CurvePoint]
    baseline_id: str
    max_drop: float | None = None
    chosen: float | None = None           # the largest amount within max_drop (None: no budget given, or none)
    timing: str = ""                      # how the speed figures were measured
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["elapsed_s"] = round(self.elapsed_s, 2)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PruneCurve":
        pts = []
        for p in d.get("points") or []:
            p = {k: v for k, v in p.items() if k in CurvePoint.__dataclass_fields__}
            if p.get("speedup_interval") is not None:
                p["speedup_interval"] = tuple(p["speedup_interval"])
            pts.append(CurvePoint(**p))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "points"}
        return cls(points=pts, **known)


def check_amounts(amounts: Sequence[float]) -> list[float]:
    """Sorted unique amounts, each 0..0.95 (a curve past 95 % is refused)."""
    from engines.optimize.prune_schedule import check_schedule

    if not amounts:
        raise WorkbenchError("give at least one pruning amount for the curve (e.g. 0,0.3,0.5,0.7)")
    return sorted({round(check_schedule(a), 4) for a in amounts})


def parse_amounts(text: str) -> list[float]:
    """``"0,0.1,0.5"`` or percentages ``"0,10,50"`` (any value above 1 is read as a percentage)."""
    try:
        values = [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise WorkbenchError(f"amounts {text!r} are not numbers: give e.g. 0,0.3,0.5,0.7") from None
    if any(v > 1 for v in values):
        values = [v / 100.0 for v in values]
    return check_amounts(values)


def _recipe(amount: float, recover_epochs: int, schedule: str, steps: int, reg_epochs: int) -> Any:
    from engines.optimize.recipes import Recipe

    return Recipe(prune_mode="structured", prune_amount=amount, recover_epochs=recover_epochs,
                  prune_schedule=schedule, prune_steps=steps, reg_epochs=reg_epochs)


def _quality(v: Any, key: str) -> float | None:
    m = v.metrics or {}
    if key == "accuracy":
        return m.get("accuracy")
    return (m.get("fidelity") or {}).get("top1_agreement")


def _point(amount: float, v: Any, baseline: Any, key: str) -> CurvePoint:
    from engines.optimize.tune import quality_drop

    p = CurvePoint(amount=amount, variant_id=v.id, status=v.status, error=v.error)
    if v.status != "ok":
        return p
    m = v.metrics or {}
    p.quality = 1.0 if (key == "fidelity" and v.id == baseline.id) else _quality(v, key)
    p.drop_points = 0.0 if v.id == baseline.id else quality_drop(v, baseline, key)
    p.macs = m.get("macs")
    p.size_bytes = m.get("size_bytes")
    p.p50_ms = (m.get("latency_ms") or {}).get("p50")
    sp = ((m.get("paired") or {}).get("speedup") or {})
    if v.id == baseline.id:
        p.speedup, p.speedup_interval = 1.0, (1.0, 1.0)
    elif sp.get("value") is not None:
        p.speedup, p.speedup_interval = sp["value"], tuple(sp.get("interval") or (sp["value"], sp["value"]))
    return p


def pick_amount(points: Sequence[CurvePoint], max_drop: float) -> float | None:
    """The largest measured amount whose quality drop stays within ``max_drop`` points (None: none does)."""
    ok = [p.amount for p in points if p.ok and p.amount > 0 and p.drop_points is not None
          and p.drop_points <= max_drop + 1e-9]
    return max(ok) if ok else None


def prune_curve(ctx: Any, amounts: Sequence[float] = DEFAULT_AMOUNTS, *, recover_epochs: int = 1,
                schedule: str = "one-shot", steps: int = 3, reg_epochs: int = 2, max_drop: float | None = None,
                stop_past_budget: bool = False, budget_s: float | None = None, side_by_side: bool = True,
                task: TaskContext | None = None) -> PruneCurve:
    """Sweep ``amounts`` of structured pruning (each + ``recover_epochs``), measure each point.

    ``stop_past_budget``: stop at the first amount whose drop exceeds ``max_drop`` (the tuner's sweep);
    ``budget_s``: build no new point once that many seconds have passed (stored points still count).
    """
    from engines.optimize.context import TORCH_FORMATS
    from engines.optimize.pipeline import apply_recipe, ensure_baseline

    task = ensure_task(task)
    amounts = check_amounts(amounts)
    if ctx.fmt not in TORCH_FORMATS:
        raise WorkbenchError(f"the pruning curve uses structured pruning, which needs the PyTorch model (.pt); "
                             f"this one is {ctx.fmt}")
    t0 = time.perf_counter()
    key = "accuracy" if ctx.has_labels else "fidelity"
    notes: list[str] = []
    baseline = ensure_baseline(ctx, task.sub(0.0, 0.05))
    points: list[CurvePoint] = []
    variants: dict[float, Any] = {}
    for i, amount in enumerate(amounts):
        task.check()
        lo, hi = 0.05 + 0.85 * i / len(amounts), 0.05 + 0.85 * (i + 1) / len(amounts)
        if amount == 0:
            v = baseline
        else:
            recipe = _recipe(amount, recover_epochs, schedule, steps, reg_epochs)
            stored = ctx.workspace.find(recipe.to_dict(ctx.source_hash, ctx.data_hash))
            if budget_s is not None and time.perf_counter() - t0 > budget_s and stored is None:
                notes.append(f"time budget reached: amounts from {amount:.0%} not built")
                break
            task.report(lo, f"curve point {i + 1}/{len(amounts)}: {recipe.label()}")
            v = apply_recipe(ctx, recipe, task=task.sub(lo, hi), retry_failed=False).variant
        variants[amount] = v
        point = _point(amount, v, baseline, key)
        points.append(point)
        if stop_past_budget and max_drop is not None and point.ok and (point.drop_points or 0) > max_drop:
            break
    timing = "each point paired with the baseline when it was built"
    ok = [variants[p.amount] for p in points if p.ok and p.amount > 0]
    if side_by_side and ok:
        try:
            timing = _side_by_side(ctx, baseline, ok, points, variants, notes, task.sub(0.9, 1.0))
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - the build-time paired figures stand; say why
            notes.append(f"side-by-side re-timing failed ({type(exc).__name__}); speeds are the build-time ones")
    chosen = pick_amount(points, max_drop) if max_drop is not None else None
    task.report(1.0, "curve done" + (f": largest amount within {max_drop:g} pts is {chosen:.0%}"
                                     if chosen is not None else ""))
    curve = PruneCurve(model=ctx.model_path.name, quality_key=key, schedule=schedule, recover_epochs=recover_epochs,
                       points=points, baseline_id=baseline.id, max_drop=max_drop, chosen=chosen, timing=timing,
                       elapsed_s=time.perf_counter() - t0, notes=notes)
    if side_by_side:   # a whole curve (not the tuner's partial sweep): kept for the Optimize screen's chart
        from engines.optimize.curve_store import curve_settings, save_curve

        save_curve(ctx.workspace.root, curve, curve_settings(schedule, recover_epochs, steps, reg_epochs))
    return curve


def _side_by_side(ctx: Any, baseline: Any, ok: list[Any], points: list[CurvePoint], variants: dict[float, Any],
                  notes: list[str], task: TaskContext) -> str:
    from engines.optimize.tune import RACE_ROUNDS, race

    its = max(3, min(20, ctx.measure.iterations // 10))
    timed = race(ctx, [baseline, *ok], rounds=RACE_ROUNDS, iters=its, task=task)
    if timed.load is not None and timed.load.message:
        notes.append(timed.load.message)
    for p in points:
        v = variants.get(p.amount)
        if v is None or not p.ok:
            continue
        p.p50_ms = timed.latency_ms[v.id]["p50"]
        if v.id != baseline.id:
            r = timed.ratios[v.id]
            p.speedup, p.speedup_interval = round(r.value, 4), (round(r.low, 4), round(r.high, 4))
    return (f"all points and the baseline timed side by side: {RACE_ROUNDS} interleaved rounds of {its} "
            f"batch-1 calls, rotating order, {ctx.threads} thread(s); speedup = baseline p50 / point p50 "
            "with its 95% interval over rounds")


def tune_amounts(ctx: Any, *, max_drop: float, recover_epochs: int, budget_s: float,
                 task: TaskContext | None = None) -> tuple[tuple[float, ...], list[str]]:
    """The tuner's pruning amounts: a coarse curve, ascending, stopping past the budget; the largest amount
    within ``max_drop`` (or the smallest tried when none qualifies, so the tuner still reports it)."""
    curve = prune_curve(ctx, TUNE_AMOUNTS, recover_epochs=recover_epochs, max_drop=max_drop, stop_past_budget=True,
                        budget_s=budget_s, side_by_side=False, task=task)
    tried = [p.amount for p in curve.points if p.amount > 0]
    drops = ", ".join(f"{p.amount:.0%}: {p.drop_points:.2f} pts" for p in curve.points
                      if p.amount > 0 and p.drop_points is not None)
    if curve.chosen is not None:
        note = f"pruning curve ({drops}): {curve.chosen:.0%} is the largest amount within {max_drop:g} pts"
        return (curve.chosen,), [note, *curve.notes]
    return (tuple(tried[:1]) or (TUNE_AMOUNTS[0],)), [f"pruning curve ({drops}): no amount within "
                                                      f"{max_drop:g} pts", *curve.notes]
