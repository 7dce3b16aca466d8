"""QAT as a variant of the pipeline, beside post-training INT8 of the same model.

:func:`check_qat` refuses before any work what QAT cannot take (a non-PyTorch model, no labels, a pruned
parent); :func:`build_qat` is the pipeline stage (QAT fine-tune, export, ORT QDQ, measure);
:func:`qat_beside_ptq` builds both the QAT variant and the post-training INT8 variant made with the same
quantizer settings, and returns both accuracies.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task


def ptq_recipe(recipe: Any) -> Any:
    """The post-training INT8 recipe QAT is compared with: static QDQ U8/S8 per-channel min/max, same samples."""
    from engines.optimize.recipes import Recipe

    return Recipe(quant="int8-static", quant_format="qdq", per_channel=True, activation_type="u8",
                  weight_type="s8", calibration="minmax", calib_samples=recipe.calib_samples)


def training_data(ctx: Any) -> tuple[np.ndarray, np.ndarray | None, str]:
    if ctx.train_x is not None:
        return ctx.train_x, ctx.train_y, "QAT trained on the given training data"
    return ctx.x, ctx.y, "QAT trained on the evaluation data (pass separate training data for an unbiased accuracy)"


def check_qat(ctx: Any, recipe: Any) -> None:
    """Refuse, before any work, a QAT recipe this model or data cannot take (one line with the way out)."""
    from engines.optimize.context import TORCH_FORMATS

    if recipe.quant != "int8-qat":
        return
    if ctx.fmt not in TORCH_FORMATS:
        raise UnsupportedError(f"quantization-aware training needs the PyTorch model (.pt/.pt2), this one is "
                               f"{ctx.fmt}: open the .pt file, or use post-training INT8 (--quantize int8-static)")
    if recipe.prunes:
        raise UnsupportedError("QAT starts from the original PyTorch model: prune and quantize as separate "
                               "recipes, or use post-training INT8 on the pruned variant")
    if training_data(ctx)[1] is None:
        from engines.optimize.qat import NO_LABELS

        raise WorkbenchError(NO_LABELS)
    if recipe.qat_epochs < 1:
        raise WorkbenchError("QAT needs at least 1 epoch (--qat-epochs)")


def build_qat(ctx: Any, recipe: Any, folder: Path, reference: np.ndarray | None,
              task: TaskContext | None = None) -> dict[str, Any]:
    """The pipeline stage: load, QAT fine-tune, export, quantize (ORT QDQ U8/S8 per-channel), measure."""
    from engines.models.export import export_to_onnx
    from engines.models.torch_load import load_torch_module
    from engines.optimize.qat import quantize_aware_train
    from engines.optimize.quantize_ort import quantize_onnx
    from engines.optimize.stages import MODEL_ONNX, _torch_example, measure_variant
    from engines.workspace import recipe_key

    task = ensure_task(task)
    check_qat(ctx, recipe)
    x, y, note = training_data(ctx)
    task.report(0.0, "loading the PyTorch model")
    module = load_torch_module(ctx.model_path, trust_pickle=ctx.trust_pickle)
    ckpt = ctx.workspace.root / "checkpoints" / recipe_key(recipe.to_dict(ctx.source_hash, ctx.data_hash))
    module, rep = quantize_aware_train(module, x, y, epochs=recipe.qat_epochs, checkpoint_dir=ckpt,
                                       task=task.sub(0.02, 0.7))
    float_onnx = folder / "qat_float.onnx"
    exp = export_to_onnx(module, float_onnx, _torch_example(ctx), input_spec=ctx.model_info().inputs,
                         task=task.sub(0.7, 0.74))
    dst = folder / MODEL_ONNX
    info = quantize_onnx(float_onnx, dst, ptq_recipe(recipe), calib_x=ctx.calib_x, task=task.sub(0.74, 0.8))
    float_onnx.unlink(missing_ok=True)
    shutil.rmtree(ckpt, ignore_errors=True)   # the variant itself is the result now
    info.update(mode="int8-qat", qat=rep.to_dict(), note=note,
                export={"exporter": exp.exporter, "max_abs_err": exp.max_abs_err})
    metrics, _ = measure_variant(ctx, dst, "onnx", task.sub(0.8, 1.0), reference, who=recipe.label())
    return {"file": dst.name, "format": "onnx", "metrics": metrics, "extra": {"quant": info}}


@dataclass
class QatComparison:
    qat: Any                          # Variant
    ptq: Any                          # Variant: post-training INT8, same quantizer settings
    baseline: Any
    quality_key: str                  # "accuracy" (QAT needs labels)
    notes: list[str] = field(default_factory=list)

    def quality(self, v: Any) -> float | None:
        return (v.metrics or {}).get("accuracy") if v is not None and v.status == "ok" else None

    def to_dict(self) -> dict[str, Any]:
        q, p, b = self.quality(self.qat), self.quality(self.ptq), self.quality(self.baseline)
        return {"qat": {"variant_id": self.qat.id, "name": self.qat.name, "status": self.qat.status,
                        "error": self.qat.error, "accuracy": q},
                "ptq": {"variant_id": self.ptq.id, "name": self.ptq.name, "status": self.ptq.status,
                        "error": self.ptq.error, "accuracy": p},
                "baseline_accuracy": b,
                "qat_minus_ptq_points": None if q is None or p is None else round((q - p) * 100, 3),
                "notes": self.notes}


def qat_beside_ptq(ctx: Any, recipe: Any, task: TaskContext | None = None) -> QatComparison:
    """Build the QAT variant of ``recipe`` and the post-training INT8 variant of the same model."""
    from engines.optimize.pipeline import apply_recipe

    task = ensure_task(task)
    if recipe.quant != "int8-qat":
        recipe = replace(recipe, quant="int8-qat")
    check_qat(ctx, recipe)
    ptq = apply_recipe(ctx, ptq_recipe(recipe), task=task.sub(0.0, 0.3))
    qat = apply_recipe(ctx, recipe, task=task.sub(0.3, 1.0))
    return QatComparison(qat=qat.variant, ptq=ptq.variant, baseline=qat.baseline, quality_key="accuracy",
                         notes=list(dict.fromkeys(ptq.notes + qat.notes)))
