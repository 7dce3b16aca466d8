"""Layer/block removal: which blocks qualify, the measured choice, the refusals, the variant pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engines.errors import UnsupportedError, WorkbenchError
from engines.models import zoo
from engines.optimize.block_search import ENCODER, RESIDUAL, find_blocks
from engines.optimize.recipes import Recipe
from engines.optimize.remove_blocks import count_for, remove_blocks
from tests.unit.depth_fixtures import FAST
from tests.unit.depth_fixtures import one_torch_thread  # noqa: E402,F401  (autouse)



class ThreeBlocks(nn.Module):
    """A stem and three identity-shortcut blocks of the same shape: every block is removable."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*(zoo.BasicBlock(8, 8) for _ in range(3)))
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def test_resnet18_identity_blocks_qualify_and_projection_blocks_do_not():
    model = zoo.build("ResNet18", {"image_size": 64})
    search = find_blocks(model, zoo.example_inputs("ResNet18", {"image_size": 64}, batch=2))
    assert search.names == ["layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"]
    assert {k for _, k, _ in search.blocks} == {RESIDUAL}
    assert search.most_removable() == 5          # the three downsampling blocks stay


def test_resnet18_loses_blocks_and_keeps_its_output_shape():
    model = zoo.build("ResNet18", {"image_size": 64})
    example = zoo.example_inputs("ResNet18", {"image_size": 64}, batch=2)
    rep = remove_blocks(model, example, 2, data=torch.randn(8, 3, 64, 64).numpy())
    assert len(rep.blocks["removed"]) == 2 and rep.macs_after < rep.macs_before
    assert sum(len(getattr(model, f"layer{i}")) for i in range(1, 5)) == 6
    assert model(example[0]).shape == (2, 1000)
    # the first block taken out is the one whose absence alone changed the outputs least
    alone = rep.blocks["change_alone"]
    assert rep.blocks["removed"][0] == min(alone, key=alone.get)


def test_the_block_that_does_nothing_goes_first():
    model = ThreeBlocks().eval()
    with torch.no_grad():   # block 1's residual branch outputs zero: relu(0 + x) = x after the stem's ReLU
        model.blocks[1].bn2.weight.zero_()
        model.blocks[1].bn2.bias.zero_()
    x = torch.randn(16, 1, 8, 8)
    rep = remove_blocks(model, (x[:2],), 1, data=x.numpy())
    assert rep.blocks["removed"] == ["blocks.1"]
    assert rep.blocks["change_alone"]["blocks.1"] < 1e-9 < min(v for k, v in rep.blocks["change_alone"].items()
                                                                if k != "blocks.1")
    assert rep.blocks["agreement"] == 1.0 and len(model.blocks) == 2


def test_hf_bert_drops_encoder_layers():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=32, num_labels=3)
    torch.manual_seed(0)
    bert = transformers.BertForSequenceClassification(cfg).eval()   # random weights from a config, no download
    ids = torch.randint(0, 100, (8, 16))
    search = find_blocks(bert, (ids,))
    assert search.names == [f"bert.encoder.layer.{i}" for i in range(4)]
    assert {k for _, k, _ in search.blocks} == {ENCODER} and search.most_removable() == 3
    rep = remove_blocks(bert, (ids[:2],), 2, data=ids.numpy())
    assert len(bert.bert.encoder.layer) == 2 and bert.config.num_hidden_layers == 2
    assert rep.params_after < rep.params_before
    assert bert(ids).logits.shape == (8, 3)


def test_zoo_tiny_bert_layers_qualify():
    cfg = {"layers": 3, "hidden": 32, "ffn": 64, "seq_len": 16, "vocab": 100}
    search = find_blocks(zoo.build("TinyBert", cfg), zoo.example_inputs("TinyBert", cfg, batch=2))
    assert search.names == ["layers.0", "layers.1", "layers.2"] and search.most_removable() == 2


def test_a_plain_cnn_has_nothing_to_remove():
    search = find_blocks(zoo.build("DigitsCNN"), zoo.example_inputs("DigitsCNN", batch=2))
    assert search.blocks == []
    with pytest.raises(UnsupportedError, match="looked for residual blocks .* structured pruning"):
        count_for(search, 1)


def test_more_blocks_than_exist_and_all_of_them_are_refused():
    search = find_blocks(ThreeBlocks().eval(), (torch.randn(2, 1, 8, 8),))
    assert search.most_removable() == 2
    with pytest.raises(WorkbenchError, match="asked to remove 4 blocks but this model has 3 removable"):
        count_for(search, 4)
    with pytest.raises(WorkbenchError, match="would leave no block of that kind.*--remove-blocks 1 to 2"):
        count_for(search, 3)
    assert count_for(search, 0, fraction=0.5) == 2 and count_for(search, 2) == 2
    lab = find_blocks(zoo.build("DigitsResNet", {"width": 8}), zoo.example_inputs("DigitsResNet", batch=2))
    assert lab.names == ["layer1"] and count_for(lab, 1) == 1   # the other two blocks have projections


def test_a_torchscript_module_needs_the_pytorch_module():
    scripted = torch.jit.trace(ThreeBlocks().eval(), torch.randn(1, 1, 8, 8))
    with pytest.raises(UnsupportedError, match="needs the PyTorch module"):
        remove_blocks(scripted, (torch.randn(1, 1, 8, 8),), 1)


def test_block_recipes_key_on_the_data_and_keep_old_keys():
    assert "prune_blocks" not in Recipe(prune_mode="structured", prune_amount=0.5).to_dict("s", "d")
    r = Recipe(prune_mode="blocks", prune_blocks=2, prune_amount=0.3, recover_epochs=1)
    assert r.prunes and r.normalized().prune_amount == 0.0 and r.label() == "remove 2 blocks +1ep"
    assert r.to_dict("s", "d")["data"] == "d" and r.to_dict("s", "d")["prune_blocks"] == 2
    assert Recipe(prune_mode="blocks", prune_blocks=0, prune_amount=0.0).prunes is False
    assert Recipe(prune_mode="blocks", prune_amount=0.5).label() == "remove 50% of blocks"
    assert Recipe(prune_mode="blocks", prune_blocks=1, recover_epochs=2).prune_stage().prune_blocks == 1
    with pytest.raises(WorkbenchError, match="whole number"):
        Recipe(prune_mode="blocks", prune_blocks=-1)


def test_the_optimize_form_offers_block_removal_from_the_registry():
    from workbench.wiring import optimize as wiring

    assert ("blocks", "blocks") in wiring.prune_modes()      # the screen's mode select lists it, unchanged
    r = wiring.recipe_from_form({"prune_pct": 50, "prune_mode": "blocks", "recover_epochs": 1})
    assert r.prune_mode == "blocks" and r.prune_amount == 0.5 and r.label() == "remove 50% of blocks +1ep"


def test_variant_summaries_name_the_blocks_removed():
    from workbench.wiring.variants import recipe_words

    r = Recipe(prune_mode="blocks", prune_blocks=2, recover_epochs=3).to_dict("s", "d")
    assert recipe_words(r, "pruned") == "remove 2 blocks + 3 recovery epochs"
