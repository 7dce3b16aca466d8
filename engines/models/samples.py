"""The bundled sample models and the on-demand generators for realistic sizes.

``build_samples()`` rebuilds ``sample_models/`` from scikit-learn's bundled
digits data (no download): a PyTorch CNN (TorchScript with its architecture
recorded, and ONNX), a Keras CNN, the held-out and train splits as ``.npz``,
``manifest.json`` with the measured accuracies, and ``README.md``.
``generate_resnet18`` / ``generate_tiny_bert`` write seeded random-weight
models (TorchScript + ONNX) wherever asked; they are never committed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.fsutil import atomic_dir, atomic_path
from engines.tasks import TaskContext, ensure_task

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "sample_models"
REBUILD_COMMAND = "workbench samples build"


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def build_samples(out_dir: str | os.PathLike = SAMPLES_DIR, keras: bool = True,
                  task: TaskContext | None = None) -> dict[str, Any]:
    """Train and write every sample file into ``out_dir``; returns the manifest."""
    from engines.models import zoo
    from engines.models.export import export_to_onnx
    from engines.measure.runners import OnnxRunner
    from engines.models.torch_load import save_torchscript
    from engines.models.train_digits import (accuracy, digits_split, keras_to_tflite, to_nhwc, torch_logits,
                                      train_keras_cnn, train_torch_cnn)

    task = ensure_task(task)
    out = Path(out_dir)
    t0 = time.perf_counter()
    split = digits_split()
    manifest: dict[str, Any] = {"dataset": "sklearn.datasets.load_digits (8x8, 10 classes)",
                                "split": {"train": len(split.y_train), "held_out": len(split.y_test),
                                          "stratified": True, "seed": 0}, "models": {}}
    with atomic_dir(out) as tmp:
        _save_npz(tmp / "digits_test.npz", x=split.x_test, y=split.y_test)
        _save_npz(tmp / "digits_train.npz", x=split.x_train, y=split.y_train)
        _save_npz(tmp / "digits_test_nhwc.npz", x=to_nhwc(split.x_test), y=split.y_test)
        model = train_torch_cnn(split, task=task.sub(0.0, 0.3))
        acc_torch = accuracy(torch_logits(model, split.x_test), split.y_test)
        specs = zoo.input_specs("DigitsCNN")
        example = (zoo.example_inputs("DigitsCNN", batch=2)[0],)
        save_torchscript(model, tmp / "digits_cnn.pt", example, arch=zoo.arch_ref("DigitsCNN"), config={},
                         input_specs=specs)
        task.report(0.35, "exporting the CNN to ONNX")
        report = export_to_onnx(tmp / "digits_cnn.pt", tmp / "digits_cnn.onnx", task=task.sub(0.35, 0.45))
        runner = OnnxRunner(tmp / "digits_cnn.onnx", threads=1)
        acc_onnx = accuracy(runner.run({runner.inputs[0].name: split.x_test})[0], split.y_test)
        manifest["models"]["digits_cnn.pt"] = {"format": "torchscript", "framework": "PyTorch",
                                               "held_out_accuracy": round(acc_torch, 4),
                                               "input": "x float32 [N,1,8,8] (digits_test.npz)"}
        manifest["models"]["digits_cnn.onnx"] = {"format": "onnx", "framework": "ONNX Runtime",
                                                 "held_out_accuracy": round(acc_onnx, 4),
                                                 "export": {"exporter": report.exporter, "opset": report.opset,
                                                            "max_abs_err": report.max_abs_err,
                                                            "cosine": report.cosine},
                                                 "input": "x float32 [N,1,8,8] (digits_test.npz)"}
        if keras:
            from engines.measure.tflite_runner import TfliteRunner

            acc_keras = train_keras_cnn(split, tmp / "digits_keras.keras", task=task.sub(0.45, 0.95))
            manifest["models"]["digits_keras.keras"] = {"format": "keras", "framework": "Keras",
                                                        "held_out_accuracy": round(acc_keras, 4),
                                                        "input": "x float32 [N,8,8,1] NHWC "
                                                                 "(digits_test_nhwc.npz)"}
            task.report(0.96, "converting the Keras CNN to TFLite")
            keras_to_tflite(tmp / "digits_keras.keras", tmp / "digits_keras.tflite")
            lite = TfliteRunner(tmp / "digits_keras.tflite", threads=1)
            acc_lite = accuracy(lite.run({lite.inputs[0].name: to_nhwc(split.x_test)})[0], split.y_test)
            manifest["models"]["digits_keras.tflite"] = {"format": "tflite", "framework": "LiteRT",
                                                         "held_out_accuracy": round(acc_lite, 4),
                                                         "input": "x float32 [N,8,8,1] NHWC "
                                                                  "(digits_test_nhwc.npz)"}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(readme_text(manifest), encoding="utf-8")
        for f in tmp.iterdir():  # temp files are created private; samples are for everyone to read
            f.chmod(0o644)
        tmp.chmod(0o755)
    task.report(1.0, f"sample models written in {time.perf_counter() - t0:.1f} s")
    return manifest


def readme_text(manifest: dict[str, Any]) -> str:
    rows = "\n".join(f"| `{name}` | {m['framework']} | {m['held_out_accuracy'] * 100:.2f}% | {m['input']} |"
                     for name, m in manifest["models"].items())
    split = manifest["split"]
    return f"""# Sample models

Built from scikit-learn's bundled 8x8 digits data set (no download) by `{REBUILD_COMMAND}`
(`engines/models/samples.py`, seed 0; about 30 s on 2 CPU cores, most of it importing TensorFlow).
Training is deterministic: the same command gives the same weights and accuracies.

Held-out split: {split['held_out']} images (stratified, 25%), never seen in training; {split['train']} for training.

| file | framework | held-out accuracy | input |
|---|---|---|---|
{rows}

- `digits_cnn.pt`: TorchScript, with `workbench_arch = engines.zoo:DigitsCNN` recorded, so the workbench
  rebuilds the real `nn.Module` (structured pruning needs it).
- `digits_cnn.onnx`: the same network exported with `torch.onnx.export` (batch dim dynamic), checked with
  `onnx.checker` and compared with the PyTorch outputs.
- `digits_keras.keras`: a Keras CNN of the same shape; it takes NHWC input `[N, 8, 8, 1]`, so use
  `digits_test_nhwc.npz` with it. `digits_keras.tflite` is its float32 TFLite conversion.
- `digits_test.npz` (`x` float32 [N,1,8,8], `y` int64 [N]), `digits_test_nhwc.npz` (NHWC copy),
  `digits_train.npz` (training split, for calibration and recovery fine-tuning).
- `manifest.json`: the figures above, read by the tests.

Larger models for benchmarking are generated on demand, never committed:
`workbench samples generate resnet18 --out DIR` and `workbench samples generate tiny-bert --out DIR`.
"""


def _generate(arch: str, stem: str, out_dir: str | os.PathLike, config: dict[str, Any],
              task: TaskContext | None) -> dict[str, Any]:
    from engines.models import zoo
    from engines.models.export import export_to_onnx
    from engines.models.torch_load import save_torchscript

    task = ensure_task(task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task.report(0.0, f"building {arch} with seeded random weights")
    model = zoo.build(arch, config, seed=0)
    example = zoo.example_inputs(arch, config, batch=2)
    pt = out / f"{stem}.pt"
    save_torchscript(model, pt, example, arch=zoo.arch_ref(arch), config=config,
                     input_specs=zoo.input_specs(arch, config))
    task.report(0.3, "exporting to ONNX")
    report = export_to_onnx(model, out / f"{stem}.onnx", example, input_spec=zoo.input_specs(arch, config),
                            arch=zoo.arch_ref(arch), task=task.sub(0.3, 1.0))
    return {"torchscript": str(pt), "onnx": str(out / f"{stem}.onnx"), "export": report.to_dict()}


def generate_resnet18(out_dir: str | os.PathLike, image_size: int = 224,
                      task: TaskContext | None = None) -> dict[str, Any]:
    """ResNet-18 (11.7 M parameters, ~1.8 GMACs at 224x224) with seeded random weights."""
    stem = "resnet18" if image_size == 224 else f"resnet18_{image_size}"
    return _generate("ResNet18", stem, out_dir, {"image_size": image_size}, task)


def generate_tiny_bert(out_dir: str | os.PathLike, seq_len: int = 128, task: TaskContext | None = None,
                       **sizes: int) -> dict[str, Any]:
    """A 4-layer BERT-like encoder (hidden 256, ~5.3 M parameters) with seeded random weights.

    ``sizes`` overrides :class:`engines.models.zoo.TinyBert` arguments (vocab, hidden, layers, heads, ffn).
    """
    return _generate("TinyBert", "tiny_bert", out_dir, {"seq_len": seq_len, **sizes}, task)
