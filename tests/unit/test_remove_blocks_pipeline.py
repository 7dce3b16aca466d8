"""Layer/block removal through the variant pipeline and the CLI: a variant measured against the original,
and every bad input refused before any work with a one-line reason (exit 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.models import zoo
from engines.models.torch_load import save_torchscript
from engines.optimize.context import open_context
from engines.optimize.pipeline import apply_recipe
from engines.optimize.recipes import Recipe
from tests.unit.depth_fixtures import FAST, digits_files
from tests.unit.depth_fixtures import one_torch_thread  # noqa: E402,F401  (autouse)



def _zoo_file(tmp_path, arch, config, name):
    model = zoo.build(arch, config)
    path = tmp_path / name
    save_torchscript(model, path, zoo.example_inputs(arch, config, batch=2), arch=zoo.arch_ref(arch),
                     config=config, input_specs=zoo.input_specs(arch, config))
    return path


def _small_resnet(tmp_path, n=64):
    config = {"width": 8, "image_size": 16}
    pt = _zoo_file(tmp_path, "DigitsResNet", config, "small_resnet.pt")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(n, 1, 16, 16)).astype(np.float32), y=rng.integers(0, 10, n).astype(np.int64))
    return pt, data


def test_a_residual_cnn_loses_a_block_and_is_measured_against_the_original(tmp_path):
    pt, data = _small_resnet(tmp_path)
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    res = apply_recipe(ctx, Recipe(prune_mode="blocks", prune_blocks=1, recover_epochs=1))
    v = res.variant
    assert v.status == "ok", v.error
    assert v.name == "remove 1 block +1ep" and v.parent == res.baseline.id
    assert v.extra["prune"]["blocks"]["removed"] == ["layer1"]
    assert v.extra["prune"]["macs_after"] < v.extra["prune"]["macs_before"]
    assert v.extra["finetune"]["epochs_done"] == 1
    assert v.metrics["accuracy"] is not None and v.metrics["paired"]["reference"] == res.baseline.id
    again = apply_recipe(ctx, Recipe(prune_mode="blocks", prune_blocks=1, recover_epochs=1))
    assert again.cached and again.variant.id == v.id


def test_encoder_layers_of_a_tiny_bert_file_are_removed(tmp_path):
    config = {"layers": 3, "hidden": 32, "ffn": 64, "heads": 2, "seq_len": 16, "vocab": 100}
    pt = _zoo_file(tmp_path, "TinyBert", config, "tiny_bert.pt")
    ids = np.random.default_rng(0).integers(0, 100, (32, 16)).astype(np.int64)
    np.savez(tmp_path / "ids.npz", x=ids)
    ctx = open_context(pt, data=tmp_path / "ids.npz", workspace=tmp_path / "ws", measure=FAST)
    v = apply_recipe(ctx, Recipe(prune_mode="blocks", prune_blocks=2)).variant
    assert v.status == "ok", v.error
    assert len(v.extra["prune"]["blocks"]["removed"]) == 2 and v.metrics["fidelity"]["top1_agreement"] is not None


def _cli(args, capsys):
    from workbench.cli import main

    code = main(args)
    return code, capsys.readouterr().err.strip()


def test_cli_refuses_a_model_with_nothing_removable(tmp_path, capsys):
    pt, data = digits_files(tmp_path)
    code, err = _cli(["optimize", str(pt), "--remove-blocks", "1", "--data", str(data), "--workspace",
                      str(tmp_path / "ws")], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "looked for residual blocks" in err and "--prune-mode structured" in err


def test_cli_refuses_more_blocks_than_exist_and_all_of_them(tmp_path, capsys):
    pt, data = _small_resnet(tmp_path)
    base = ["--data", str(data), "--workspace", str(tmp_path / "ws")]
    code, err = _cli(["optimize", str(pt), "--remove-blocks", "3", *base], capsys)
    assert code == 2 and "asked to remove 3 blocks but this model has 1 removable (layer1)" in err
    config = {"layers": 2, "hidden": 32, "ffn": 64, "heads": 2, "seq_len": 16, "vocab": 100}
    bert = _zoo_file(tmp_path, "TinyBert", config, "two_layers.pt")
    np.savez(tmp_path / "ids.npz", x=np.zeros((8, 16), np.int64))
    code, err = _cli(["optimize", str(bert), "--remove-blocks", "2", "--data", str(tmp_path / "ids.npz"),
                      "--workspace", str(tmp_path / "ws2")], capsys)
    assert code == 2 and "would leave no block of that kind" in err and "--remove-blocks 1" in err
    code, err = _cli(["optimize", str(bert), "--remove-blocks", "1", "--recover-epochs", "1", "--data",
                      str(tmp_path / "ids.npz"), "--workspace", str(tmp_path / "ws2")], capsys)
    assert code == 2 and "float inputs" in err and "--recover-epochs 0" in err


def test_cli_refuses_onnx_and_torchscript_without_the_module(tmp_path, capsys):
    from tests.unit.outside_corpus import torchscript_cnn
    from tests.unit.optimize_helpers import SAMPLE_DATA, SAMPLE_ONNX

    code, err = _cli(["optimize", str(SAMPLE_ONNX), "--remove-blocks", "1", "--data", str(SAMPLE_DATA),
                      "--workspace", str(tmp_path / "ws")], capsys)
    assert code == 2 and "needs the PyTorch module" in err and "ONNX graph" in err
    traced = torchscript_cnn(tmp_path)
    code, err = _cli(["optimize", str(traced), "--remove-blocks", "1", "--input-shape", "x=1x3x16x16",
                      "--workspace", str(tmp_path / "ws3")], capsys)
    assert code == 2 and "needs the PyTorch module" in err and "TorchScript" in err


def test_cli_block_options_that_contradict_are_refused(tmp_path, capsys):
    pt, data = _small_resnet(tmp_path)
    base = [str(pt), "--data", str(data), "--workspace", str(tmp_path / "ws")]
    code, err = _cli(["optimize", *base, "--remove-blocks", "1", "--prune-mode", "structured"], capsys)
    assert code == 2 and "choose one" in err
    code, err = _cli(["optimize", *base, "--prune-mode", "blocks"], capsys)
    assert code == 2 and "--remove-blocks N" in err


def test_a_pickled_hf_bert_file_loses_encoder_layers_through_the_pipeline(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=32, num_labels=3)
    torch.manual_seed(0)
    torch.save(transformers.BertForSequenceClassification(cfg).eval(), tmp_path / "bert.pt")  # random weights
    np.savez(tmp_path / "ids.npz", x=np.random.default_rng(0).integers(0, 100, (32, 16)).astype(np.int64))
    ctx = open_context(tmp_path / "bert.pt", data=tmp_path / "ids.npz", trust_pickle=True,
                       workspace=tmp_path / "ws", measure=FAST)
    res = apply_recipe(ctx, Recipe(prune_mode="blocks", prune_blocks=2))
    assert res.baseline.status == "ok" and res.variant.status == "ok", res.variant.error
    removed = res.variant.extra["prune"]["blocks"]["removed"]
    assert len(removed) == 2 and all(n.startswith("bert.encoder.layer.") for n in removed)
    assert res.variant.metrics["paired"]["reference"] == res.baseline.id
