"""Layer/block removal: take whole residual blocks or encoder layers out, the least important first.

Importance is measured, not guessed: each removable block (see :mod:`engines.optimize.block_search`) is
bypassed in turn and the model run on the user's data; the block whose absence changes the outputs least
(mean squared change of the outputs relative to their own energy) goes first, then the search is repeated
with it gone (greedy), until ``count`` blocks are out. The result is a smaller dense model (fewer layers:
fewer MACs and less latency on any hardware), recovered afterwards by the same fine-tune as pruning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engines.errors import UnsupportedError, WorkbenchError
from engines.optimize.block_search import (LOOKED_FOR, BlockSearch, bypassed, call, find_blocks, first_tensor,
                                           remove_in_place, require_module)
from engines.optimize.prune_report import PruneReport
from engines.tasks import TaskContext, ensure_task

NOTE_BLOCKS = ("whole blocks removed: the model runs fewer layers, so MACs and latency drop on any hardware; "
               "accuracy usually needs a recovery fine-tune")
SCORE_SAMPLES = 64


def count_for(search: BlockSearch, count: int = 0, fraction: float = 0.0) -> int:
    """How many blocks to remove: ``count`` exactly, else ``fraction`` of the removable ones (at least one).

    Refused with a one-line reason when the model has no removable block, when more are asked for than it
    has, or when the removal would leave no block of a kind at all."""
    if not search.blocks:
        raise UnsupportedError(f"no block can be removed from this model: looked for {LOOKED_FOR} and found "
                               "none (a plain sequential CNN has none); use structured pruning (--prune-mode "
                               "structured) instead")
    n, most = len(search.blocks), search.most_removable()
    if count < 0 or (count == 0 and not 0 < fraction <= 0.95):
        raise WorkbenchError(f"give a number of blocks to remove, {'1' if most <= 1 else f'1 to {most}'} "
                             "(--remove-blocks N)")
    want = count if count else max(1, int(round(fraction * n)))
    names = ", ".join(search.names)
    allowed = "1" if most <= 1 else f"1 to {most}"
    if want > n:
        raise WorkbenchError(f"asked to remove {want} blocks but this model has {n} removable ({names}): "
                             f"give --remove-blocks {allowed}")
    if want > most and most == 0:
        raise UnsupportedError(f"the removable blocks ({names}) are this model's only blocks of their kind: "
                               "removing them would leave none; use structured pruning (--prune-mode structured)")
    if want > most:
        raise WorkbenchError(f"removing {want} of the {n} removable blocks ({names}) would leave no block of "
                             f"that kind in the model: give --remove-blocks {allowed}")
    return want


def _outputs(module: Any, x: np.ndarray, batch: int = 32) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            t = first_tensor(call(module, torch.from_numpy(np.ascontiguousarray(x[s:s + batch]))))
            out.append(t.detach().float().reshape(t.shape[0], -1).numpy())
    return np.concatenate(out)


def output_change(ref: np.ndarray, out: np.ndarray) -> float:
    """Mean over samples of |out - ref|^2 / |ref|^2: 0 is no change, 1 is a change as large as the output."""
    num = ((out - ref) ** 2).sum(axis=1)
    den = (ref ** 2).sum(axis=1) + 1e-12
    return float(np.mean(num / den))


@dataclass
class BlockChoice:
    order: list[str]                   # the blocks chosen, in the order they were taken out
    alone: dict[str, float]            # every removable block: output change when it alone is bypassed
    change: float                      # output change with every chosen block out
    agreement: float | None            # top-1 agreement with the original with every chosen block out


def choose_blocks(module: Any, search: BlockSearch, x: np.ndarray, count: int,
                  task: TaskContext | None = None) -> BlockChoice:
    """Greedy: ``count`` times, take out the block whose absence (with those already out) changes the outputs
    on ``x`` least."""
    task = ensure_task(task)
    module.eval()
    ref = _outputs(module, x)
    chosen: list[str] = []
    alone: dict[str, float] = {}
    best_change, best_out = 0.0, ref
    rounds = sum(len(search.names) - i for i in range(count))
    done = 0
    for step in range(count):
        best = None
        for name in search.names:
            if name in chosen:
                continue
            task.check()
            with bypassed(module, chosen + [name]):
                out = _outputs(module, x)
            done += 1
            task.report(done / max(1, rounds), f"scoring: without {', '.join(chosen + [name])}")
            change = output_change(ref, out)
            if step == 0:
                alone[name] = change
            if best is None or change < best[0]:
                best = (change, name, out)
        best_change, name, best_out = best
        chosen.append(name)
    agree = None
    if ref.shape[1] > 1:
        agree = float(np.mean(ref.argmax(1) == best_out.argmax(1)))
    return BlockChoice(chosen, alone, best_change, agree)


def _count_ops(module: Any, example: Any) -> tuple[int | None, int]:
    params = sum(p.numel() for p in module.parameters())
    try:
        import torch
        import torch_pruning as tp

        with torch.no_grad():
            macs, _ = tp.utils.count_ops_and_params(module, example)
        return int(macs), int(params)
    except Exception:  # noqa: BLE001 - a MAC count is a best effort (some HF blocks are not countable)
        return None, int(params)


def remove_blocks(module: Any, example: Any, count: int = 0, *, fraction: float = 0.0,
                  data: np.ndarray | None = None, samples: int = SCORE_SAMPLES,
                  task: TaskContext | None = None) -> PruneReport:
    """Remove ``count`` (or ``fraction`` of the removable) blocks of ``module`` in place, chosen by their
    measured importance on ``data`` (the example input when None); the report's ``module`` is the result."""
    import torch

    task = ensure_task(task)
    require_module(module)
    start = time.perf_counter()
    example = torch.from_numpy(np.ascontiguousarray(example)) if isinstance(example, np.ndarray) else example
    task.report(0.0, "looking for removable blocks")
    search = find_blocks(module, example)
    want = count_for(search, count, fraction)
    first = example[0] if isinstance(example, (tuple, list)) else example
    x = np.asarray(data if data is not None else first.detach().numpy())[:samples]
    before_out = first_tensor(_forward(module, example))
    macs_before, params_before = _count_ops(module, example)
    choice = choose_blocks(module, search, x, want, task.sub(0.05, 0.9))
    task.report(0.9, f"removing {', '.join(choice.order)}")
    remove_in_place(module, choice.order)
    after_out = first_tensor(_forward(module, example))
    if after_out is None or list(after_out.shape) != list(before_out.shape):
        raise UnsupportedError(f"removing {', '.join(choice.order)} changed the output shape: this model's code "
                               "does not allow it; use structured pruning instead")
    macs_after, params_after = _count_ops(module, example)
    report = PruneReport(mode="blocks", amount=want / len(search.blocks), framework="torch",
                         macs_before=macs_before, macs_after=macs_after, params_before=params_before,
                         params_after=params_after, elapsed_s=time.perf_counter() - start, note=NOTE_BLOCKS,
                         module=module)
    report.blocks = {"removable": search.names, "kinds": {n: k for n, k, _ in search.blocks},
                     "removed": choice.order, "change_alone": {k: round(v, 6) for k, v in choice.alone.items()},
                     "output_change": round(choice.change, 6), "agreement": choice.agreement,
                     "scored_on": int(len(x))}
    return report


def _forward(module: Any, example: Any) -> Any:
    import torch

    module.eval()
    with torch.no_grad():
        return call(module, example)


_SEARCHES: dict[tuple, BlockSearch] = {}


def check_blocks(ctx: Any, recipe: Any) -> BlockSearch:
    """Refuse, before any work, a block removal this model cannot take (one line naming why and the way out)."""
    from engines import formats as F
    from engines.optimize.stages import BLOCKS_NEED_MODULE

    name = ctx.model_path.name
    what = {F.ONNX: "an ONNX graph", F.TORCH_EXPORT: "a torch.export program (one flat graph, no blocks)"}
    if ctx.fmt not in F.TORCH_FORMATS or ctx.fmt == F.TORCH_EXPORT:
        raise UnsupportedError(BLOCKS_NEED_MODULE.format(name=name, what=what.get(ctx.fmt, f"a {ctx.fmt} model")))
    key = (ctx.source_hash, ctx.trust_pickle, tuple(ctx.x.shape[1:]), str(ctx.x.dtype))
    search = _SEARCHES.get(key)
    if search is None:
        import torch

        from engines.models.torch_load import load_torch_module

        module = load_torch_module(ctx.model_path, trust_pickle=ctx.trust_pickle)
        if isinstance(module, (torch.jit.ScriptModule, torch.jit.RecursiveScriptModule)):
            raise UnsupportedError(BLOCKS_NEED_MODULE.format(
                name=name, what="TorchScript without a recorded architecture (a compiled graph)"))
        search = find_blocks(module, (torch.from_numpy(np.ascontiguousarray(ctx.x[:2])),))
        _SEARCHES[key] = search
    count_for(search, int(recipe.prune_blocks), float(recipe.prune_amount))
    if recipe.recover_epochs and not np.issubdtype(ctx.x.dtype, np.floating):
        raise UnsupportedError(f"recovery fine-tuning trains on float inputs and {name} takes {ctx.x.dtype} "
                               "(token ids): set --recover-epochs 0 for block removal on this model")
    return search
