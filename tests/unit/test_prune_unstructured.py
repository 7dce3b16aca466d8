"""Unstructured magnitude pruning: exact sparsity, smallest weights go, permanent zeros, compressed size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engines.errors import Cancelled, ModelLoadError, UnsupportedError, WorkbenchError
from engines.optimize.prune import prune_unstructured_onnx, prune_unstructured_torch
from engines.optimize.prune_unstructured import magnitude_masks
from engines.tasks import TaskContext
from tests.unit.prune_fixtures import onnx_arrays, run_onnx, tiny_onnx, tiny_torch_cnn

WEIGHTS = ["0", "3", "7", "9"]


def _weights(net):
    return {n: net[int(n)].weight.detach().clone() for n in WEIGHTS}


def test_global_magnitude_zeroes_exactly_the_smallest_weights():
    net = tiny_torch_cnn()
    before = _weights(net)
    biases = {n: net[int(n)].bias.detach().clone() for n in WEIGHTS}
    bn = net[1].weight.detach().clone()
    report = prune_unstructured_torch(net, 0.6, scope="global")
    after = _weights(net)
    total = sum(w.numel() for w in before.values())
    zeros = sum(int((w == 0).sum()) for w in after.values())
    assert zeros == round(0.6 * total)
    assert report.sparsity == pytest.approx(0.6, abs=1e-3)
    kept = torch.cat([before[n][after[n] != 0].abs() for n in WEIGHTS])
    dropped = torch.cat([before[n][after[n] == 0].abs() for n in WEIGHTS])
    assert dropped.max() <= kept.min()
    for n in WEIGHTS:   # surviving weights untouched, biases and norms untouched
        assert torch.equal(after[n][after[n] != 0], before[n][after[n] != 0])
        assert torch.equal(net[int(n)].bias, biases[n])
    assert torch.equal(net[1].weight, bn)
    assert set(report.layer_sparsity) == set(WEIGHTS)
    assert report.layer_sparsity["3"] == pytest.approx(float((after["3"] == 0).float().mean()))
    # global ranking prunes layers unevenly; per-layer figures differ
    assert len({round(v, 3) for v in report.layer_sparsity.values()}) > 1


def test_masks_are_permanent_no_reparametrisation_left():
    net = tiny_torch_cnn()
    n_params = sum(p.numel() for p in net.parameters())
    prune_unstructured_torch(net, 0.5)
    names = [n for n, _ in net.named_parameters()] + [n for n, _ in net.named_buffers()]
    assert not any(n.endswith(("_orig", "_mask")) for n in names)
    assert sum(p.numel() for p in net.parameters()) == n_params
    assert all(not m._forward_pre_hooks for m in net.modules())


def test_layer_scope_prunes_each_layer_by_the_same_fraction():
    net = tiny_torch_cnn()
    report = prune_unstructured_torch(net, 0.5, scope="layer")
    for name, frac in report.layer_sparsity.items():
        assert frac == pytest.approx(0.5, abs=0.02), name


def test_report_says_masking_does_not_cut_latency_and_measures_compression():
    report = prune_unstructured_torch(tiny_torch_cnn(), 0.8)
    assert "latency" in report.note and "do not change" in report.note
    assert report.compressed_size_bytes < 0.6 * report.compressed_size_before_bytes
    assert report.size_bytes_after == report.size_bytes_before
    json.dumps(report.to_dict())


def test_masks_helper_counts_ties_exactly():
    w = [np.zeros((4, 4), np.float32), np.ones((2, 8), np.float32)]
    keep = magnitude_masks(w, 0.25, "global")
    assert sum(int((~k).sum()) for k in keep) == 8
    assert (~keep[0]).sum() == 8     # the zeros are the smallest and go first


@pytest.mark.parametrize("scope", ["sideways", ""])
def test_unknown_scope_is_refused(scope):
    with pytest.raises(WorkbenchError, match="scope"):
        prune_unstructured_torch(tiny_torch_cnn(), 0.5, scope=scope)


def test_onnx_weights_pruned_biases_kept_model_still_runs(tmp_path):
    src = tiny_onnx(tmp_path / "m.onnx")
    out = tmp_path / "out" / "pruned.onnx"
    x = np.random.default_rng(0).normal(size=(1, 8, 6, 6)).astype(np.float32)
    ref = run_onnx(src, x)
    report = prune_unstructured_onnx(src, out, 0.7, scope="global")
    a, b = onnx_arrays(src), onnx_arrays(out)
    assert set(report.layer_sparsity) == {"conv.w", "gemm1.B", "mm.B", "gemm2.B"}
    for bias in ("conv.b", "gemm2.c"):
        assert np.array_equal(a[bias], b[bias])
    weights = ["conv.w", "gemm1.B", "mm.B", "gemm2.B"]
    total = sum(a[n].size for n in weights)
    assert sum(int((b[n] == 0).sum()) for n in weights) == round(0.7 * total)
    kept = np.concatenate([np.abs(a[n][b[n] != 0]) for n in weights])
    dropped = np.concatenate([np.abs(a[n][b[n] == 0]) for n in weights])
    assert dropped.max() <= kept.min()
    assert report.layer_sparsity["mm.B"] == pytest.approx(float((b["mm.B"] == 0).mean()))
    y = run_onnx(out, x)
    assert y.shape == ref.shape and not np.allclose(y, ref)
    assert report.output_path == str(out) and report.framework == "onnx"
    assert report.compressed_size_bytes < report.compressed_size_before_bytes
    assert report.size_bytes_after == out.stat().st_size
    assert [p.name for p in out.parent.iterdir()] == ["pruned.onnx"]   # no temp files left


def test_onnx_layer_scope(tmp_path):
    report = prune_unstructured_onnx(tiny_onnx(tmp_path / "m.onnx"), tmp_path / "p.onnx", 0.5, scope="layer")
    assert all(v == pytest.approx(0.5, abs=0.01) for v in report.layer_sparsity.values())


def test_onnx_cancel_leaves_no_output(tmp_path):
    src = tiny_onnx(tmp_path / "m.onnx")
    ctx = TaskContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        prune_unstructured_onnx(src, tmp_path / "p.onnx", 0.5, task=ctx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_onnx_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        prune_unstructured_onnx(tmp_path / "missing.onnx", tmp_path / "p.onnx", 0.5)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(ModelLoadError):
        prune_unstructured_onnx(junk, tmp_path / "p.onnx", 0.5)
    with pytest.raises(WorkbenchError, match="amount"):
        prune_unstructured_onnx(tiny_onnx(tmp_path / "m.onnx"), tmp_path / "p.onnx", 1.5)


def test_onnx_without_float_weights_is_unsupported(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    src = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(src))
    with pytest.raises(UnsupportedError, match="no float"):
        prune_unstructured_onnx(src, tmp_path / "p.onnx", 0.5)
    assert not (tmp_path / "p.onnx").exists()


def test_torch_cancel_before_zeroing_leaves_the_weights():
    net = tiny_torch_cnn()
    before = _weights(net)

    def cancel_when_ranking(ev):
        if ev.message.startswith("ranking"):
            ctx.cancel()

    ctx = TaskContext(on_progress=cancel_when_ranking)
    with pytest.raises(Cancelled):
        prune_unstructured_torch(net, 0.5, task=ctx)
    for n, w in _weights(net).items():
        assert torch.equal(w, before[n])
