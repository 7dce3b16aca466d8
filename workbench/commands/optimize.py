"""``workbench optimize MODEL``: prune, recover, quantize and measure one recipe."""

from __future__ import annotations

import argparse



def register(sub: argparse._SubParsersAction) -> None:
    from engines import registry
    from workbench.commands.variants import measure_args

    quant = registry.by_kind("quantize")
    prune = registry.by_kind("prune")

    p = sub.add_parser("optimize", help="quantize and/or prune a model and measure the variant",
                       description="Apply one recipe (prune -> recover -> export -> quantize) and measure the "
                                   "result against the baseline. The same recipe is never computed twice.")
    p.add_argument("model", metavar="MODEL", help="model file or folder (.onnx, .pt, .pt2, .keras, SavedModel)")
    p.add_argument("--quantize", "-q", default=registry.NO_MODE, metavar="MODE",
                   choices=[registry.NO_MODE, *(c.id for c in quant), *registry.aliases("quantize")],
                   help="quantization mode: " + "; ".join(f"{c.id} ({c.help})" for c in quant))
    p.add_argument("--prune", type=float, default=0.0, metavar="FRACTION",
                   help="pruning amount 0..0.95 (fraction of channels or weights)")
    p.add_argument("--prune-mode", choices=[c.id for c in prune],
                   help="; ".join(f"{c.id}: {c.help}" for c in prune)
                        + "; default: structured for PyTorch models, unstructured for ONNX")
    p.add_argument("--remove-blocks", type=int, default=0, metavar="N",
                   help="layer/block removal (--prune-mode blocks): remove N whole residual blocks (identity "
                        "shortcut) or transformer encoder layers, the least important on the data first "
                        "(--prune FRACTION instead: that share of the removable blocks)")
    p.add_argument("--prune-scope", choices=["global", "layer"], default="global",
                   help="unstructured pruning: rank weights globally or per layer")
    p.add_argument("--recover-epochs", type=int, default=0, help="fine-tune epochs after pruning (PyTorch)")
    p.add_argument("--calibration", choices=["minmax", "entropy", "percentile"], default="minmax")
    p.add_argument("--calib-samples", type=int, default=128, help="calibration samples (default 128)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--per-channel", dest="per_channel", action="store_true", default=True,
                   help="per-channel weight scales (default)")
    g.add_argument("--per-tensor", dest="per_channel", action="store_false", help="one scale per weight tensor")
    p.add_argument("--format", dest="quant_format", choices=["qdq", "qoperator"], default="qdq",
                   help="static INT8 graph format")
    p.add_argument("--act", choices=["u8", "s8"], default="u8", help="activation type (default u8: fast on x86)")
    p.add_argument("--weights", choices=["s8", "u8"], default="s8", help="weight type (default s8)")
    p.add_argument("--block-size", type=int, default=32, help="INT4 block size (default 32)")
    p.add_argument("--qat-epochs", type=int, default=2,
                   help="int8-qat: quantization-aware fine-tune epochs (default 2; needs labelled data); the "
                        "post-training INT8 variant of the same model is built beside it")
    p.add_argument("--prune-schedule", choices=["one-shot", "iterative", "regularized"], default="one-shot",
                   help="structured pruning: one-shot then recovery (default); iterative (--prune-steps rounds "
                        "of prune + recover, the recovery epochs shared); regularized (--reg-epochs of group "
                        "regularization before pruning)")
    p.add_argument("--prune-steps", type=int, default=3, help="iterative schedule: prune steps (default 3)")
    p.add_argument("--reg-epochs", type=int, default=2, help="regularized schedule: epochs before pruning (default 2)")
    p.add_argument("--prune-reg", type=float, default=1e-3,
                   help="regularized schedule: group regularization strength (default 0.001)")
    measure_args(p)
    p.set_defaults(handler=run)


def recipe_from_args(args: argparse.Namespace, fmt: str):
    from engines.optimize.context import TORCH_FORMATS
    from engines.optimize.recipes import Recipe

    from engines.errors import WorkbenchError

    blocks = int(getattr(args, "remove_blocks", 0) or 0)
    if blocks and args.prune_mode not in (None, "blocks"):
        raise WorkbenchError(f"--remove-blocks removes whole blocks and --prune-mode {args.prune_mode} prunes "
                             "inside them: choose one (--prune-mode blocks goes with --remove-blocks)")
    if blocks < 0:
        raise WorkbenchError(f"--remove-blocks {blocks}: give a number of blocks >= 1")
    if args.prune_mode == "blocks" and not blocks and args.prune <= 0:
        raise WorkbenchError("--prune-mode blocks needs how many: --remove-blocks N (or --prune FRACTION of the "
                             "removable blocks)")
    if blocks or args.prune_mode == "blocks":
        mode = "blocks"
    elif args.prune_mode == "2:4":
        mode = "2:4"
    elif args.prune > 0:
        mode = args.prune_mode or ("structured" if fmt in TORCH_FORMATS else "unstructured")
    else:
        mode = "none"
    return Recipe(prune_mode=mode, prune_amount=args.prune,
                  prune_scope=args.prune_scope, recover_epochs=args.recover_epochs, quant=args.quantize,
                  quant_format=args.quant_format, per_channel=args.per_channel, activation_type=args.act,
                  weight_type=args.weights, calibration=args.calibration, calib_samples=args.calib_samples,
                  block_size=args.block_size, qat_epochs=args.qat_epochs, prune_schedule=args.prune_schedule,
                  prune_steps=args.prune_steps, reg_epochs=args.reg_epochs, prune_reg=args.prune_reg,
                  prune_blocks=blocks)


def run(args: argparse.Namespace) -> int:
    import sys

    from engines.optimize.pipeline import apply_recipe
    from engines.tasks import TaskContext
    from workbench.commands.variants import Progress, finish, open_ctx

    ctx = open_ctx(args)
    recipe = recipe_from_args(args, ctx.fmt)
    if recipe.quant == "int8-qat":
        return run_qat(args, ctx, recipe)
    progress = Progress()
    try:
        res = apply_recipe(ctx, recipe, task=TaskContext(progress))
    finally:
        progress.done()
    v = res.variant
    payload = {"model": ctx.model_path.name, "workspace": str(ctx.workspace.root), "recipe": recipe.label(),
               "variant_id": v.id, "status": v.status, "error": v.error, "cached": res.cached,
               "seconds": round(res.seconds, 3), "notes": res.notes}
    show = [res.baseline.id] + ([v.parent] if v.parent and v.parent != res.baseline.id else []) + [v.id]
    if v.status != "ok":
        args.save = None  # nothing to save
    finish(args, ctx, v, payload, f"workbench optimize: {recipe.label()}", notes=res.notes, show_ids=show)
    if v.status != "ok":
        if not args.json:
            print(f"workbench: variant failed: {v.error}", file=sys.stderr)
        return 1
    if not args.json:
        print(f"{'cached' if res.cached else 'built'} {v.name} ({v.id[:8]}) in {res.seconds:.2f} s")
    return 0


def run_qat(args: argparse.Namespace, ctx, recipe) -> int:
    """QAT beside post-training INT8 of the same model: both variants, both accuracies."""
    import sys

    from engines.optimize.qat_variant import qat_beside_ptq
    from engines.tasks import TaskContext
    from workbench.commands.variants import Progress, finish

    progress = Progress()
    try:
        cmp = qat_beside_ptq(ctx, recipe, task=TaskContext(progress))
    finally:
        progress.done()
    v = cmp.qat
    payload = {"model": ctx.model_path.name, "workspace": str(ctx.workspace.root), "recipe": recipe.label(),
               "variant_id": v.id, "status": v.status, "error": v.error, "qat_vs_ptq": cmp.to_dict(),
               "notes": cmp.notes}
    if v.status != "ok":
        args.save = None
    finish(args, ctx, v, payload, f"workbench optimize: {recipe.label()} beside post-training INT8",
           notes=cmp.notes, show_ids=[cmp.baseline.id, cmp.ptq.id, v.id])
    if v.status != "ok":
        if not args.json:
            print(f"workbench: variant failed: {v.error}", file=sys.stderr)
        return 1
    if not args.json:
        d = cmp.to_dict()
        fmt = lambda a: "n/a" if a is None else f"{a:.2%}"  # noqa: E731
        print(f"QAT INT8 {fmt(d['qat']['accuracy'])} · post-training INT8 {fmt(d['ptq']['accuracy'])} · "
              f"FP32 {fmt(d['baseline_accuracy'])}")
    return 0
