"""Structured channel pruning with Torch-Pruning's dependency graph.

Channels are physically removed (L1 magnitude importance, one shot), so the
model that comes out is a smaller dense model: MACs, parameters and latency
drop on any hardware. Every coupled layer (residual adds, batch norms,
concatenations) is pruned consistently by the DependencyGraph. The final
classifier's outputs are kept so the model still predicts the same classes.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from engines.errors import UnsupportedError, WorkbenchError, first_line
from engines.optimize.prune_report import NOTE_STRUCTURED, PruneReport, check_amount
from engines.tasks import TaskContext, ensure_task


def _is_script(module: Any) -> bool:
    import torch

    return isinstance(module, (torch.jit.ScriptModule, torch.jit.RecursiveScriptModule))


def _prunable_types() -> tuple:
    import torch.nn as nn

    return (nn.modules.conv._ConvNd, nn.Linear)


def channel_counts(module: Any) -> dict[str, int]:
    """Output channels (Conv) or features (Linear) of every layer, by qualified name."""
    counts = {}
    for name, m in module.named_modules():
        if isinstance(m, _prunable_types()):
            counts[name] = int(getattr(m, "out_channels", getattr(m, "out_features", 0)))
    return counts


def find_classifier(module: Any, example_input: Any) -> Any | None:
    """The last Conv/Linear layer run in a forward pass: the layer producing the class scores."""
    import torch

    order: list[Any] = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
             for m in module.modules() if isinstance(m, _prunable_types())]
    try:
        with torch.no_grad():
            _forward(module, example_input)
    finally:
        for h in hooks:
            h.remove()
    return order[-1] if order else None


def _forward(module: Any, example_input: Any) -> Any:
    if isinstance(example_input, (tuple, list)):
        return module(*example_input)
    if isinstance(example_input, dict):
        return module(**example_input)
    return module(example_input)


def _output_shapes(module: Any, example_input: Any) -> list[tuple[int, ...]]:
    import torch

    with torch.no_grad():
        out = _forward(module, example_input)
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [tuple(o.shape) for o in outs if isinstance(o, torch.Tensor)]


def _as_tensor_input(example_input: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(example_input, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(example_input))
    if isinstance(example_input, (tuple, list)):
        return type(example_input)(_as_tensor_input(v) for v in example_input)
    return example_input


def _resolve_ignored(module: Any, ignored: Iterable[Any]) -> list[Any]:
    by_name = dict(module.named_modules())
    out = []
    for item in ignored:
        if isinstance(item, str):
            if item not in by_name:
                raise WorkbenchError(f"layer {item!r} named in ignored_layers is not in the model: "
                                     f"check the name (e.g. 'fc' or 'layer4.1.conv2')")
            out.append(by_name[item])
        else:
            out.append(item)
    return out


def _count(module: Any, example_input: Any) -> tuple[int, int]:
    import torch
    import torch_pruning as tp

    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(module, example_input)
    return int(macs), int(params)


def _check_still_runs(module: Any, example_input: Any, shapes_before: list[tuple[int, ...]]) -> None:
    try:
        shapes_after = _output_shapes(module, example_input)
    except Exception as exc:  # the graph was re-shaped in a way this model's code does not allow
        raise UnsupportedError(f"structured pruning left a model that no longer runs ({type(exc).__name__}): "
                               "reload the model and try a lower amount or unstructured pruning") from exc
    if shapes_after != shapes_before:
        raise UnsupportedError(f"structured pruning changed the output shape {shapes_before} -> {shapes_after}: "
                               "reload the model and name the output layer in ignored_layers")


def prune_structured(module: Any, example_input: Any, amount: float, *, ignored_layers: Iterable[Any] | None = None,
                     task: TaskContext | None = None) -> PruneReport:
    """Remove ``amount`` of the channels of every prunable group, in place.

    ``ignored_layers`` (modules or qualified names) are never pruned at their
    outputs; when None, the final classifier found by a forward pass is kept.
    Returns a :class:`PruneReport` whose ``module`` is the pruned module.
    """
    import torch

    task = ensure_task(task)
    amount = check_amount(amount)
    if _is_script(module) or not isinstance(module, torch.nn.Module):
        raise UnsupportedError("structured pruning needs an eager PyTorch nn.Module (TorchScript and ONNX graphs "
                               "cannot be re-shaped): load the model from its architecture, or use unstructured/2:4")
    if not channel_counts(module):
        raise UnsupportedError("structured pruning found no Conv or Linear layer to remove channels from (a "
                               "torch.export program keeps layers only when exported without decompositions): "
                               "export the model again with torch.export.export (no run_decompositions), or "
                               "use unstructured pruning")
    import torch_pruning as tp

    start = time.perf_counter()
    example_input = _as_tensor_input(example_input)
    was_training = module.training
    module.eval()
    task.report(0.0, "counting MACs and parameters")
    try:
        shapes_before = _output_shapes(module, example_input)
        macs_before, params_before = _count(module, example_input)
    except Exception as exc:  # a forward pass that fails means the example input does not fit
        raise WorkbenchError(f"the model cannot run on the example input ({type(exc).__name__}: "
                             f"{first_line(exc)}): give an input of the model's shape") from exc
    ignored = _resolve_ignored(module, ignored_layers) if ignored_layers is not None else []
    if ignored_layers is None:
        head = find_classifier(module, example_input)
        ignored = [head] if head is not None else []
    names = {m: n for n, m in module.named_modules()}
    before = channel_counts(module)
    task.check()
    if amount > 0:
        task.report(0.2, "building the dependency graph")
        pruner_cls = getattr(tp.pruner, "BasePruner", None) or tp.pruner.MetaPruner
        pruner = pruner_cls(module, example_input, importance=tp.importance.MagnitudeImportance(p=1),
                            pruning_ratio=amount, ignored_layers=ignored, iterative_steps=1)
        task.check()
        task.report(0.5, f"removing {amount:.0%} of the channels (L1 magnitude)")
        # from here on the module is changed: no more cancel points, so a cancel never leaves it half-done
        pruner.step()
        _check_still_runs(module, example_input, shapes_before)
    macs_after, params_after = _count(module, example_input)
    module.train(was_training)
    after = channel_counts(module)
    return PruneReport(
        mode="structured", amount=amount, framework="torch",
        macs_before=macs_before, macs_after=macs_after, params_before=params_before, params_after=params_after,
        channels=after, channels_before=before,
        ignored_layers=[names.get(m, type(m).__name__) for m in ignored],
        elapsed_s=time.perf_counter() - start, note=NOTE_STRUCTURED, module=module,
    )
