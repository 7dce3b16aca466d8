"""2:4 semi-structured masks: the pattern holds along each layer's input dimension, labelled honestly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from engines.errors import Cancelled, UnsupportedError
from engines.optimize.prune import is_24_sparse, mask_24, prune_24_onnx, prune_24_torch
from engines.tasks import TaskContext
from tests.unit.prune_fixtures import onnx_arrays, run_onnx, tiny_onnx, tiny_torch_cnn


@pytest.mark.parametrize("shape,axis", [((8, 16), 1), ((16, 8, 3, 3), 1), ((12, 8), 0), ((2, 8, 4), -2)])
def test_mask_keeps_the_two_largest_of_every_four(shape, axis):
    w = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    m = mask_24(w, axis)
    assert is_24_sparse(m, axis)
    assert (m == 0).mean() == 0.5
    groups_w = np.moveaxis(w, axis, -1).reshape(-1, 4)
    groups_m = np.moveaxis(m, axis, -1).reshape(-1, 4)
    for gw, gm in zip(groups_w, groups_m):
        keep = np.sort(np.argsort(-np.abs(gw))[:2])
        assert np.array_equal(np.flatnonzero(gm), keep)
        assert np.array_equal(gm[keep], gw[keep])


def test_pattern_checker_rejects_dense_and_wrong_axis():
    w = np.random.default_rng(1).normal(size=(8, 16)).astype(np.float32) + 5
    assert not is_24_sparse(w, 1)
    m = mask_24(w, 1)
    assert is_24_sparse(m, 1) and not is_24_sparse(m, 0)
    assert not is_24_sparse(np.zeros((3, 6)), 1)      # 6 is not a multiple of 4


def test_torch_layers_follow_2_4_along_input_channels():
    net = tiny_torch_cnn()
    report = prune_24_torch(net)
    # first conv has 3 input channels: left dense and said why
    assert "0" in report.skipped_layers and "multiple of 4" in report.skipped_layers["0"]
    assert set(report.layer_sparsity) == {"3", "7", "9"}
    for name in ("3", "7", "9"):
        w = net[int(name)].weight.detach().numpy()
        assert is_24_sparse(w, 1), name
        assert report.layer_sparsity[name] == 0.5
    assert not is_24_sparse(net[0].weight.detach().numpy(), 1)
    assert report.mode == "2:4" and report.amount == 0.5 and report.module is net
    assert "sparse-capable GPU kernels" in report.note and "Ampere" in report.note
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 4)
    json.dumps(report.to_dict())


def test_torch_model_without_any_eligible_layer_is_unsupported():
    net = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    with pytest.raises(UnsupportedError, match="multiple of 4"):
        prune_24_torch(net)


def test_onnx_pattern_follows_each_ops_input_axis(tmp_path):
    src = tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "m24.onnx"
    report = prune_24_onnx(src, out)
    a, b = onnx_arrays(src), onnx_arrays(out)
    assert is_24_sparse(b["conv.w"], 1)       # Conv [M, C, kH, kW]: along C
    assert is_24_sparse(b["gemm1.B"], 0)      # Gemm transB=0, B [K, N]: along K
    assert is_24_sparse(b["mm.B"], 0)         # MatMul B [K, N]: along K
    assert is_24_sparse(b["gemm2.B"], 1)      # Gemm transB=1, B [N, K]: along K
    assert not is_24_sparse(b["gemm1.B"], 1)
    assert np.array_equal(a["conv.b"], b["conv.b"]) and np.array_equal(a["gemm2.c"], b["gemm2.c"])
    assert report.sparsity == 0.5 and report.skipped_layers == {}
    assert "sparse-capable GPU kernels" in report.note
    x = np.ones((1, 8, 6, 6), np.float32)
    assert run_onnx(out, x).shape == (1, 4)
    assert report.compressed_size_bytes < report.compressed_size_before_bytes


def test_onnx_cancel_writes_nothing(tmp_path):
    src = tiny_onnx(tmp_path / "m.onnx")
    calls = []

    def cancel_midway(ev):
        calls.append(ev)
        if len(calls) == 3:
            ctx.cancel()

    ctx = TaskContext(on_progress=cancel_midway)
    with pytest.raises(Cancelled):
        prune_24_onnx(src, tmp_path / "m24.onnx", task=ctx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_torch_cancel_midway_leaves_every_weight_untouched():
    net = tiny_torch_cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []

    def cancel_on_third(ev):
        seen.append(ev)
        if len(seen) == 3:
            ctx.cancel()

    ctx = TaskContext(on_progress=cancel_on_third)
    with pytest.raises(Cancelled):
        prune_24_torch(net, task=ctx)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
