"""Models from libraries nobody here wrote, built on the fly with random weights (no downloads).

Each builder writes into the folder it is given and returns the model path; heavy frameworks are imported
inside the builders, and a missing optional library skips the test that needs it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest


def outside_cnn():
    """A small CNN that is not in engines.models.zoo (BatchNorm, Dropout, strided conv, flatten)."""
    import torch
    import torch.nn as nn

    class OutsideNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)
            self.drop = nn.Dropout(0.2)
            self.head = nn.Linear(32, 10)

        def forward(self, x):
            x = torch.relu(self.down(self.stem(x)))
            return self.head(self.drop(x.mean((2, 3))))

    torch.manual_seed(0)
    return OutsideNet()


def torch_export_cnn(folder: Path, *, train: bool = False, decompose: bool = False) -> Path:
    import torch

    model = outside_cnn().train(train)
    ep = torch.export.export(model, (torch.randn(2, 3, 16, 16),),
                             dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},))
    if decompose:
        ep = ep.run_decompositions()
    path = folder / ("cnn_train.pt2" if train else "cnn.pt2")
    torch.export.save(ep, str(path))
    return path


def torchscript_cnn(folder: Path) -> Path:
    """TorchScript with no recorded input shapes (a plain torch.jit.trace + save)."""
    import torch

    path = folder / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(outside_cnn().eval(), torch.randn(1, 3, 16, 16)), str(path))
    return path


def legacy_onnx(folder: Path) -> Path:
    """ONNX IR 3 / opset 9: every initializer also a graph input; a weight made by ConstantOfShape."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal((8, 3, 3, 3)).astype("float32"), "W"),
             nh.from_array(np.zeros(8, "float32"), "B"),
             nh.from_array(np.array([10, 8], dtype=np.int64), "fc_W__SHAPE"),
             nh.from_array(np.zeros(10, "float32"), "fc_B")]
    nodes = [h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("GlobalAveragePool", ["r"], ["g"]), h.make_node("Flatten", ["g"], ["f"]),
             h.make_node("ConstantOfShape", ["fc_W__SHAPE"], ["fc_W"],
                         value=nh.from_array(np.array([0.01], "float32"))),
             h.make_node("Gemm", ["f", "fc_W", "fc_B"], ["y"], transB=1)]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 16, 16])] + [
        h.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    graph = h.make_graph(nodes, "legacy", inputs, [h.make_tensor_value_info("y", T.FLOAT, ["N", 10])],
                         initializer=inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 9)])
    model.ir_version = 3
    path = folder / "legacy_ir3.onnx"
    onnx.save(model, str(path))
    return path


VOCAB = 50


def _export_hf(module, args, names, out_names, axes, path: Path) -> Path:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=names, output_names=out_names,
                          dynamic_axes=axes, opset_version=17)
    return path


def bert_onnx(folder: Path) -> Path:
    """A 2-layer BERT-style encoder (transformers, random weights) with input_ids + attention_mask."""
    transformers = pytest.importorskip("transformers", reason="HuggingFace transformers is not installed")
    import torch

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=128)
    bert = transformers.BertModel(cfg).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]

    seq = {0: "batch", 1: "sequence"}
    ids = torch.randint(0, VOCAB, (2, 16))
    return _export_hf(Encoder(), (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], ["cls"],
                      {"input_ids": seq, "attention_mask": seq, "cls": {0: "batch"}}, folder / "bert.onnx")


def gpt2_onnx(folder: Path) -> Path:
    """A 2-layer GPT-2-style decoder (transformers, random weights): input_ids -> logits."""
    transformers = pytest.importorskip("transformers", reason="HuggingFace transformers is not installed")
    import torch

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=128)
    gpt = transformers.GPT2LMHeadModel(cfg).eval()

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gpt = gpt

        def forward(self, input_ids):
            return self.gpt(input_ids=input_ids, use_cache=False).logits

    # the TorchScript exporter cannot export transformers 5's causal mask (aten::diff): torch.export-based one
    path = folder / "gpt2.onnx"
    dims = {0: torch.export.Dim("batch", min=1, max=64), 1: torch.export.Dim("sequence", min=2, max=128)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Decoder(), (torch.randint(0, VOCAB, (2, 16)),), str(path), dynamo=True,
                          input_names=["input_ids"], output_names=["logits"], dynamic_shapes=({**dims},),
                          opset_version=18, external_data=False, verbose=False)
    return path


def keras_mobilenet(folder: Path) -> Path:
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10,
                                                include_preprocessing=False)
    path = folder / "mobilenet_v3_small.keras"
    model.save(str(path))
    return path


def savedmodel_with_resource_variables(folder: Path) -> Path:
    """tf.saved_model.save of a Keras 3 model: the TFLite converter keeps its variables unresolved."""
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    path = folder / "sm_resvars"
    tf.saved_model.save(model, str(path))
    return path
