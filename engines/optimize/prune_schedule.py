"""Structured pruning schedules beside one-shot + recovery: iterative, and sparsity-regularized.

- **iterative**: ``steps`` rounds of (remove a further slice of the channels, recover), Torch-Pruning's
  linear schedule (after step k of N, k/N of ``amount`` is gone); the recovery epochs are shared between
  the steps (the same training budget as one-shot + the same recovery epochs).
- **regularized**: ``reg_epochs`` of training with Torch-Pruning's group regularization
  (``GroupNormPruner.regularize``: each channel group's weights are pulled toward zero, the least important
  groups hardest), then prune once by group L2 magnitude, then recover ``recover_epochs``. The
  regularization epochs are extra training, and reports say so.

Both keep the classifier's outputs, and refuse an amount above 95 %.
"""

from __future__ import annotations

import time
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError
from engines.optimize.prune_report import MAX_AMOUNT, NOTE_STRUCTURED, PruneReport, check_amount
from engines.tasks import TaskContext, ensure_task

MAX_STEPS = 20


def check_schedule(amount: float, steps: int = 1) -> float:
    """The final amount of a schedule, refused above 95 % (or a step count outside 1..20)."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        raise WorkbenchError(f"pruning amount {amount!r} is not a number: give a fraction such as 0.7") from None
    if value > MAX_AMOUNT:
        raise WorkbenchError(f"a pruning schedule of {value:.0%} is refused: a schedule may remove at most "
                             f"{MAX_AMOUNT:.0%} of the channels (give 0.95 or less)")
    if int(steps) != steps or not 1 <= steps <= MAX_STEPS:
        raise WorkbenchError(f"pruning steps must be a whole number from 1 to {MAX_STEPS} (got {steps})")
    return check_amount(value)


def epochs_per_step(total: int, steps: int) -> list[int]:
    """``total`` recovery epochs shared between ``steps`` (the later steps get the remainder)."""
    base, extra = divmod(int(total), int(steps))
    return [base + (1 if i >= steps - extra else 0) for i in range(steps)]


def _setup(module: Any, example: Any) -> tuple[Any, list[Any], list[tuple[int, ...]], tuple[int, int], dict]:
    import torch

    from engines.optimize.prune_structured import (_as_tensor_input, _count, _is_script, _output_shapes,
                                                   channel_counts, find_classifier)

    if _is_script(module) or not isinstance(module, torch.nn.Module):
        raise UnsupportedError("pruning schedules need an eager PyTorch nn.Module (TorchScript and ONNX graphs "
                               "cannot be re-shaped): load the model from its architecture")
    if not channel_counts(module):
        raise UnsupportedError("structured pruning found no Conv or Linear layer to remove channels from")
    example = _as_tensor_input(example)
    module.eval()
    shapes = _output_shapes(module, example)
    head = find_classifier(module, example)
    return example, [head] if head is not None else [], shapes, _count(module, example), channel_counts(module)


def _report(module: Any, example: Any, amount: float, counts: tuple[int, int], before: dict, ignored: list,
            start: float, note: str) -> PruneReport:
    from engines.optimize.prune_structured import _count, channel_counts

    names = {m: n for n, m in module.named_modules()}
    macs, params = _count(module, example)
    return PruneReport(mode="structured", amount=amount, framework="torch", macs_before=counts[0], macs_after=macs,
                       params_before=counts[1], params_after=params, channels=channel_counts(module),
                       channels_before=before, ignored_layers=[names.get(m, type(m).__name__) for m in ignored],
                       elapsed_s=time.perf_counter() - start, note=f"{NOTE_STRUCTURED}; {note}", module=module)


def prune_iterative(module: Any, example: Any, amount: float, x: Any, y: Any, *, steps: int, recover_epochs: int,
                    checkpoint_dir: Any, task: TaskContext | None = None) -> tuple[PruneReport, dict[str, Any]]:
    """``steps`` rounds of prune + recover to ``amount`` in total; the module is changed in place."""
    import torch_pruning as tp

    from engines.optimize.finetune import finetune
    from engines.optimize.prune_structured import _check_still_runs
    from pathlib import Path

    task = ensure_task(task)
    amount = check_schedule(amount, steps)
    start = time.perf_counter()
    example, ignored, shapes, counts, before = _setup(module, example)
    pruner = tp.pruner.BasePruner(module, example, importance=tp.importance.MagnitudeImportance(p=1),
                                  pruning_ratio=amount, ignored_layers=ignored, iterative_steps=int(steps))
    share = epochs_per_step(recover_epochs, int(steps))
    history: list[dict[str, Any]] = []
    for i, epochs in enumerate(share):
        lo, hi = i / steps, (i + 1) / steps
        task.report(lo, f"step {i + 1}/{steps}: removing channels to {amount * (i + 1) / steps:.0%}")
        module.eval()
        pruner.step()
        _check_still_runs(module, example, shapes)
        if epochs:
            ft = finetune(module, x, y, epochs=epochs, checkpoint_dir=Path(checkpoint_dir) / f"step{i + 1}",
                          task=task.sub(lo, hi))
            history.append({"step": i + 1, "epochs": epochs, "accuracy": ft.final_accuracy,
                            "accuracy_before": ft.accuracy_before, "losses": ft.losses})
        else:
            history.append({"step": i + 1, "epochs": 0})
    module.eval()
    rep = _report(module, example, amount, counts, before, ignored, start,
                  f"iterative: {steps} steps of prune + recover ({'/'.join(map(str, share))} epochs)")
    final = next((h.get("accuracy") for h in reversed(history) if h.get("epochs")), None)
    return rep, {"schedule": "iterative", "steps": history, "epochs": int(recover_epochs), "final_accuracy": final}


def prune_regularized(module: Any, example: Any, amount: float, x: Any, y: Any, *, reg_epochs: int,
                      recover_epochs: int, reg: float = 1e-3, checkpoint_dir: Any,
                      task: TaskContext | None = None) -> tuple[PruneReport, dict[str, Any]]:
    """Group-regularized training, one prune by group L2 magnitude, recovery; the module is changed in place."""
    import torch_pruning as tp

    from engines.optimize.finetune import finetune
    from engines.optimize.prune_structured import _check_still_runs
    from pathlib import Path

    task = ensure_task(task)
    amount = check_schedule(amount)
    if int(reg_epochs) != reg_epochs or reg_epochs < 0 or not 0 < reg <= 1:
        raise WorkbenchError("regularized pruning needs reg epochs >= 0 and a strength in (0, 1]")
    start = time.perf_counter()
    example, ignored, shapes, counts, before = _setup(module, example)
    pruner = tp.pruner.GroupNormPruner(module, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                       reg=float(reg), pruning_ratio=amount, ignored_layers=ignored,
                                       iterative_steps=1)
    out: dict[str, Any] = {"schedule": "regularized", "reg": float(reg), "reg_epochs": int(reg_epochs),
                           "epochs": int(recover_epochs)}
    if reg_epochs:
        task.report(0.0, f"sparsity-regularized training, {reg_epochs} epoch(s)")
        ft = finetune(module, x, y, epochs=int(reg_epochs), checkpoint_dir=Path(checkpoint_dir) / "regularize",
                      task=task.sub(0.0, 0.5), after_backward=pruner.regularize,
                      extra_config={"group_reg": float(reg)})
        out["regularized"] = {"accuracy": ft.final_accuracy, "losses": ft.losses}
    task.report(0.5, f"removing {amount:.0%} of the channels (group L2 magnitude)")
    module.eval()
    pruner.step()
    _check_still_runs(module, example, shapes)
    if recover_epochs:
        ft = finetune(module, x, y, epochs=int(recover_epochs), checkpoint_dir=Path(checkpoint_dir) / "recover",
                      task=task.sub(0.5, 1.0))
        out.update(accuracy_before=ft.accuracy_before, final_accuracy=ft.final_accuracy, losses=ft.losses)
    module.eval()
    rep = _report(module, example, amount, counts, before, ignored, start,
                  f"regularized: {reg_epochs} epoch(s) of group regularization ({reg:g}) before pruning")
    return rep, out


def run_schedule(module: Any, example: Any, recipe: Any, x: Any, y: Any, *, checkpoint_dir: Any,
                 task: TaskContext | None = None) -> tuple[PruneReport, dict[str, Any]]:
    """The recipe's schedule (iterative or regularized) on ``module``."""
    if recipe.prune_schedule == "iterative":
        return prune_iterative(module, example, recipe.prune_amount, x, y, steps=recipe.prune_steps,
                               recover_epochs=recipe.recover_epochs, checkpoint_dir=checkpoint_dir, task=task)
    if recipe.prune_schedule == "regularized":
        return prune_regularized(module, example, recipe.prune_amount, x, y, reg_epochs=recipe.reg_epochs,
                                 recover_epochs=recipe.recover_epochs, reg=recipe.prune_reg,
                                 checkpoint_dir=checkpoint_dir, task=task)
    raise WorkbenchError(f"unknown pruning schedule {recipe.prune_schedule!r}: use iterative or regularized")
