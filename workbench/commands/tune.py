"""``workbench tune MODEL``: search recipes within an accuracy drop and a time budget."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.commands.variants import measure_args

    p = sub.add_parser("tune", help="auto-tune: find the fastest variant within an accuracy budget",
                       description="Try quantization modes, formats, calibrations and pruning amounts, measure "
                                   "each, and recommend the fastest variant whose accuracy drop stays within "
                                   "--max-drop points (the baseline always qualifies). Re-running resumes.")
    p.add_argument("model", metavar="MODEL", help="model file or folder (.onnx, .pt, .pt2, .keras, SavedModel)")
    p.add_argument("--max-drop", type=float, default=1.0, help="largest accuracy drop in points (default 1)")
    p.add_argument("--budget", type=float, default=300.0, help="time budget in seconds (default 300)")
    p.add_argument("--no-prune", dest="prune", action="store_false", help="quantization recipes only")
    p.add_argument("--recover-epochs", type=int, default=3, help="fine-tune epochs after pruning (default 3)")
    p.add_argument("--no-curve", dest="curve", action="store_false",
                   help="PyTorch models: try 30%% and 50%% pruning instead of sweeping the pruning curve "
                        "(30/50/70/90%%, stopping past --max-drop) for the largest amount within the budget")
    measure_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engines.tasks import TaskContext
    from engines.optimize.tune import tune
    from workbench.commands.variants import Progress, finish, open_ctx

    ctx = open_ctx(args)
    progress = Progress()
    try:
        res = tune(ctx, max_drop=args.max_drop, budget_s=args.budget, pruning=args.prune,
                   recover_epochs=args.recover_epochs, task=TaskContext(progress), curve=args.curve)
    finally:
        progress.done()
    best = res.recommended
    payload = {"model": ctx.model_path.name, "workspace": str(ctx.workspace.root), **res.to_dict()}
    payload.pop("tried", None)
    show = [res.baseline.id] + [v.id for v in res.tried]
    finish(args, ctx, best, payload, f"workbench tune (max drop {args.max_drop:g} pts, budget {args.budget:g} s)",
           recommended=best, notes=res.notes, show_ids=show)
    if not args.json:
        print(f"recommended: {best.name} ({best.id[:8]}) · {res.quality_key} · {len(res.tried)} recipes in "
              f"{res.elapsed_s:.1f} s")
    return 0
