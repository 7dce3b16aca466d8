"""Quantization-aware training (QAT) for PyTorch models: prepare -> fine-tune -> convert -> ONNX QDQ.

Which flow, and why: PyTorch 2.13 no longer ships the PT2E quantization API in ``torch.ao``
(``torch.ao.quantization.quantize_pt2e`` is gone; it moved to torchao). torchao 0.18 installs here, but its
``prepare_qat_pt2e`` with the X86 Inductor quantizer fails on torch 2.13's exported graphs of a plain
ResNet ("Input partition has more than one output node", measured 2026-12-02), and its converted graphs
target Inductor, not ONNX. So the workbench simulates INT8 itself with the fake-quantize primitives torch
2.13 still supports (``torch.fake_quantize_per_channel_affine`` and ``torch.ao.quantization.FakeQuantize``,
straight-through gradients), and converts with the same ONNX Runtime quantizer post-training INT8 uses, so
the two variants differ only by the QAT fine-tune:

1. **prepare**: fold every Conv+BatchNorm pair (``torch.fx.experimental.optimization.fuse``, the model the
   ONNX file will hold), then fake-quantize every Conv/Linear: weights per output channel, symmetric S8
   (scale from the current weights, as ORT computes it), inputs per tensor, affine U8 (moving-average
   min/max observer), i.e. what the U8/S8 per-channel QDQ graph computes;
2. **fine-tune** N epochs on labelled data with :func:`engines.optimize.finetune.finetune` (progress, cancel,
   resumable checkpoints);
3. **convert**: remove the fake quantizers (the trained float weights stay), export to ONNX, and quantize with
   ORT static QDQ U8/S8 per-channel, calibrated (min/max) on the training data.

The activation ranges ORT calibrates are not the observers' ranges (ORT names tensors its own way); the gain
QAT buys here is weights trained to survive INT8 rounding.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task

QAT_LR = 1e-4            # a fine-tune of a trained model: small steps
QAT_VERSION = "workbench-qat-1"
NO_LABELS = ("quantization-aware training needs labelled data (y in the .npz, or --train-data with x and y): "
             "without labels use post-training INT8 (--quantize int8-static), which calibrates on inputs alone")


@dataclass
class QatReport:
    epochs: int
    folded_batchnorms: int
    fake_quantized_layers: int
    finetune: dict[str, Any] = field(default_factory=dict)
    fake_quant_accuracy: float | None = None    # held-out top-1 with INT8 simulated, after the last epoch
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _WeightFakeQuant:
    """Per-output-channel symmetric S8 fake quantization of a weight (scale = max|w| / 127, as ORT does)."""

    @staticmethod
    def apply(w: Any) -> Any:
        import torch

        dims = tuple(range(1, w.dim()))
        scale = (w.detach().abs().amax(dim=dims) / 127.0).clamp_min(1e-12).float()
        zero = torch.zeros(scale.shape, dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -127, 127)


def _weight_module() -> Any:
    from torch import nn

    class WeightFakeQuant(nn.Module):
        def forward(self, w: Any) -> Any:
            return _WeightFakeQuant.apply(w)

    return WeightFakeQuant()


def _act_fake_quant() -> Any:
    import torch
    from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver

    return FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                        qscheme=torch.per_tensor_affine, reduce_range=False)


def _act_hook(module: Any, args: tuple) -> tuple:
    return (module.qat_act(args[0]), *args[1:])


def _layers(module: Any) -> list[Any]:
    from torch import nn

    return [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def fold_batchnorms(module: Any) -> tuple[Any, int, str]:
    """(module with every Conv+BN folded, how many were folded, a note when folding was not possible)."""
    from torch import nn
    from torch.fx.experimental.optimization import fuse

    before = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    module.eval()
    try:
        fused = fuse(module)
    except Exception as exc:  # noqa: BLE001 - data-dependent control flow: fx cannot trace it
        return module, 0, (f"batch norms not folded (torch.fx cannot trace the model: {type(exc).__name__}); "
                           "the fake quantization sees the unfolded weights")
    after = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    return fused, before - after, ""


def prepare_qat(module: Any, observe_x: Any) -> tuple[Any, int, int, str]:
    """Fold batch norms and attach fake quantizers; one observation pass on ``observe_x`` sets the ranges.

    Returns (prepared module, folded batch norms, fake-quantized layers, note).
    """
    import torch
    from torch.nn.utils import parametrize

    if isinstance(module, (torch.jit.ScriptModule, torch.jit.RecursiveScriptModule)) or \
            not isinstance(module, torch.nn.Module):
        raise UnsupportedError("quantization-aware training needs an eager PyTorch nn.Module (TorchScript cannot "
                               "be trained): load the model from its architecture")
    module, folded, note = fold_batchnorms(module)
    layers = _layers(module)
    if not layers:
        raise UnsupportedError("quantization-aware training found no Conv or Linear layer to quantize")
    for layer in layers:
        parametrize.register_parametrization(layer, "weight", _weight_module())
        layer.add_module("qat_act", _act_fake_quant())
        layer._qat_hook = layer.register_forward_pre_hook(_act_hook)
    module.train()
    with torch.no_grad():
        module(observe_x)
    module.eval()
    return module, folded, len(layers), note


def strip_qat(module: Any) -> Any:
    """Remove the fake quantizers in place, keeping the trained float weights (the model ONNX will hold)."""
    from torch.nn.utils import parametrize

    for layer in _layers(module):
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
        hook = getattr(layer, "_qat_hook", None)
        if hook is not None:
            hook.remove()
            del layer._qat_hook
        if "qat_act" in layer._modules:
            del layer._modules["qat_act"]
    return module.eval()


def quantize_aware_train(module: Any, x: Any, y: Any, *, epochs: int, checkpoint_dir: str | Path,
                         lr: float = QAT_LR, task: TaskContext | None = None) -> tuple[Any, QatReport]:
    """Prepare ``module`` for QAT, fine-tune it ``epochs`` on (x, y), strip the fake quantizers.

    Returns (the float module with QAT-trained weights, ready to export and quantize, the report).
    ``y`` None is refused: QAT needs labels; post-training INT8 does not.
    """
    import torch

    from engines.optimize.finetune import finetune

    task = ensure_task(task)
    if y is None:
        raise WorkbenchError(NO_LABELS)
    if int(epochs) != epochs or epochs < 1:
        raise WorkbenchError(f"QAT epochs must be a whole number >= 1 (got {epochs})")
    t0 = time.perf_counter()
    xs = np.ascontiguousarray(np.asarray(x), dtype=np.float32)
    task.report(0.0, "preparing: folding batch norms, inserting INT8 fake quantizers")
    prepared, folded, n_layers, note = prepare_qat(module, torch.from_numpy(xs[:64]))
    task.check()
    ft = finetune(prepared, xs, y, epochs=int(epochs), lr=lr, checkpoint_dir=checkpoint_dir,
                  task=task.sub(0.05, 0.95), extra_config={"qat": QAT_VERSION})
    task.report(0.97, "converting: removing the fake quantizers")
    report = QatReport(epochs=int(epochs), folded_batchnorms=folded, fake_quantized_layers=n_layers,
                       finetune=ft.to_dict(), fake_quant_accuracy=ft.final_accuracy,
                       notes=[note] if note else [])
    float_module = strip_qat(prepared)
    report.elapsed_s = time.perf_counter() - t0
    return float_module, report
