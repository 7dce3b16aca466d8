"""Recovery fine-tuning after pruning, with progress, cancel and resumable checkpoints.

After each epoch the module's state, the optimizer's state, the epoch and the
history are written atomically to ``checkpoint_dir/finetune.pt`` (plain tensors
and numbers only, read back with ``torch.load(weights_only=True)``: no code is
ever unpickled). A pruned module's architecture differs from the original, so
a checkpoint is resumed only into an in-memory module whose parameter shapes
match it exactly; structured pruning is deterministic, so re-pruning the same
source the same way rebuilds such a module. A checkpoint made for another
module, other data or other settings is ignored (and overwritten) and the
report says why.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import DataError, WorkbenchError
from engines.fsutil import atomic_path
from engines.tasks import TaskContext, ensure_task

CHECKPOINT_NAME = "finetune.pt"
FORMAT = "workbench-finetune-1"


@dataclass
class FinetuneReport:
    epochs: int                                  # epochs asked for
    epochs_done: int                             # epochs completed (resumed ones included)
    losses: list[float] = field(default_factory=list)       # mean training loss per epoch
    accuracy: list[float | None] = field(default_factory=list)  # held-out top-1 (0..1) per epoch; None: no slice
    accuracy_before: float | None = None         # held-out top-1 before any fine-tuning
    resumed_from: int | None = None              # epoch count found in the checkpoint, None if fresh
    checkpoint_path: str = ""
    train_samples: int = 0
    heldout_samples: int = 0
    elapsed_s: float = 0.0
    note: str = ""

    @property
    def final_accuracy(self) -> float | None:
        return self.accuracy[-1] if self.accuracy else self.accuracy_before

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["final_accuracy"] = self.final_accuracy
        return d


def _as_arrays(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels must be a 1-D integer array (got {y.dtype} {list(y.shape)}): "
                        "give class indices, one per sample")
    if len(x) != len(y):
        raise DataError(f"{len(x)} samples but {len(y)} labels: give one label per sample")
    if len(x) < 2:
        raise DataError("fine-tuning needs at least 2 labelled samples")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"inputs must be floating point (got {x.dtype}): convert them to float32")
    return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64)


def _data_hash(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(x.shape).encode())
    h.update(x.tobytes())
    h.update(y.tobytes())
    return h.hexdigest()


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) index split."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction)) if n >= 5 else 0
    n_val = min(max(n_val, 1 if fraction > 0 and n >= 5 else 0), n - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def evaluate(module: Any, x: Any, y: Any, batch_size: int = 256) -> float | None:
    """Top-1 accuracy (0..1) of ``module`` on tensors ``x``, ``y`` in eval mode."""
    import torch

    if len(y) == 0:
        return None
    was_training = module.training
    module.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(y), batch_size):
            correct += int((module(x[s:s + batch_size]).argmax(1) == y[s:s + batch_size]).sum())
    module.train(was_training)
    return correct / len(y)


def _shapes(module: Any) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def _load_checkpoint(path: Path, module: Any, config: dict[str, Any], epochs: int) -> tuple[dict | None, str]:
    """The checkpoint if it can resume ``module`` under ``config``, else (None, why it was ignored)."""
    import torch

    if not path.is_file():
        return None, ""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable or not ours: start over, say so
        return None, f"checkpoint ignored (unreadable: {type(exc).__name__}); started fresh"
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        return None, "checkpoint ignored (not a workbench fine-tune checkpoint); started fresh"
    if ckpt.get("shapes") != _shapes(module):
        return None, "checkpoint ignored (made for a module with other layer shapes); started fresh"
    if ckpt.get("config") != config:
        return None, "checkpoint ignored (other data or settings); started fresh"
    if int(ckpt.get("epoch", 0)) > epochs:
        return None, f"checkpoint ignored (it has {ckpt['epoch']} epochs, {epochs} asked); started fresh"
    return ckpt, ""


def finetune(module: Any, x: Any, y: Any, *, epochs: int, lr: float = 1e-3, batch_size: int = 64,
             checkpoint_dir: str | Path, task: TaskContext | None = None, seed: int = 0,
             val_fraction: float = 0.2, after_backward: Any = None,
             extra_config: dict[str, Any] | None = None) -> FinetuneReport:
    """Train ``module`` in place on (x, y) for ``epochs`` with Adam; resume from ``checkpoint_dir`` if possible.

    A held-out slice (``val_fraction``, deterministic from ``seed``) is scored after every epoch.
    ``after_backward(module)`` runs between each backward pass and optimizer step (e.g. a sparsity
    regularizer adding to the gradients); ``extra_config`` (plain values) names such settings, so a
    checkpoint made with other ones is never resumed.
    """
    import torch

    task = ensure_task(task)
    if int(epochs) != epochs or epochs < 0:
        raise WorkbenchError(f"epochs must be a whole number >= 0 (got {epochs})")
    if batch_size < 2 or lr <= 0 or not 0 <= val_fraction < 1:
        raise WorkbenchError("fine-tune settings out of range: batch size >= 2, lr > 0, 0 <= held-out fraction < 1")
    epochs = int(epochs)
    xs, ys = _as_arrays(x, y)
    start = time.perf_counter()
    train_idx, val_idx = _split(len(ys), val_fraction, seed)
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    if not any(p.requires_grad for p in module.parameters()):
        raise WorkbenchError("the model has no trainable parameters to fine-tune")
    xt, yt = torch.from_numpy(xs[train_idx]).to(device), torch.from_numpy(ys[train_idx]).to(device)
    xv, yv = torch.from_numpy(xs[val_idx]).to(device), torch.from_numpy(ys[val_idx]).to(device)
    try:
        with torch.no_grad():
            module.eval()
            n_out = module(xt[:2]).shape[-1]
    except Exception as exc:
        raise DataError(f"the model cannot run on the fine-tune inputs {list(xs.shape[1:])} "
                        f"({type(exc).__name__}): give inputs of the model's shape") from exc
    if ys.min() < 0 or ys.max() >= n_out:
        raise DataError(f"labels range {ys.min()}..{ys.max()} but the model has {n_out} outputs: check the labels")

    config = {"lr": float(lr), "batch_size": int(batch_size), "seed": int(seed), "val_fraction": float(val_fraction),
              "data": _data_hash(xs, ys), **(extra_config or {})}
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    ckpt, note = _load_checkpoint(path, module, config, epochs)
    report = FinetuneReport(epochs=epochs, epochs_done=0, checkpoint_path=str(path), train_samples=len(yt),
                            heldout_samples=len(yv), note=note)
    if ckpt is not None:
        module.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        report.resumed_from = report.epochs_done = int(ckpt["epoch"])
        report.losses = [float(v) for v in ckpt["history"]["losses"]]
        report.accuracy = [None if v is None else float(v) for v in ckpt["history"]["accuracy"]]
        report.accuracy_before = ckpt["history"]["accuracy_before"]
        task.report(report.epochs_done / max(1, epochs), f"resumed from epoch {report.epochs_done}")
    else:
        report.accuracy_before = evaluate(module, xv, yv)

    loss_fn = torch.nn.CrossEntropyLoss()
    n_batches = max(1, -(-len(yt) // batch_size))
    try:
        for epoch in range(report.epochs_done, epochs):
            total, seen = 0.0, 0
            module.train()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 100_003 + epoch)   # same shuffle and dropout whether resumed or not
                perm = torch.randperm(len(yt)).to(device)
                for b in range(n_batches):
                    idx = perm[b * batch_size:(b + 1) * batch_size]
                    if len(idx) < 2:      # batch norm cannot train on one sample
                        continue
                    task.check()
                    optimizer.zero_grad()
                    loss = loss_fn(module(xt[idx]), yt[idx])
                    loss.backward()
                    if after_backward is not None:
                        after_backward(module)
                    optimizer.step()
                    value = float(loss.detach())
                    total += value * len(idx)
                    seen += len(idx)
                    task.report((epoch + (b + 1) / n_batches) / epochs,
                                f"epoch {epoch + 1}/{epochs} batch {b + 1}/{n_batches} loss {value:.4f}")
            report.losses.append(total / max(1, seen))
            acc = evaluate(module, xv, yv)
            report.accuracy.append(acc)
            report.epochs_done = epoch + 1
            _save(path, module, optimizer, report, config)
            acc_text = f", held-out accuracy {acc:.1%}" if acc is not None else ""
            task.report((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs} done: loss {report.losses[-1]:.4f}{acc_text}")
    finally:
        module.eval()
    report.elapsed_s = time.perf_counter() - start
    return report


def _save(path: Path, module: Any, optimizer: Any, report: FinetuneReport, config: dict[str, Any]) -> None:
    import torch

    ckpt = {
        "format": FORMAT,
        "epoch": report.epochs_done,
        "model": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "shapes": _shapes(module),
        "config": config,
        "history": {"losses": list(report.losses), "accuracy": list(report.accuracy),
                    "accuracy_before": report.accuracy_before},
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
