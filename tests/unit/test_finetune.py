"""Recovery fine-tune: it learns, reports progress, checkpoints each epoch and resumes after a cancel."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from engines.errors import Cancelled, DataError, WorkbenchError
from engines.optimize.finetune import CHECKPOINT_NAME, finetune
from engines.optimize.prune import prune_structured
from engines.tasks import TaskContext
from tests.unit.depth_fixtures import one_torch_thread  # noqa: E402,F401  (autouse)



def _data(n: int = 240, seed: int = 0):
    """4 classes, each a bright quadrant on a noisy 1x8x8 image: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 0.6, (n, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(y):
        r, k = divmod(int(c), 2)
        x[i, 0, r * 4:(r + 1) * 4, k * 4:(k + 1) * 4] += 1.5
    return x, y.astype(np.int64)


def _net(seed: int = 0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 4)).eval()


def test_finetune_learns_reports_progress_and_checkpoints(tmp_path):
    x, y = _data()
    net = _net()
    events = []
    report = finetune(net, x, y, epochs=3, lr=5e-3, batch_size=32, checkpoint_dir=tmp_path,
                      task=TaskContext(on_progress=events.append))
    assert report.epochs_done == 3 and report.resumed_from is None
    assert len(report.losses) == 3 and len(report.accuracy) == 3
    assert report.losses[-1] < report.losses[0]
    assert report.accuracy[-1] > max(0.8, report.accuracy_before)
    assert report.heldout_samples == 48 and report.train_samples == 192
    batch_msgs = [e for e in events if "batch" in e.message]
    assert len(batch_msgs) == 3 * 6
    fracs = [e.fraction for e in events]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0
    ckpt = torch.load(tmp_path / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 3 and set(ckpt["optimizer"]) == {"state", "param_groups"}
    for k, v in net.state_dict().items():
        assert torch.equal(ckpt["model"][k], v)
    assert not net.training
    json.dumps(report.to_dict())


def test_cancel_after_epoch_one_then_resume_matches_an_uninterrupted_run(tmp_path):
    x, y = _data(seed=1)
    straight = _net()
    full = finetune(straight, x, y, epochs=3, batch_size=32, checkpoint_dir=tmp_path / "a")

    net = _net()

    def cancel_after_first_epoch(ev):
        if ev.message.startswith("epoch 1/3 done"):
            ctx.cancel()

    ctx = TaskContext(on_progress=cancel_after_first_epoch)
    with pytest.raises(Cancelled):
        finetune(net, x, y, epochs=3, batch_size=32, checkpoint_dir=tmp_path / "b", task=ctx)
    ckpt = torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=True)
    assert ckpt["epoch"] == 1
    assert [p.name for p in (tmp_path / "b").iterdir()] == [CHECKPOINT_NAME]   # no partial files

    events = []
    resumed = finetune(net, x, y, epochs=3, batch_size=32, checkpoint_dir=tmp_path / "b",
                       task=TaskContext(on_progress=events.append))
    assert resumed.resumed_from == 1 and resumed.epochs_done == 3
    assert events[0].message == "resumed from epoch 1"
    assert not any(e.message.startswith("epoch 1/3") for e in events)
    assert len(resumed.losses) == 3 and resumed.losses == pytest.approx(full.losses, rel=1e-5)
    assert resumed.accuracy == pytest.approx(full.accuracy)
    for k, v in straight.state_dict().items():
        assert torch.allclose(net.state_dict()[k].float(), v.float(), atol=1e-5), k


def test_a_pruned_module_resumes_into_the_same_pruned_shape(tmp_path):
    x, y = _data(seed=2)
    example = torch.from_numpy(x[:1])
    first = _net(5)
    prune_structured(first, example, 0.5)
    finetune(first, x, y, epochs=1, batch_size=32, checkpoint_dir=tmp_path)

    again = _net(5)                        # the same source, re-pruned the same deterministic way
    prune_structured(again, example, 0.5)
    report = finetune(again, x, y, epochs=2, batch_size=32, checkpoint_dir=tmp_path)
    assert report.resumed_from == 1 and report.epochs_done == 2

    unpruned = _net(5)                     # other layer shapes: the checkpoint cannot apply
    report = finetune(unpruned, x, y, epochs=1, batch_size=32, checkpoint_dir=tmp_path)
    assert report.resumed_from is None and "other layer shapes" in report.note
    assert report.epochs_done == 1


def test_other_data_or_settings_start_fresh(tmp_path):
    x, y = _data(seed=3)
    finetune(_net(), x, y, epochs=1, batch_size=32, checkpoint_dir=tmp_path)
    report = finetune(_net(), x, y, epochs=1, lr=1e-2, batch_size=32, checkpoint_dir=tmp_path)
    assert report.resumed_from is None and "settings" in report.note
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    report = finetune(_net(), x, y, epochs=1, batch_size=32, checkpoint_dir=tmp_path)
    assert report.resumed_from is None and "unreadable" in report.note


def test_finished_run_called_again_does_no_work(tmp_path):
    x, y = _data(seed=4)
    net = _net()
    first = finetune(net, x, y, epochs=1, batch_size=32, checkpoint_dir=tmp_path)
    events = []
    again = finetune(net, x, y, epochs=1, batch_size=32, checkpoint_dir=tmp_path,
                     task=TaskContext(on_progress=events.append))
    assert again.resumed_from == 1 and again.losses == first.losses
    assert not any("batch" in e.message for e in events)


@pytest.mark.parametrize("mutate,match", [
    (lambda x, y: (x, y[:-1]), "labels"),
    (lambda x, y: (x, y.astype(np.float32)), "integer"),
    (lambda x, y: (x, y + 10), "outputs"),
    (lambda x, y: (x[:, :, :4, :4], y), "cannot run"),
    (lambda x, y: (x.astype(np.int32), y), "floating point"),
])
def test_bad_data_is_refused_before_training(tmp_path, mutate, match):
    x, y = mutate(*_data(n=20))
    with pytest.raises(DataError, match=match):
        finetune(_net(), x, y, epochs=1, checkpoint_dir=tmp_path)
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_bad_settings_are_refused(tmp_path):
    x, y = _data(n=20)
    with pytest.raises(WorkbenchError, match="epochs"):
        finetune(_net(), x, y, epochs=1.5, checkpoint_dir=tmp_path)
    with pytest.raises(WorkbenchError, match="batch size"):
        finetune(_net(), x, y, epochs=1, batch_size=1, checkpoint_dir=tmp_path)
