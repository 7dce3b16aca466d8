"""Regression corpus: architectures from libraries nobody here wrote, through inspect, quantize, prune, build.

Built on the fly with random weights (tests/unit/outside_corpus.py); no downloads. Bad inputs: a .pt2 that
cannot be put in eval mode, --input-shape that does not parse or contradicts the data, an ONNX whose
initializers are also listed as inputs, a SavedModel with resource variables, a Keras model asked for an
ORT-only mode without a converter.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engines.errors import DataError, UnsupportedError
from tests.unit import outside_corpus as corpus
from workbench.cli import main

FAST = ["--iterations", "3", "--seconds", "0.1"]


def _run(capsys, argv):
    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _optimize(capsys, model, ws, *extra):
    code, out, err = _run(capsys, ["optimize", str(model), "--workspace", str(ws), "--json", *FAST, *extra])
    payload = json.loads(out) if code in (0, 1) and out.strip().startswith("{") else {}
    return code, payload, err


def _one_line_error(code, err, needle):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("workbench: error: ") and needle in lines[0], err


# ------------------------------------------------------------------------------------------ torch.export


def test_pt2_module_is_eval_and_has_layers(tmp_path):
    import torch

    from engines.models.torch_load import load_torch_module

    path = corpus.torch_export_cnn(tmp_path, train=True)  # exported in training mode: dropout and BN active
    module = load_torch_module(path)
    module.eval()  # torch 2.13's ExportedProgram.module() raises here; ours follows nn.Module
    kinds = {type(m).__name__ for m in module.modules()}
    assert {"Conv2d", "BatchNorm2d", "Linear"} <= kinds
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        a, b = module(x), module(x)
    assert torch.equal(a, b)  # no dropout: eval behaviour
    eager = corpus.outside_cnn().eval()
    with torch.no_grad():
        assert torch.allclose(a, eager(x), atol=1e-5)  # same weights (seed 0), BN on running stats


def test_pt2_in_decomposed_training_form_is_refused(tmp_path):
    from engines.models.torch_load import load_torch_module

    path = corpus.torch_export_cnn(tmp_path, train=True, decompose=True)
    with pytest.raises(UnsupportedError, match="cannot be put in eval mode.*re-export it after model.eval"):
        load_torch_module(path)
    (tmp_path / "eval").mkdir()
    ok = corpus.torch_export_cnn(tmp_path / "eval", decompose=True)  # decomposed in eval form: fine
    assert any(type(m).__name__ == "Conv2d" for m in load_torch_module(ok).modules())


def test_pt2_prunes_and_quantizes(tmp_path, capsys):
    path = corpus.torch_export_cnn(tmp_path)
    code, out, _ = _run(capsys, ["inspect", str(path), "--json"])
    assert code == 0 and json.loads(out)["macs"] > 0
    ws = tmp_path / "ws"
    for extra in (["--prune", "0.3"], ["--prune", "0.3", "--prune-mode", "unstructured"], ["-q", "int8-static"]):
        code, payload, err = _optimize(capsys, path, ws, *extra)
        assert code == 0 and payload["status"] == "ok", (extra, payload, err)


@pytest.mark.slow
def test_pt2_aoti_package(tmp_path, capsys):
    from engines.build.aoti import compiler_status

    if not compiler_status()[0]:
        pytest.skip("no C++ compiler for AOTInductor")
    path = corpus.torch_export_cnn(tmp_path)
    code, out, err = _run(capsys, ["build", str(path), "--backend", "aoti", "--workspace", str(tmp_path / "ws"),
                                   "--max-batch", "8", "--json", *FAST])
    assert code == 0, err
    card = json.loads(out)
    assert card["fidelity"]["cosine"] > 0.999


# ------------------------------------------------------------------------------------------ input shapes


def test_parse_input_shapes():
    from engines.models.shapes import parse_input_shapes

    got = parse_input_shapes(["input_ids=1x128,attention_mask=1x128", "x=1x3x8x8:float32"])
    assert [(o.name, o.dims, o.dtype) for o in got] == [("input_ids", (1, 128), None),
                                                        ("attention_mask", (1, 128), None),
                                                        ("x", (1, 3, 8, 8), "float32")]
    assert parse_input_shapes("1x3x8x8")[0].name == ""
    for bad in ("x=1y3", "x=", "x=1x0", "x=1x3:float99", "a=1x2,a=1x2"):
        with pytest.raises(DataError, match="--input-shape"):
            parse_input_shapes(bad)


def test_resolve_inputs_shares_dims_and_refuses_mismatches():
    from engines.models.model_info import TensorSpec
    from engines.models.shapes import make_feeds, open_dims, parse_input_shapes, resolve_inputs

    specs = [TensorSpec("input_ids", ("batch", "sequence"), "int64", vocab=7),
             TensorSpec("attention_mask", ("batch", "s1"), "int64"),
             TensorSpec("token_type_ids", ("batch", "sequence"), "int64")]
    assert open_dims(specs) == ["input_ids (axis 1: sequence)", "attention_mask (axis 1: s1)",
                                "token_type_ids (axis 1: sequence)"]
    got = resolve_inputs(specs, parse_input_shapes("input_ids=1x12"))
    assert [s.shape for s in got] == [("batch", 12)] * 3 and not open_dims(got)
    feeds = make_feeds(got, batch=2)
    assert feeds["input_ids"].max() < 7 and np.all(feeds["attention_mask"] == 1)
    assert np.all(feeds["token_type_ids"] == 0)
    image = [TensorSpec("x", ("N", 3, "h", "w"), "float32")]
    for text, needle in (("y=1x3x8x8", "names 'y'"), ("x=1x3x8", "rank 3"), ("x=1x4x8x8", "axis 1: 4 vs 3"),
                         ("x=1x3x8x8:int64", "dtype int64")):
        with pytest.raises(DataError, match=needle):
            resolve_inputs(image, parse_input_shapes(text))
    with pytest.raises(DataError, match="contradicts --input-shape"):
        resolve_inputs(image, parse_input_shapes("x=1x3x8x8"), np.zeros((2, 3, 9, 8), "float32"))
    assert resolve_inputs(image, (), np.zeros((2, 3, 9, 8), "float32"))[0].shape == ("N", 3, 9, 8)


def test_torchscript_without_shapes(tmp_path, capsys):
    path = corpus.torchscript_cnn(tmp_path)
    ws = tmp_path / "ws"
    code, _, err = _optimize(capsys, path, ws, "-q", "int8-dynamic")
    _one_line_error(code, err, "--input-shape")
    assert not ws.exists()  # a refusal leaves no empty workspace folder
    code, payload, err = _optimize(capsys, path, ws, "-q", "int8-dynamic", "--input-shape", "x=1x3x16x16")
    assert code == 0 and payload["status"] == "ok", err
    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype("float32"))
    code, payload, err = _optimize(capsys, path, tmp_path / "ws2", "-q", "int8-static", "--data", str(data))
    assert code == 0 and payload["status"] == "ok", err
    code, _, err = _optimize(capsys, path, tmp_path / "ws3", "--data", str(data), "--input-shape", "x=1x3x32x32")
    _one_line_error(code, err, "contradicts --input-shape")
    assert not (tmp_path / "ws3").exists()
    code, out, err = _run(capsys, ["inspect", str(path), "--input-shape", "1x3x16x16"])
    assert code == 0 and "MACs counted at x [batch, 3, 16, 16]" in out


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return corpus.bert_onnx(tmp_path_factory.mktemp("bert"))


def test_bert_dynamic_sequence(bert, tmp_path, capsys, monkeypatch):
    from engines.measure.runners import OnnxRunner, example_feeds
    from engines.optimize.context import open_context

    code, out, _ = _run(capsys, ["inspect", str(bert), "--json"])
    macs_1 = json.loads(out)["macs"]
    code, out, _ = _run(capsys, ["inspect", str(bert), "--json", "--input-shape", "input_ids=1x64"])
    assert code == 0 and json.loads(out)["macs"] > 20 * macs_1  # counted at 64 tokens, not 1
    # no data and no shape: refused, naming the option; nothing is silently 1
    code, _, err = _optimize(capsys, bert, tmp_path / "ws0", "-q", "int8-dynamic")
    _one_line_error(code, err, "--input-shape input_ids=1x128")
    # the data's sequence length reaches every input (attention_mask shares the 'sequence' dim)
    data = tmp_path / "bert48.npz"
    np.savez(data, x=np.random.default_rng(0).integers(0, corpus.VOCAB, (8, 48)).astype("int64"))
    ctx = open_context(bert, data=str(data), workspace=tmp_path / "ws1")
    assert [s.shape for s in ctx.model_info().inputs] == [("batch", 48), ("batch", 48)]
    runner = OnnxRunner(bert, threads=1)
    feeds = example_feeds(runner.inputs, batch=3, data=ctx.x[:3])
    assert feeds["attention_mask"].shape == (3, 48) and np.all(feeds["attention_mask"] == 1)
    ids = example_feeds([s for s in runner.inputs], batch=4)["input_ids"]
    assert runner.inputs[0].vocab == corpus.VOCAB and ids.max() < corpus.VOCAB
    # quantization at the given shape; ORT's temp files stay out of the working directory
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    for mode in ("int8-dynamic", "int8-static", "int4"):
        code, payload, err = _optimize(capsys, bert, tmp_path / "ws2", "-q", mode, "--input-shape", "input_ids=1x32")
        assert code == 0 and payload["status"] == "ok", (mode, err)
    assert list(scratch.iterdir()) == []


@pytest.mark.slow
def test_gpt2_decoder(tmp_path, capsys):
    gpt2 = corpus.gpt2_onnx(tmp_path)
    ws = tmp_path / "ws"
    for mode in ("int8-dynamic", "int4"):
        code, payload, err = _optimize(capsys, gpt2, ws, "-q", mode, "--input-shape", "input_ids=1x16")
        assert code == 0 and payload["status"] == "ok", (mode, err)
    code, out, err = _run(capsys, ["build", str(gpt2), "--backend", "ort", "--workspace", str(ws),
                                   "--input-shape", "input_ids=1x16", "--json", *FAST])
    assert code == 0, err


# ------------------------------------------------------------------------------------------ legacy ONNX


def test_legacy_ir3_onnx(tmp_path, capsys, monkeypatch):
    path = corpus.legacy_onnx(tmp_path)
    code, out, _ = _run(capsys, ["inspect", str(path), "--json"])
    info = json.loads(out)
    assert [i["name"] for i in info["inputs"]] == ["x"]
    assert info["param_count"] == 8 * 27 + 8 + 10 + 80  # the 10x8 ConstantOfShape weight counted
    assert any("computed at run time" in n for n in info["notes"])
    assert any("also listed as graph inputs" in n for n in info["notes"])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    ws = tmp_path / "ws"
    for extra in (["-q", "int8-static"], ["-q", "int8-dynamic"], ["-q", "fp16"],
                  ["--prune", "0.3", "--prune-mode", "unstructured"]):
        code, payload, err = _optimize(capsys, path, ws, *extra)
        assert code == 0 and payload["status"] == "ok", (extra, payload, err)
    code, _, err = _run(capsys, ["build", str(path), "--backend", "ort", "--workspace", str(ws), "--json", *FAST])
    assert code == 0, err
    assert list(scratch.iterdir()) == []


def test_fix_legacy_inputs(tmp_path):
    import onnx

    from engines.optimize.quantize_ort import fix_legacy_inputs

    path = corpus.legacy_onnx(tmp_path)
    fixed, notes = fix_legacy_inputs(path, tmp_path)
    model = onnx.load(str(fixed))
    assert [i.name for i in model.graph.input] == ["x"] and model.ir_version >= 4
    assert any(o.version >= 13 for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert any("graph inputs" in n for n in notes)


# ------------------------------------------------------------------------------------------ Keras / TF


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return corpus.keras_mobilenet(tmp_path_factory.mktemp("keras"))


def test_keras_ort_mode_without_converter_refused_before_work(mobilenet, tmp_path, capsys, monkeypatch):
    from engines.models import export_keras

    monkeypatch.setattr(export_keras, "keras_onnx_status", lambda: (False, "tf2onnx is not installed"))
    ws = tmp_path / "ws"
    code, _, err = _optimize(capsys, mobilenet, ws, "-q", "int8-static")
    _one_line_error(code, err, "int8-static is an ONNX Runtime mode and this model is keras")
    assert not (ws / "variants").exists() or not any((ws / "variants").iterdir())  # no baseline was built
    code, _, err = _optimize(capsys, mobilenet, ws, "--prune", "0.3")
    _one_line_error(code, err, "pruning works on PyTorch and ONNX models")


@pytest.mark.slow
def test_keras_through_tflite_and_onnx(mobilenet, tmp_path, capsys):
    pytest.importorskip("tf2onnx", reason="tf2onnx is not installed")
    ws = tmp_path / "ws"
    for mode in ("tflite-dynamic", "int8-dynamic"):
        code, payload, err = _optimize(capsys, mobilenet, ws, "-q", mode)
        assert code == 0 and payload["status"] == "ok", (mode, err)
    code, out, err = _run(capsys, ["build", str(mobilenet), "--backend", "ort", "--workspace", str(ws), "--json",
                                   *FAST])
    assert code == 0, err
    assert json.loads(out)["fidelity"]["cosine"] > 0.999


@pytest.mark.slow
def test_savedmodel_with_resource_variables_is_failed(tmp_path, capsys):
    path = corpus.savedmodel_with_resource_variables(tmp_path)
    code, _, err = _optimize(capsys, path, tmp_path / "ws", "-q", "tflite-dynamic")
    _one_line_error(code, err, "VAR_HANDLE")


@pytest.mark.slow
def test_savedmodel_to_onnx_with_tf2onnx(tmp_path):
    pytest.importorskip("tf2onnx", reason="tf2onnx is not installed")
    from engines.models.export_keras import keras_to_onnx

    path = corpus.savedmodel_with_resource_variables(tmp_path)  # TFLite cannot freeze it; tf2onnx can
    done = keras_to_onnx(path, tmp_path / "sm.onnx")
    assert done["max_abs_err"] < 1e-4 and (tmp_path / "sm.onnx").is_file()


def test_symbolic_shape_inference_temp_files_stay_out_of_cwd(tmp_path, capsys, monkeypatch):
    """ORT writes sym_shape_infer_temp.onnx (+ <uuid>.data) into the cwd when its inference is incomplete."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    def incomplete(in_mp, *args, **kwargs):  # what the library does on its fallback path
        import onnx

        onnx.save_model(in_mp, "sym_shape_infer_temp.onnx", save_as_external_data=True)
        raise Exception("Incomplete symbolic shape inference")

    monkeypatch.setattr(SymbolicShapeInference, "infer_shapes", staticmethod(incomplete))
    path = corpus.legacy_onnx(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    code, payload, err = _optimize(capsys, path, tmp_path / "ws", "-q", "int8-static")
    assert code == 0 and payload["status"] == "ok", err
    assert list(scratch.iterdir()) == []


def test_evaluation_feeds_masks_at_the_data_length(bert, tmp_path):
    from engines.measure import evaluate
    from engines.measure.runners import OnnxRunner

    runner = OnnxRunner(bert, threads=1)
    seen = []
    real_run = runner.run
    runner.run = lambda feeds: seen.append({k: v.shape for k, v in feeds.items()}) or real_run(feeds)
    x = np.random.default_rng(0).integers(0, corpus.VOCAB, (5, 40)).astype("int64")
    evaluate.predict(runner, x, batch_size=4)
    assert seen and all(s["attention_mask"] == s["input_ids"] for s in seen)  # not [batch, 1]
