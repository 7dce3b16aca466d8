"""The stages of the variant pipeline, each writing into a temporary variant folder.

``build_baseline`` (the model as ONNX, or the float TFLite for Keras),
``build_pruned`` (prune, then recover by fine-tuning, then export) and
``build_quantized`` (ORT or TFLite quantization of the parent's file). Each
returns the dict :meth:`engines.workspace.Workspace.create` expects, with the
variant already measured by :func:`measure_variant` (still inside the temp
folder, so a cancel leaves nothing behind).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UnsupportedError, WorkbenchError
from engines.optimize.context import KERAS_FORMATS, TORCH_FORMATS, OptimizeContext
from engines.optimize.recipes import ORT_QUANT_MODES, TFLITE_QUANT_MODES, Recipe
from engines.tasks import TaskContext, ensure_task

MODEL_ONNX = "model.onnx"
MODEL_TFLITE = "model.tflite"
BLOCKS_NEED_MODULE = ("layer/block removal needs the PyTorch module: {name} is {what}, whose blocks cannot be "
                      "taken out; open the PyTorch model (.pt with its architecture) instead, or use unstructured "
                      "pruning")


def measure_variant(ctx: OptimizeContext, path: Path, fmt: str, task: TaskContext | None = None,
                    reference: np.ndarray | None = None, who: str = "the variant") -> tuple[dict[str, Any], np.ndarray]:
    """Accuracy/fidelity on the context's data (NaN/Inf outputs fail the variant), then speed.

    A variant (``reference`` given) is timed interleaved with the baseline in the same rounds, so its
    speedup is paired and carries an interval; the baseline itself is timed alone.
    """
    from engines.measure.evaluate import evaluate_model
    from engines.measure.speed import measure_paired, measure_speed

    task = ensure_task(task)
    metrics, outputs = evaluate_model(path, fmt, ctx.x, y=ctx.y, reference=reference, threads=ctx.threads,
                                      batch_size=ctx.measure.eval_batch, task=task.sub(0.0, 0.3), who=who)
    metrics["eval_data"] = ctx.data_hash
    metrics["timed_shape"] = timing_shape(ctx)
    m = ctx.measure
    base = baseline_of(ctx) if reference is not None else None
    if base is None:
        metrics.update(measure_speed(path, fmt, threads=ctx.threads, data=ctx.x[:1], iterations=m.iterations,
                                     budget_s=m.budget_s, warmup=m.warmup, throughput_batch=m.throughput_batch,
                                     task=task.sub(0.3, 1.0)))
        return metrics, outputs
    got = measure_paired({"baseline": (ctx.workspace.model_path(base), base.format), "variant": (path, fmt)},
                         "baseline", threads=ctx.threads, data=ctx.x[:1], iterations=m.iterations,
                         budget_s=m.budget_s, warmup=m.warmup, throughput_batch=m.throughput_batch,
                         task=task.sub(0.3, 1.0))
    metrics.update(got["variant"])
    metrics["paired"]["reference"] = base.id
    return metrics, outputs


def timing_shape(ctx: OptimizeContext) -> list[int]:
    """The per-sample input shape speed is timed at (the data's: a sequence length, an image size)."""
    return [int(d) for d in ctx.x.shape[1:]]


def baseline_of(ctx: OptimizeContext) -> Any:
    """The context's stored baseline variant, or None before it is built."""
    found = ctx.workspace.find(Recipe().to_dict(ctx.source_hash, None))
    return found if found is not None and found.status == "ok" else None


def _torch_example(ctx: OptimizeContext) -> tuple:
    import torch

    x = ctx.x[:2] if len(ctx.x) >= 2 else ctx.x
    return (torch.from_numpy(np.ascontiguousarray(x)),)


def _copy_onnx(src: Path, dst: Path) -> None:
    import onnx

    from engines.models.inspect_onnx import external_data_files, load_onnx_proto

    proto = load_onnx_proto(src)
    if external_data_files(proto, src):
        model = onnx.load(str(src))
        onnx.save(model, str(dst), save_as_external_data=True, location=dst.name + ".data")
    else:
        shutil.copyfile(src, dst)


def build_baseline(ctx: OptimizeContext, folder: Path, task: TaskContext | None = None) -> dict[str, Any]:
    task = ensure_task(task)
    extra: dict[str, Any] = {"source": ctx.model_path.name}
    if ctx.fmt == "onnx":
        dst, fmt = folder / MODEL_ONNX, "onnx"
        task.report(0.0, "copying the ONNX model")
        _copy_onnx(ctx.model_path, dst)
    elif ctx.fmt in TORCH_FORMATS:
        from engines.models.export import export_to_onnx

        dst, fmt = folder / MODEL_ONNX, "onnx"
        rep = export_to_onnx(ctx.model_path, dst, trust_pickle=ctx.trust_pickle, input_spec=ctx.model_info().inputs,
                             task=task.sub(0.0, 0.4))
        extra["export"] = {k: rep.to_dict()[k] for k in ("exporter", "opset", "max_abs_err", "cosine", "notes")}
    elif ctx.fmt in KERAS_FORMATS:
        from engines.optimize.quantize_tflite import convert_keras

        dst, fmt = folder / MODEL_TFLITE, "tflite"
        extra["tflite"] = convert_keras(ctx.model_path, dst, "tflite-float", task=task.sub(0.0, 0.4))
    elif ctx.fmt == "tflite":
        dst, fmt = folder / MODEL_TFLITE, "tflite"
        shutil.copyfile(ctx.model_path, dst)
    else:
        raise UnsupportedError(f"no optimization pipeline for {ctx.fmt} models")
    task.report(0.4, "measuring the baseline")
    if ctx.fmt in KERAS_FORMATS:  # the converted file is compared with the original, run in TensorFlow
        original = original_outputs(ctx)
        metrics, _ = measure_variant(ctx, dst, fmt, task.sub(0.4, 1.0), reference=original, who="the baseline")
        outputs = original
    else:
        metrics, outputs = measure_variant(ctx, dst, fmt, task.sub(0.4, 1.0), who="the baseline")
    ctx._reference = outputs
    return {"file": dst.name, "format": fmt, "metrics": metrics, "extra": extra}


def original_outputs(ctx: OptimizeContext) -> np.ndarray:
    """The original Keras/SavedModel model's outputs on the context's data, run in TensorFlow."""
    from engines.measure.evaluate import degenerate_warning, require_finite, tf_source_outputs

    out = tf_source_outputs(ctx.model_path, ctx.x, batch_size=ctx.measure.eval_batch)
    require_finite(out, f"the original model {ctx.model_path.name}")
    warn = degenerate_warning(out)
    if warn and warn not in ctx.notes:
        ctx.notes.append(warn)
    return out


def _mask_of(module: Any) -> dict[str, Any]:
    from engines.optimize.prune_unstructured import torch_weight_params

    return {n: (p.detach() != 0) for n, p in torch_weight_params(module)}


def _reapply(module: Any, masks: dict[str, Any]) -> None:
    import torch

    from engines.optimize.prune_unstructured import torch_weight_params

    with torch.no_grad():
        for n, p in torch_weight_params(module):
            if n in masks:
                p.mul_(masks[n].to(p.dtype))


def build_pruned(ctx: OptimizeContext, recipe: Recipe, folder: Path, reference: np.ndarray | None,
                 task: TaskContext | None = None) -> dict[str, Any]:
    """Prune (torch or ONNX), recover by fine-tuning (torch), export, measure."""
    from engines.optimize import prune

    task = ensure_task(task)
    dst = folder / MODEL_ONNX
    extra: dict[str, Any] = {}
    if ctx.fmt in KERAS_FORMATS or ctx.fmt == "tflite":
        raise UnsupportedError("pruning works on PyTorch and ONNX models; Keras/TFLite models are optimized "
                               "through the TFLite converter (quantization only)")
    if ctx.fmt == "onnx":
        if recipe.prune_mode == "blocks":
            raise UnsupportedError(BLOCKS_NEED_MODULE.format(name=ctx.model_path.name, what="an ONNX graph"))
        if recipe.prune_mode == "structured":
            raise UnsupportedError("structured pruning needs the PyTorch model with its architecture (an ONNX graph "
                                   "cannot be re-shaped): open the .pt file, or use unstructured or 2:4 pruning")
        if recipe.recover_epochs:
            raise UnsupportedError("recovery fine-tuning needs the PyTorch model: open the .pt file, or set "
                                   "recovery epochs to 0")
        src = ctx.workspace.model_path(ctx.workspace.baseline())
        if recipe.prune_mode == "unstructured":
            rep = prune.prune_unstructured_onnx(src, dst, recipe.prune_amount, scope=recipe.prune_scope,
                                                task=task.sub(0.0, 0.5))
        else:
            rep = prune.prune_24_onnx(src, dst, task=task.sub(0.0, 0.5))
    else:
        from engines.models.export import export_to_onnx
        from engines.models.torch_load import load_torch_module

        task.report(0.0, "loading the PyTorch model")
        module = load_torch_module(ctx.model_path, trust_pickle=ctx.trust_pickle)
        example = _torch_example(ctx)
        sub = task.sub(0.02, 0.25)
        scheduled = recipe.prune_mode == "structured" and recipe.prune_schedule != "one-shot"
        if scheduled:  # iterative or regularized: the schedule trains as it prunes (recovery included)
            from engines.optimize.prune_schedule import run_schedule

            x, y, note = _train_data(ctx, reference)
            ckpt = _checkpoint_dir(ctx, recipe)
            rep, ft = run_schedule(module, example, recipe, x, y, checkpoint_dir=ckpt, task=task.sub(0.02, 0.7))
            shutil.rmtree(ckpt, ignore_errors=True)
            extra["finetune"] = {**ft, "note": note}
        elif recipe.prune_mode == "blocks":  # whole blocks out, chosen by their measured importance on the data
            from engines.optimize.remove_blocks import remove_blocks

            rep = remove_blocks(module, example, recipe.prune_blocks, fraction=recipe.prune_amount,
                                data=ctx.calib_x, task=sub)
        elif recipe.prune_mode == "structured":
            rep = prune.prune_structured(module, example, recipe.prune_amount, task=sub)
        elif recipe.prune_mode == "unstructured":
            rep = prune.prune_unstructured_torch(module, recipe.prune_amount, scope=recipe.prune_scope, task=sub)
        else:
            rep = prune.prune_24_torch(module, task=sub)
        module = rep.module if rep.module is not None else module
        if recipe.recover_epochs and not scheduled:
            extra["finetune"] = _recover(ctx, recipe, module, reference, task.sub(0.25, 0.7))
        rep_exp = export_to_onnx(module, dst, example, input_spec=ctx.model_info().inputs, task=task.sub(0.7, 0.75))
        extra["export"] = {"exporter": rep_exp.exporter, "max_abs_err": rep_exp.max_abs_err}
    extra["prune"] = rep.to_dict()
    extra["note"] = rep.note
    metrics, _ = measure_variant(ctx, dst, "onnx", task.sub(0.75, 1.0), reference, who=recipe.label())
    if rep.macs_after:
        metrics["macs"] = rep.macs_after
    return {"file": dst.name, "format": "onnx", "metrics": metrics, "extra": extra}


def _train_data(ctx: OptimizeContext, reference: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(x, y, note) for recovery training: the training split, else the evaluation data, else pseudo-labels."""
    x, y = (ctx.train_x, ctx.train_y) if ctx.train_x is not None else (ctx.x, ctx.y)
    note = "recovery trained on the evaluation data (pass separate training data for an unbiased accuracy)" \
        if ctx.train_x is None else "recovery trained on the given training data"
    if y is None:
        if reference is None or ctx.train_x is not None:
            raise WorkbenchError("recovery fine-tuning needs labels (y) in the data")
        y = np.argmax(reference, axis=-1).astype(np.int64)
        note = "no labels: recovery fine-tuned toward the baseline's own predictions (pseudo-labels)"
    return x, y, note


def _checkpoint_dir(ctx: OptimizeContext, recipe: Recipe) -> Path:
    from engines.workspace import recipe_key

    return ctx.workspace.root / "checkpoints" / recipe_key(recipe.to_dict(ctx.source_hash, ctx.data_hash))


def _recover(ctx: OptimizeContext, recipe: Recipe, module: Any, reference: np.ndarray | None,
             task: TaskContext) -> dict[str, Any]:
    from engines.optimize.finetune import finetune

    x, y, note = _train_data(ctx, reference)
    masks = _mask_of(module) if recipe.prune_mode in ("unstructured", "2:4") else None
    ckpt = _checkpoint_dir(ctx, recipe)
    rep = finetune(module, x, y, epochs=recipe.recover_epochs, checkpoint_dir=ckpt, task=task)
    if masks is not None:
        _reapply(module, masks)  # keep the pruned weights at zero after training
    shutil.rmtree(ckpt, ignore_errors=True)  # the variant itself is the result now
    d = rep.to_dict()
    d["note"] = note
    return d


def build_quantized(ctx: OptimizeContext, recipe: Recipe, parent_path: Path, parent_fmt: str, folder: Path,
                    reference: np.ndarray | None, task: TaskContext | None = None) -> dict[str, Any]:
    task = ensure_task(task)
    if recipe.quant == "int8-qat":  # trains the PyTorch model, then the same ORT QDQ as int8-static
        from engines.optimize.qat_variant import build_qat

        return build_qat(ctx, recipe, folder, reference, task)
    if recipe.quant in ORT_QUANT_MODES:
        from engines.optimize.quantize_ort import quantize_onnx

        dst, fmt = folder / MODEL_ONNX, "onnx"
        if parent_fmt != "onnx" and ctx.fmt in KERAS_FORMATS:  # Keras/SavedModel -> ONNX (tf2onnx) first
            from engines.models.export_keras import keras_to_onnx

            src = folder / "keras_source.onnx"
            conv = keras_to_onnx(ctx.model_path, src)
            info = quantize_onnx(src, dst, recipe, calib_x=ctx.calib_x, task=task.sub(0.0, 0.6))
            info["converted"] = conv
            src.unlink(missing_ok=True)
        elif parent_fmt != "onnx":
            raise UnsupportedError(f"{recipe.quant} is an ONNX Runtime mode and this model is {ctx.fmt}: "
                                   "use tflite-dynamic, tflite-fp16 or tflite-int8")
        else:
            info = quantize_onnx(parent_path, dst, recipe, calib_x=ctx.calib_x, task=task.sub(0.0, 0.6))
    elif recipe.quant in TFLITE_QUANT_MODES:
        if ctx.fmt not in KERAS_FORMATS:
            raise UnsupportedError(f"{recipe.quant} converts Keras/SavedModel models with the TFLite converter; "
                                   "for ONNX and PyTorch models use fp16, int8-dynamic, int8-static or int4")
        from engines.optimize.quantize_tflite import convert_keras

        dst, fmt = folder / MODEL_TFLITE, "tflite"
        info = convert_keras(ctx.model_path, dst, recipe.quant, calib_x=ctx.calib_x, samples=recipe.calib_samples,
                             task=task.sub(0.0, 0.6))
    elif recipe.quant.startswith("openvino-"):
        from engines.optimize.quantize_openvino import MODEL_FILE, calibration_labels, quantize_openvino

        if parent_fmt != "onnx":
            raise UnsupportedError(f"{recipe.quant} converts ONNX (and PyTorch, via ONNX) models, not {ctx.fmt}: "
                                   "for Keras/TFLite use tflite-int8")
        dst, fmt = folder / MODEL_FILE, "openvino"
        info = quantize_openvino(parent_path, dst, recipe.quant, calib_x=ctx.calib_x, calib_y=calibration_labels(ctx),
                                 samples=recipe.calib_samples, threads=ctx.threads, task=task.sub(0.0, 0.6))
    else:
        raise UnsupportedError(f"unknown quantization mode {recipe.quant!r}")
    metrics, _ = measure_variant(ctx, dst, fmt, task.sub(0.6, 1.0), reference, who=recipe.label())
    return {"file": dst.name, "format": fmt, "metrics": metrics, "extra": {"quant": info}}
