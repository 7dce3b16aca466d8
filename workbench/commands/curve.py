"""``workbench curve MODEL``: accuracy and speed against the structured pruning amount, with recovery."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.commands.variants import measure_args

    p = sub.add_parser("curve", help="pruning curve: accuracy and speed against the pruning amount",
                       description="Prune a PyTorch model by each amount (structured channels, each + recovery "
                                   "epochs), measure every point like a variant, time all points side by side "
                                   "with the baseline, and, with --max-drop, name the largest amount within the "
                                   "accuracy budget. Points are variants: a re-run reuses them.")
    p.add_argument("model", metavar="MODEL", help="PyTorch model file with its architecture (.pt, .pt2)")
    p.add_argument("--amounts", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
                   help="comma-separated fractions (or percentages), each at most 0.95 (default 0..0.9 by 0.1)")
    p.add_argument("--recover-epochs", type=int, default=1, help="fine-tune epochs after pruning (default 1)")
    p.add_argument("--schedule", choices=["one-shot", "iterative", "regularized"], default="one-shot",
                   help="pruning schedule of every point (see workbench optimize --prune-schedule)")
    p.add_argument("--prune-steps", type=int, default=3, help="iterative schedule: prune steps (default 3)")
    p.add_argument("--reg-epochs", type=int, default=2, help="regularized schedule: epochs before pruning")
    p.add_argument("--max-drop", type=float, help="accuracy budget in points: report the largest amount within it")
    measure_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from engines.errors import WorkbenchError
    from engines.optimize.prune_curve import parse_amounts, prune_curve
    from engines.tasks import TaskContext
    from workbench.commands.variants import Progress, open_ctx

    amounts = parse_amounts(args.amounts)   # refused (> 95 %, not numbers) before the model is opened
    if args.recover_epochs < 0:
        raise WorkbenchError("recovery epochs must be >= 0")
    ctx = open_ctx(args)
    progress = Progress()
    try:
        curve = prune_curve(ctx, amounts, recover_epochs=args.recover_epochs, schedule=args.schedule,
                            steps=args.prune_steps, reg_epochs=args.reg_epochs, max_drop=args.max_drop,
                            task=TaskContext(progress))
    finally:
        progress.done()
    payload = {"workspace": str(ctx.workspace.root), **curve.to_dict()}
    if args.json:
        json.dump(payload, sys.stdout, indent=1, default=str)
        print()
        return 0
    print(f"pruning curve of {curve.model} ({curve.schedule}, +{curve.recover_epochs} recovery epochs; "
          f"quality = {curve.quality_key})")
    print(f"{'amount':>6} {'quality':>8} {'Δpts':>7} {'speedup':>8} {'interval':>13} {'p50 ms':>8} {'MMACs':>8}")
    for p in curve.points:
        if not p.ok:
            print(f"{p.amount:6.0%} failed: {p.error}")
            continue
        iv = f"{p.speedup_interval[0]:.2f}-{p.speedup_interval[1]:.2f}" if p.speedup_interval else "-"
        q = "-" if p.quality is None else f"{p.quality:.2%}"
        d = "-" if p.drop_points is None else f"{p.drop_points:+.2f}"
        sp = "-" if p.speedup is None else f"{p.speedup:.2f}x"
        lat = "-" if p.p50_ms is None else f"{p.p50_ms:.3f}"
        macs = "-" if p.macs is None else f"{p.macs / 1e6:.1f}"
        print(f"{p.amount:6.0%} {q:>8} {d:>7} {sp:>8} {iv:>13} {lat:>8} {macs:>8}")
    print()
    for line in curve_chart(curve.points):
        print(line)
    print(f"timing: {curve.timing}")
    if args.max_drop is not None:
        print(f"largest amount within {args.max_drop:g} pts: "
              + ("none" if curve.chosen is None else f"{curve.chosen:.0%}"))
    for n in curve.notes:
        print(f"note: {n}")
    return 0


def curve_chart(points: list, width: int = 40) -> list[str]:
    """The curve as two bars per amount: quality (#, full width = 100 %) and paired speedup (=, full width =
    the largest speedup measured), so where accuracy falls off and what speed it buys read at a glance."""
    ok = [p for p in points if p.ok]
    if not ok:
        return []
    top = max((p.speedup or 0.0) for p in ok) or 1.0
    lines = [f"{'':>6}  quality # (0-100 %)   speedup = (0-{top:.2f}x)"]
    for p in ok:
        q = max(0.0, min(1.0, p.quality or 0.0))
        sp = max(0.0, (p.speedup or 0.0) / top)
        lines.append(f"{p.amount:6.0%}  {'#' * round(q * width):<{width}} {'' if p.quality is None else f'{q:.0%}'}")
        lines.append(f"{'':6}  {'=' * round(sp * width):<{width}} "
                     f"{'' if p.speedup is None else f'{p.speedup:.2f}x'}")
    return lines
