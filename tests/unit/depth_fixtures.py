"""Tiny models and data for the QAT, pruning-schedule and pruning-curve tests (fast, one thread)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.optimize.context import MeasureOptions

FAST = MeasureOptions(iterations=20, budget_s=0.2, warmup=2, throughput_batch=8)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train fastest on one thread, and the 2-core test box is shared. Autouse in every test
    module that imports it (``from tests.unit.depth_fixtures import one_torch_thread  # noqa: F401``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def quadrant_data(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 classes, each a bright quadrant on a noisy 1x8x8 image: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 0.6, (n, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(y):
        r, k = divmod(int(c), 2)
        x[i, 0, r * 4:(r + 1) * 4, k * 4:(k + 1) * 4] += 1.5
    return x, y.astype(np.int64)


def quadrant_net(seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 4)).eval()


def digits_files(tmp: Path, *, labels: bool | str = True, n: int = 96) -> tuple[Path, Path]:
    """The DigitsCNN (width 8) as TorchScript with its architecture, and real digit images (+ labels;
    ``labels="model"``: the model's own predictions, so the baseline scores 100 %)."""
    from engines.models.train_digits import digits_split
    from tests.unit.optimize_helpers import tiny_digits_torchscript

    pt = tiny_digits_torchscript(tmp / "digits_tiny.pt")
    split = digits_split()
    data = tmp / ("d.npz" if labels else "d_nolabels.npz")
    if labels == "model":
        import torch

        with torch.no_grad():
            y = torch.jit.load(str(pt))(torch.from_numpy(split.x_test[:n])).argmax(1).numpy().astype(np.int64)
        np.savez(data, x=split.x_test[:n], y=y)
    elif labels:
        np.savez(data, x=split.x_test[:n], y=split.y_test[:n])
    else:
        np.savez(data, x=split.x_test[:n])
    return pt, data
