"""Quantization-aware training: prepare/strip, training with progress and cancel, the variant beside
post-training INT8, and the refusals (no labels, not a PyTorch model, pruned)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engines.errors import Cancelled, UnsupportedError, WorkbenchError
from engines.optimize.context import open_context
from engines.optimize.pipeline import apply_recipe
from engines.optimize.qat import prepare_qat, quantize_aware_train, strip_qat
from engines.optimize.recipes import Recipe
from engines.tasks import TaskContext
from tests.unit.depth_fixtures import FAST, digits_files, quadrant_data, quadrant_net
from tests.unit.depth_fixtures import one_torch_thread  # noqa: E402,F401  (autouse)



def test_prepare_folds_batchnorm_fake_quantizes_and_strip_restores_a_plain_float_model():
    x, _ = quadrant_data(32)
    net = quadrant_net()
    xt = torch.from_numpy(x)
    with torch.no_grad():
        ref = net(xt)
    prepared, folded, n_layers, note = prepare_qat(net, xt)
    assert folded == 1 and n_layers == 3 and note == ""
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in prepared.modules())
    with torch.no_grad():
        fq = prepared(xt)
    # INT8 simulated: close to the float model, but not bit-identical (the rounding is really there)
    assert not torch.equal(fq, ref) and torch.allclose(fq, ref, atol=0.1 * float(ref.abs().max()))
    plain = strip_qat(prepared)
    assert not any(hasattr(m, "qat_act") or hasattr(m, "parametrizations") for m in plain.modules())
    with torch.no_grad():
        assert torch.allclose(plain(xt), ref, atol=1e-4)   # folding BN is exact up to float rounding


def test_qat_trains_with_progress_and_checkpoints(tmp_path):
    x, y = quadrant_data()
    events = []
    module, rep = quantize_aware_train(quadrant_net(), x, y, epochs=2, lr=5e-3, checkpoint_dir=tmp_path,
                                       task=TaskContext(on_progress=events.append))
    assert rep.epochs == 2 and rep.finetune["epochs_done"] == 2 and rep.fake_quantized_layers == 3
    assert rep.finetune["losses"][-1] < rep.finetune["losses"][0]
    assert (tmp_path / "finetune.pt").is_file()
    fracs = [e.fraction for e in events if e.fraction is not None]
    assert fracs == sorted(fracs) and any("epoch 2/2" in e.message for e in events)
    assert isinstance(module, torch.nn.Module) and module(torch.from_numpy(x[:2])).shape == (2, 4)


def test_qat_cancel_raises_and_leaves_a_resumable_checkpoint(tmp_path):
    x, y = quadrant_data()
    ctx = TaskContext()

    def cancel_in_epoch_2(ev):
        if "epoch 2/3" in ev.message:
            ctx.cancel()

    task = TaskContext(on_progress=cancel_in_epoch_2, cancel_event=ctx._cancel_event)
    with pytest.raises(Cancelled):
        quantize_aware_train(quadrant_net(), x, y, epochs=3, lr=5e-3, checkpoint_dir=tmp_path, task=task)
    _, rep = quantize_aware_train(quadrant_net(), x, y, epochs=3, lr=5e-3, checkpoint_dir=tmp_path)
    assert rep.finetune["resumed_from"] == 1 and rep.finetune["epochs_done"] == 3


def test_qat_without_labels_is_refused_offering_post_training_int8(tmp_path):
    x, _ = quadrant_data(32)
    with pytest.raises(WorkbenchError, match="int8-static"):
        quantize_aware_train(quadrant_net(), x, None, epochs=1, checkpoint_dir=tmp_path)
    pt, data = digits_files(tmp_path, labels=False)
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    with pytest.raises(WorkbenchError, match="needs labelled data.*post-training INT8 \\(--quantize int8-static\\)"):
        apply_recipe(ctx, Recipe(quant="int8-qat"))
    assert not ctx.workspace.variants()   # refused before any work


def test_qat_without_labels_exits_2_on_the_cli(tmp_path, capsys):
    from workbench.cli import main

    pt, data = digits_files(tmp_path, labels=False)
    code = main(["optimize", str(pt), "-q", "int8-qat", "--data", str(data), "--workspace", str(tmp_path / "ws")])
    assert code == 2 and "post-training INT8" in capsys.readouterr().err


def test_qat_refuses_onnx_models_and_pruned_recipes(tmp_path):
    from tests.unit.optimize_helpers import labelled_data, tiny_cnn_onnx

    path = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    ctx = open_context(path, data=labelled_data(path, tmp_path / "t.npz", n=32), workspace=tmp_path / "w1",
                       measure=FAST)
    with pytest.raises(UnsupportedError, match="needs the PyTorch model"):
        apply_recipe(ctx, Recipe(quant="int8-qat"))
    pt, data = digits_files(tmp_path)
    ctx = open_context(pt, data=data, workspace=tmp_path / "w2", measure=FAST)
    with pytest.raises(UnsupportedError, match="prune and quantize as separate"):
        apply_recipe(ctx, Recipe(prune_mode="structured", prune_amount=0.5, quant="int8-qat"))


def test_qat_variant_beside_post_training_int8_with_both_accuracies(tmp_path, capsys):
    import onnx

    from workbench.cli import main

    pt, data = digits_files(tmp_path)
    code = main(["optimize", str(pt), "-q", "int8-qat", "--qat-epochs", "1", "--data", str(data),
                 "--workspace", str(tmp_path / "ws"), "--iterations", "20", "--seconds", "0.2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    cmp = out["qat_vs_ptq"]
    assert cmp["qat"]["status"] == "ok" and cmp["ptq"]["status"] == "ok"
    assert cmp["qat"]["name"] == "int8 QAT 1ep qdq u8/s8 pc" and cmp["ptq"]["name"].startswith("int8 static qdq")
    assert 0 <= cmp["qat"]["accuracy"] <= 1 and 0 <= cmp["ptq"]["accuracy"] <= 1
    assert cmp["qat_minus_ptq_points"] == pytest.approx((cmp["qat"]["accuracy"] - cmp["ptq"]["accuracy"]) * 100,
                                                        abs=1e-3)
    from engines.workspace import Workspace

    ws = tmp_path / "ws"
    qat_file = Workspace(ws).model_path(cmp["qat"]["variant_id"])
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in onnx.load(str(qat_file)).graph.node}
    assert not (ws / "checkpoints").exists() or not any((ws / "checkpoints").iterdir())


def test_qat_recipe_fields_normalize_and_keep_old_keys():
    old = Recipe(quant="int8-static").to_dict("s", "d")
    assert "qat_epochs" not in old and "prune_schedule" not in old      # keys made before these fields stay
    assert Recipe(quant="int8-static", qat_epochs=5).normalized() == Recipe(quant="int8-static")
    assert Recipe(quant="qat", qat_epochs=3).to_dict("s", "d")["qat_epochs"] == 3
    assert Recipe(quant="int8-qat").uses_calibration and Recipe(quant="int8-qat").to_dict("s", "d")["data"] == "d"
