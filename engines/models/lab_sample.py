"""The labs' sample: a small ResNet trained on the digits upscaled to 32x32, where optimizations pay off.

The 8x8 digits CNN is too small for INT8 or pruning to speed anything up, so the
labs default to this one. ``build_lab_sample()`` trains it deterministically
from scikit-learn's bundled digits (no download; about a minute on 2 cores),
writes ``digits32_resnet.pt`` (TorchScript with its architecture recorded, so
structured pruning can rebuild it), ``digits32_resnet.onnx``, the held-out and
training splits as ``.npz`` and ``lab_manifest.json`` with the measured
accuracies, each file atomically.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.fsutil import atomic_path
from engines.models.samples import SAMPLES_DIR
from engines.tasks import TaskContext, ensure_task

STEM = "digits32_resnet"
TEST_FILE = "digits32_test.npz"
TRAIN_FILE = "digits32_train.npz"
SIZE = 32
WIDTH = 48
EPOCHS = 6
SEED = 0


def upscale(x: np.ndarray, size: int = SIZE) -> np.ndarray:
    """[N, 1, 8, 8] in 0..1 -> [N, 1, size, size] (bilinear), float32."""
    import torch
    import torch.nn.functional as F

    return np.ascontiguousarray(F.interpolate(torch.from_numpy(x), size=size, mode="bilinear",
                                              align_corners=False).numpy().astype(np.float32))


def train(x: np.ndarray, y: np.ndarray, *, width: int = WIDTH, epochs: int = EPOCHS,
          task: TaskContext | None = None) -> Any:
    """Train DigitsResNet with AdamW, a one-cycle schedule and 2-pixel random shifts; eval-mode module back."""
    import torch
    import torch.nn.functional as F

    from engines.models import zoo

    task = ensure_task(task)
    torch.use_deterministic_algorithms(True)
    try:
        model = zoo.build("DigitsResNet", {"width": width}, seed=SEED).train()
        steps = epochs * ((len(x) + 63) // 64)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
        gen = torch.Generator().manual_seed(SEED)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for epoch in range(epochs):
            task.report(epoch / epochs, f"training the lab ResNet, epoch {epoch + 1}/{epochs}")
            order = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 64):
                task.check()
                idx = order[i:i + 64]
                shift = torch.randint(-2, 3, (2,), generator=gen).tolist()
                xb = torch.roll(xt[idx], shifts=shift, dims=(2, 3))
                opt.zero_grad()
                F.cross_entropy(model(xb), yt[idx]).backward()
                opt.step()
                sched.step()
    finally:
        torch.use_deterministic_algorithms(False)
    return model.eval()


def build_lab_sample(out_dir: str | os.PathLike = SAMPLES_DIR, *, width: int = WIDTH, epochs: int = EPOCHS,
                     task: TaskContext | None = None) -> dict[str, Any]:
    from engines.measure.runners import OnnxRunner
    from engines.models import zoo
    from engines.models.export import export_to_onnx
    from engines.models.torch_load import save_torchscript
    from engines.models.train_digits import accuracy, digits_split, torch_logits

    task = ensure_task(task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    split = digits_split()
    x_tr, x_te = upscale(split.x_train), upscale(split.x_test)
    model = train(x_tr, split.y_train, width=width, epochs=epochs, task=task.sub(0.0, 0.85))
    train_s = time.perf_counter() - t0
    acc = accuracy(torch_logits(model, x_te), split.y_test)
    config = {"width": width, "image_size": SIZE}
    specs = zoo.input_specs("DigitsResNet", config)
    example = (zoo.example_inputs("DigitsResNet", config, batch=2)[0],)
    for name, arrays in ((TEST_FILE, (x_te, split.y_test)), (TRAIN_FILE, (x_tr, split.y_train))):
        with atomic_path(out / name, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, x=arrays[0], y=arrays[1])
    with atomic_path(out / f"{STEM}.pt", suffix=".pt") as tmp:
        save_torchscript(model, tmp, example, arch=zoo.arch_ref("DigitsResNet"), config=config, input_specs=specs)
    task.report(0.9, "exporting the lab ResNet to ONNX")
    report = export_to_onnx(out / f"{STEM}.pt", out / f"{STEM}.onnx", task=task.sub(0.9, 0.97))
    runner = OnnxRunner(out / f"{STEM}.onnx", threads=1)
    acc_onnx = accuracy(runner.run({runner.inputs[0].name: x_te})[0], split.y_test)
    manifest = {
        "dataset": "sklearn.datasets.load_digits, upscaled bilinearly from 8x8 to 32x32",
        "split": {"train": len(split.y_train), "held_out": len(split.y_test), "stratified": True, "seed": SEED},
        "train": {"epochs": epochs, "width": width, "seconds": round(train_s, 1), "threads": _threads()},
        "models": {
            f"{STEM}.pt": {"format": "torchscript", "framework": "PyTorch", "held_out_accuracy": round(acc, 4),
                           "input": f"x float32 [N,1,{SIZE},{SIZE}] ({TEST_FILE})"},
            f"{STEM}.onnx": {"format": "onnx", "framework": "ONNX Runtime", "held_out_accuracy": round(acc_onnx, 4),
                             "export": {"exporter": report.exporter, "max_abs_err": report.max_abs_err},
                             "input": f"x float32 [N,1,{SIZE},{SIZE}] ({TEST_FILE})"}},
    }
    with atomic_path(out / "lab_manifest.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for f in (f"{STEM}.pt", f"{STEM}.onnx", "lab_manifest.json", TEST_FILE, TRAIN_FILE):
        (out / f).chmod(0o644)
    task.report(1.0, f"lab sample written in {time.perf_counter() - t0:.1f} s")
    return manifest


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())
