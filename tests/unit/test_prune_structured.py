"""Structured channel pruning: channels really go, MACs/params drop, the classifier is kept."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from engines.errors import Cancelled, UnsupportedError, WorkbenchError
from engines.optimize.prune import channel_counts, prune_structured
from engines.tasks import TaskContext


class ResBlockNet(nn.Module):
    """Tiny CNN with a residual add, so the dependency graph has coupled channels."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn0(self.stem(x)))
        y = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(x + self.bn2(self.conv2(y)))
        return self.head(x.mean((2, 3)))


def _net(seed: int = 0) -> ResBlockNet:
    torch.manual_seed(seed)
    return ResBlockNet().eval()


X = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def test_half_the_channels_go_and_macs_params_drop():
    net = _net()
    report = prune_structured(net, X, 0.5)
    assert report.module is net
    assert report.mode == "structured" and report.amount == 0.5 and report.framework == "torch"
    assert net.stem.out_channels == 8 and net.conv1.out_channels == 8 and net.conv2.out_channels == 8
    assert net.stem.weight.shape == (8, 3, 3, 3)           # physically smaller tensors
    assert net.bn2.num_features == 8 and net.head.in_features == 8
    assert net.head.out_features == 5                        # classifier outputs kept
    assert report.ignored_layers == ["head"]
    assert report.macs_before / report.macs_after >= 3.0
    assert report.params_after < report.params_before / 2.5
    assert report.params_after == sum(p.numel() for p in net.parameters())
    assert report.channels_before["conv1"] == 16 and report.channels["conv1"] == 8
    assert net(X).shape == (1, 5)
    d = report.to_dict()
    assert "module" not in d and d["macs_ratio"] == pytest.approx(report.macs_before / report.macs_after)
    json.dumps(d)


def test_kept_channels_are_those_with_the_largest_l1_norm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.ReLU(), nn.Conv2d(16, 6, 1, bias=False),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2)).eval()
    with torch.no_grad():
        net[2].weight.fill_(0.5)      # the consumer's weights tie, so only the producer's L1 norms rank channels
        net[0].weight.mul_(torch.linspace(0.1, 2.0, 16).roll(5).view(16, 1, 1, 1))
    before = net[0].weight.detach().clone()
    l1 = before.abs().sum((1, 2, 3))
    expected = sorted(torch.topk(l1, 8).indices.tolist())
    prune_structured(net, X, 0.5)
    kept = sorted(i for i in range(16) if any(torch.equal(before[i], w) for w in net[0].weight.detach()))
    assert kept == expected


def test_ignored_layers_by_name_are_not_pruned():
    net = _net()
    report = prune_structured(net, X, 0.5, ignored_layers=["conv1", "head"])
    assert net.conv1.out_channels == 16
    assert net.stem.out_channels == 8
    assert set(report.ignored_layers) == {"conv1", "head"}


def test_unknown_ignored_layer_name_is_refused():
    with pytest.raises(WorkbenchError, match="not in the model"):
        prune_structured(_net(), X, 0.5, ignored_layers=["nope"])


def test_pruning_is_deterministic_so_a_rerun_rebuilds_the_same_module():
    a, b = _net(3), _net(3)
    prune_structured(a, X, 0.4)
    prune_structured(b, X, 0.4)
    assert channel_counts(a) == channel_counts(b)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


@pytest.mark.parametrize("amount", [-0.1, 0.99, 50, float("nan"), "half"])
def test_bad_amount_is_refused_before_any_work(amount):
    net = _net()
    with pytest.raises(WorkbenchError, match="amount"):
        prune_structured(net, X, amount)
    assert net.conv1.out_channels == 16


def test_zero_amount_leaves_the_model_as_is():
    net = _net()
    report = prune_structured(net, X, 0.0)
    assert report.macs_after == report.macs_before and net.conv1.out_channels == 16


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_is_refused_with_the_fix():
    scripted = torch.jit.trace(_net(), X)
    with pytest.raises(UnsupportedError, match="eager"):
        prune_structured(scripted, X, 0.5)


def test_wrong_example_input_is_a_user_error():
    with pytest.raises(WorkbenchError, match="example input"):
        prune_structured(_net(), torch.randn(1, 7, 12, 12), 0.5)


def test_cancel_before_the_step_leaves_the_model_whole():
    net = _net()
    seen = []

    def on_progress(ev):
        seen.append(ev.message)
        if "dependency graph" in ev.message:
            ctx.cancel()

    ctx = TaskContext(on_progress=on_progress)
    with pytest.raises(Cancelled):
        prune_structured(net, X, 0.5, task=ctx)
    assert net.conv1.out_channels == 16
    assert seen and seen[0].startswith("counting")


def test_digits_cnn_from_the_zoo_prunes_and_still_runs():
    zoo = pytest.importorskip("engines.models.zoo")
    net = zoo.build("DigitsCNN")
    x = torch.randn(4, 1, 8, 8)
    report = prune_structured(net, x[:1], 0.5)
    assert report.macs_before / report.macs_after >= 3.0
    assert net(x).shape == (4, 10) and report.ignored_layers == ["fc2"]


def test_pruning_the_classifier_outputs_is_caught():
    with pytest.raises(UnsupportedError, match="output shape"):
        prune_structured(_net(), X, 0.5, ignored_layers=[])


def test_numpy_example_input_is_accepted():
    net = _net()
    report = prune_structured(net, X.numpy(), 0.25)
    assert net.conv1.out_channels == 12 and report.macs_after < report.macs_before
