"""The variant pipeline on tiny models: baseline, quantized, pruned, cached, failed, refused, cancelled."""

from __future__ import annotations

import errno
import json
import os
import threading

import numpy as np
import pytest

from engines.errors import Cancelled, DataError, WorkbenchError
from engines.optimize.pipeline import apply_recipe, open_context, save_variant
from engines.optimize.context import MeasureOptions
from engines.optimize.recipes import Recipe
from engines.tasks import TaskContext
from engines.workspace import Workspace
from tests.unit.optimize_helpers import digits_x, labelled_data, tiny_cnn_onnx, tiny_digits_torchscript

FAST = MeasureOptions(iterations=20, budget_s=0.2, warmup=2, throughput_batch=8)


@pytest.fixture
def model(tmp_path):
    path = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    data = labelled_data(path, tmp_path / "tiny_data.npz")
    return path, data


def _ctx(model, tmp_path, **kw):
    path, data = model
    kw.setdefault("data", data)
    return open_context(path, workspace=tmp_path / "ws", measure=FAST, **kw)


def test_recipe_normalizes_irrelevant_fields_and_labels():
    a = Recipe(quant="int8-dynamic", calibration="entropy", quant_format="qoperator")
    b = Recipe(quant="int8-dynamic")
    assert a.normalized() == b.normalized()
    assert a.to_dict("h", "d") == b.to_dict("h", "d") and a.to_dict("h", "d")["data"] is None
    static = Recipe(quant="int8-static")
    assert static.to_dict("h", "d1") != static.to_dict("h", "d2")   # calibration data is part of the key
    assert Recipe(prune_mode="structured", prune_amount=0.5, recover_epochs=2, quant="int8").label() == \
        "prune structured 50% +2ep | int8 static qdq u8/s8 pc minmax"
    with pytest.raises(WorkbenchError, match="out of range"):
        Recipe(prune_mode="structured", prune_amount=0.99)
    with pytest.raises(WorkbenchError, match="unknown calibration"):
        Recipe(quant="int8-static", calibration="magic")


def test_int8_static_variant_is_measured_and_cached(model, tmp_path):
    ctx = _ctx(model, tmp_path)
    res = apply_recipe(ctx, Recipe(quant="int8-static", calib_samples=64))
    v, base = res.variant, res.baseline
    assert v.status == "ok" and not res.cached and v.parent == base.id
    m = v.metrics
    assert base.metrics["accuracy"] == 1.0            # labels are the FP32 model's own predictions
    assert m["accuracy"] >= 0.95 and m["fidelity"]["top1_agreement"] >= 0.95 and m["fidelity"]["nan_inf"] == 0
    assert set(m["latency_ms"]) >= {"p50", "p90", "p95", "p99"} and m["threads"] == ctx.threads
    assert m["throughput"]["batch"] == 8 and m["throughput"]["ips"] > 0
    assert m["size_bytes"] < 0.5 * base.metrics["size_bytes"]
    assert v.extra["quant"]["speeds_up"]
    again = apply_recipe(ctx, Recipe(quant="int8-static", calib_samples=64))
    assert again.cached and again.variant.id == v.id
    # a reopened session sees the same variants
    reopened = Workspace(tmp_path / "ws")
    assert {x.id for x in reopened.variants()} == {base.id, v.id}


def test_failing_mode_is_recorded_and_others_go_on(model, tmp_path):
    ctx = _ctx(model, tmp_path)
    bad = apply_recipe(ctx, Recipe(quant="int4"))                      # no MatMul in this CNN
    assert bad.variant.status == "failed" and "MatMul" in bad.variant.error
    struct = apply_recipe(ctx, Recipe(prune_mode="structured", prune_amount=0.5))   # ONNX cannot be re-shaped
    assert struct.variant.status == "failed" and "PyTorch" in struct.variant.error
    wrong = apply_recipe(ctx, Recipe(quant="tflite-int8"))                # a Keras-only mode
    assert wrong.variant.status == "failed" and "Keras" in wrong.variant.error
    good = apply_recipe(ctx, Recipe(quant="int8-dynamic"))
    assert good.variant.status == "ok"
    statuses = {v.name: v.status for v in Workspace(tmp_path / "ws").variants()}
    assert statuses["int4 weight-only b32"] == "failed" and statuses["int8 dynamic s8 pc"] == "ok"


def test_unstructured_and_24_pruning_on_onnx_then_quantize(model, tmp_path):
    ctx = _ctx(model, tmp_path)
    res = apply_recipe(ctx, Recipe(prune_mode="unstructured", prune_amount=0.5, quant="int8-static", calib_samples=32))
    assert res.variant.status == "ok", res.variant.error
    parent = ctx.workspace.get(res.variant.parent)
    assert parent.kind == "pruned" and parent.parent == res.baseline.id
    assert parent.extra["prune"]["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert parent.extra["prune"]["compressed_size_bytes"] < parent.extra["prune"]["compressed_size_before_bytes"]
    r24 = apply_recipe(ctx, Recipe(prune_mode="2:4"))
    assert r24.variant.status == "ok" and "sparse" in r24.variant.extra["note"]


def test_wrong_shape_or_dtype_data_refused_before_any_work(model, tmp_path):
    path, _ = model
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez(bad_shape, x=np.zeros((10, 1, 9, 9), np.float32))
    with pytest.raises(DataError, match="axis 2"):
        open_context(path, data=bad_shape, workspace=tmp_path / "ws", measure=FAST)
    bad_dtype = tmp_path / "bad_dtype.npz"
    np.savez(bad_dtype, x=np.zeros((10, 1, 8, 8), np.int32))
    with pytest.raises(DataError, match="dtype"):
        open_context(path, data=bad_dtype, workspace=tmp_path / "ws", measure=FAST)
    assert not (tmp_path / "ws" / "manifest.json").exists()
    assert not (tmp_path / "ws" / "variants").exists()


def test_missing_labels_fall_back_to_fidelity(model, tmp_path):
    path, _ = model
    nolabels = labelled_data(path, tmp_path / "nolabels.npz", labels=False)
    ctx = open_context(path, data=nolabels, workspace=tmp_path / "ws", measure=FAST)
    assert any("fidelity" in n for n in ctx.notes)
    res = apply_recipe(ctx, Recipe(quant="int8-static", calib_samples=32))
    assert res.variant.metrics["accuracy"] is None
    assert res.variant.metrics["fidelity"]["top1_agreement"] >= 0.9
    assert any("fidelity" in n for n in res.notes)


def test_no_data_uses_random_inputs_and_says_so(model, tmp_path):
    path, _ = model
    ctx = open_context(path, workspace=tmp_path / "ws", measure=FAST, use_sample_data=False)
    assert ctx.data_source == "random" and any("random" in n for n in ctx.notes)
    assert ctx.x.shape[1:] == (1, 8, 8) and ctx.y is None


def test_cancel_leaves_no_partial_files(model, tmp_path):
    ctx = _ctx(model, tmp_path)
    apply_recipe(ctx, Recipe())                          # the baseline exists
    ev = threading.Event()
    task = TaskContext(lambda e: ev.set() if "calibrating" in e.message else None, cancel_event=ev)
    with pytest.raises(Cancelled):
        apply_recipe(ctx, Recipe(quant="int8-static"), task=task)
    ws = tmp_path / "ws"
    assert len(list((ws / "variants").iterdir())) == 1          # only the baseline
    assert not [p for p in ws.rglob("*") if ".part" in p.name]
    assert len(Workspace(ws).variants()) == 1


def test_read_only_workspace_is_refused_up_front(model, tmp_path, monkeypatch):
    ctx = _ctx(model, tmp_path)
    apply_recipe(ctx, Recipe())
    ws = tmp_path / "ws"
    before = (ws / "manifest.json").read_text()
    import engines.optimize.context as oc

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(oc.tempfile, "mkstemp", read_only)   # what a read-only mount answers (root included)
    with pytest.raises(WorkbenchError, match="cannot be written"):
        _ctx(model, tmp_path)
    monkeypatch.undo()
    assert (ws / "manifest.json").read_text() == before
    assert len(Workspace(ws).variants()) == 1


def test_disk_full_is_a_clear_error_and_keeps_earlier_variants(model, tmp_path, monkeypatch):
    ctx = _ctx(model, tmp_path)
    base = apply_recipe(ctx, Recipe()).variant
    import engines.fsutil as fsutil

    real = os.replace

    def full(src, dst):
        if "variants" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", full)
    with pytest.raises(WorkbenchError, match="disk full"):
        apply_recipe(ctx, Recipe(quant="int8-dynamic"))
    monkeypatch.setattr(fsutil.os, "replace", real)
    ids = [v.id for v in Workspace(tmp_path / "ws").variants()]
    assert ids == [base.id]
    assert not [p for p in (tmp_path / "ws").rglob("*") if ".part" in p.name]


def test_save_variant_copies_the_model(model, tmp_path):
    ctx = _ctx(model, tmp_path)
    v = apply_recipe(ctx, Recipe(quant="fp16")).variant
    out = save_variant(ctx, v, tmp_path / "exported")
    assert out.read_bytes() == ctx.workspace.model_path(v).read_bytes()
    folder = tmp_path / "dir"
    folder.mkdir()
    assert save_variant(ctx, v, folder).parent == folder


def test_torch_structured_pruning_with_recovery(tmp_path):
    pytest.importorskip("torch_pruning")
    pt = tiny_digits_torchscript(tmp_path / "digits_tiny.pt")
    x = digits_x(96)
    y = np.random.default_rng(0).integers(0, 10, len(x)).astype(np.int64)
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y)
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    res = apply_recipe(ctx, Recipe(prune_mode="structured", prune_amount=0.5, recover_epochs=1))
    v = res.variant
    assert v.status == "ok", v.error
    rep = v.extra["prune"]
    assert rep["macs_after"] < rep["macs_before"] / 2 and rep["params_after"] < rep["params_before"]
    assert v.extra["finetune"]["epochs_done"] == 1
    assert res.baseline.format == "onnx" and v.metrics["size_bytes"] < res.baseline.metrics["size_bytes"]
    assert not (ctx.workspace.root / "checkpoints").exists() or not any((ctx.workspace.root / "checkpoints").rglob("*.pt"))


def test_cli_optimize_and_variants_json(model, tmp_path, capsys):
    from workbench.cli import main

    path, data = model
    ws = str(tmp_path / "ws")
    rc = main(["optimize", str(path), "--quantize", "int8-static", "--data", str(data), "--workspace", ws,
               "--iterations", "20", "--seconds", "0.2", "--json", "--report", str(tmp_path / "r.md"),
               "--save", str(tmp_path / "q.onnx")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["status"] == "ok" and (tmp_path / "q.onnx").is_file()
    assert "| int8 static qdq u8/s8 pc minmax |" in (tmp_path / "r.md").read_text()
    rc = main(["variants", str(path), "--workspace", ws, "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert rc == 0 and {r["name"] for r in listed["variants"]} == {"baseline", "int8 static qdq u8/s8 pc minmax"}
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 3, 8, 8), np.float32))
    assert main(["optimize", str(path), "-q", "int8-static", "--data", str(bad), "--workspace", ws]) == 2
    assert "expects" in capsys.readouterr().err


def _dynamic_sequence_onnx(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "seq",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", 4])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_data_with_another_sequence_length_is_timed_again_not_served_from_the_cache(tmp_path):
    path = _dynamic_sequence_onnx(tmp_path / "seq.onnx")
    rng = np.random.default_rng(1)
    figures = {}
    for tokens in (4, 64):
        data = tmp_path / f"x{tokens}.npz"
        np.savez(data, x=rng.standard_normal((6, tokens, 8)).astype(np.float32))
        ctx = open_context(path, data=str(data), workspace=tmp_path / "ws", measure=FAST)
        res = apply_recipe(ctx, Recipe(quant="int8-dynamic"))   # needs no calibration: one variant for both
        v = ctx.workspace.get(res.variant.id)
        base = ctx.workspace.get(res.baseline.id)
        assert v.metrics["timed_shape"] == [tokens, 8] and base.metrics["timed_shape"] == [tokens, 8]
        figures[tokens] = (v.id, v.metrics["paired"]["measured"]["at"], base.metrics["measured"]["at"])
    (id4, at4, base4), (id64, at64, base64) = figures[4], figures[64]
    assert id4 == id64                       # the same recipe ...
    assert at64 > at4 and base64 > base4     # ... timed again at 64 tokens, paired with a re-timed baseline
