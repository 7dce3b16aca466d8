"""Sparse kernels (issue 17): what each kernel can take, dense fallbacks said, results equal to dense,
the crossover rule, the model report and the CLI. Small shapes, a couple of rounds, no speed assertions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines.errors import WorkbenchError
from engines.measure.sparse import (KernelFigure, LayerShape, SparsityPoint, bsr_block, crossover_of,
                                    kernel_call, measure_crossover, parse_layer, parse_sparsities, plan_kernel,
                                    prune_magnitude)
from tests.unit.optimize_helpers import tiny_cnn_onnx
from workbench.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")   # torch: "sparse CSR support is in beta"


def _one_line_error(capsys, argv, needle):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("workbench: error: ") and needle in lines[0]


# -- what a kernel can take ----------------------------------------------------------------------
def test_csr_takes_a_linear_weight():
    plan = plan_kernel("csr", "fc", (3072, 768))
    assert plan.runs == "csr" and plan.fallback is None


@pytest.mark.parametrize("kernel", ["csr", "bsr"])
def test_a_conv_layer_falls_back_to_dense_and_says_why(kernel):
    plan = plan_kernel(kernel, "conv1", (64, 3, 7, 7), op="Conv")
    assert plan.runs == "dense"
    assert "conv1" in plan.fallback and "Conv" in plan.fallback and "kept dense" in plan.fallback
    assert plan.reason and plan.reason in plan.fallback


def test_weights_a_kernel_cannot_take_fall_back_to_dense():
    assert "3-D" in plan_kernel("csr", "w", (4, 4, 4)).fallback
    assert "float16" in plan_kernel("csr", "w", (8, 8), dtype="float16").fallback
    odd = plan_kernel("bsr", "fc", (10, 192))          # 10 rows: no 16/8/4 block divides it
    assert odd.runs == "dense" and "block" in odd.fallback
    assert bsr_block((1000, 2048)) == 8 and bsr_block((3072, 768)) == 16 and bsr_block((10, 192)) is None


def test_cuda_and_amx_only_kernels_fall_back_on_this_cpu_and_say_so():
    semi = plan_kernel("semi-structured", "fc", (64, 64))      # device cpu: never taken
    assert semi.runs == "dense" and "CUDA" in semi.fallback
    ov = plan_kernel("openvino-sparse", "fc", (64, 64))
    assert ov.runs == "dense" and ov.fallback and "kept dense" in ov.fallback


def test_unknown_kernel_is_refused():
    with pytest.raises(WorkbenchError, match="unknown sparse kernel"):
        plan_kernel("magic", "fc", (8, 8))


# -- the kernels compute what dense computes ------------------------------------------------------
@pytest.mark.parametrize("kernel", ["csr", "bsr"])
def test_sparse_kernels_match_dense(kernel):
    import torch

    rng = np.random.default_rng(1)
    w = prune_magnitude(rng.standard_normal((32, 48)).astype(np.float32), 0.9)
    x = torch.from_numpy(rng.standard_normal((3, 48)).astype(np.float32))
    dense, _ = kernel_call("dense", w, x)
    call, stored = kernel_call(kernel, w, x)
    np.testing.assert_allclose(call().t().numpy(), dense().numpy(), atol=1e-5)
    if kernel == "csr":
        assert stored == pytest.approx(0.1, abs=0.01)
    else:
        assert 0.0 < stored <= 1.0


def test_prune_magnitude_zeroes_the_fraction_asked():
    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10)
    p = prune_magnitude(w, 0.8)
    assert np.count_nonzero(p) == 20 and p.max() == 100 and p[p > 0].min() == 81


# -- the crossover rule ----------------------------------------------------------------------------
def _point(s, low):
    return SparsityPoint(s, 1.0, [KernelFigure("csr", 1.0, {"value": low + 0.1, "interval": [low, low + 0.2]},
                                               1 - s, 0.0)])


def test_crossover_is_the_lowest_sparsity_from_which_the_kernel_always_wins():
    assert crossover_of([_point(0.5, 0.3), _point(0.8, 0.9), _point(0.9, 1.2), _point(0.95, 2.0)], "csr") == 0.9
    # a win below a loss is not a crossover
    assert crossover_of([_point(0.5, 1.1), _point(0.8, 0.5), _point(0.9, 1.3)], "csr") == 0.9
    assert crossover_of([_point(0.5, 0.3), _point(0.95, 0.95)], "csr") is None


def test_measure_crossover_structure_and_fallbacks_said():
    r = measure_crossover(LayerShape("t", 32, 16), sparsities=(0.5, 0.9), kernels=("csr", "bsr", "semi-structured"),
                          rounds=2, iterations=2, threads=1)
    assert [p.sparsity for p in r.points] == [0.5, 0.9]
    assert [p.actual_sparsity for p in r.points] == pytest.approx([0.5, 0.9], abs=1e-3)
    assert all([f.kernel for f in p.kernels] == ["csr", "bsr"] for p in r.points)
    assert set(r.crossover) == {"csr", "bsr"}
    assert any("semi-structured cannot take t" in n for n in r.notes)
    assert all(f.max_abs_error < 1e-4 and f.speedup["rounds"] >= 2 for p in r.points for f in p.kernels)
    assert r.measured.get("machine") and r.verdict()
    json.dumps(r.to_dict())


def test_bad_layer_and_sparsity_inputs():
    assert parse_layer("bert-base-ffn-up").out_features == 3072
    assert parse_layer("768x3072") == LayerShape("768x3072", 768, 3072)
    for bad in ("abc", "0x10", "768x"):
        with pytest.raises(WorkbenchError):
            parse_layer(bad)
    assert parse_sparsities("50,80,90,95") == (0.5, 0.8, 0.9, 0.95)
    for bad in ("120", "x", "-5", ""):
        if bad:
            with pytest.raises(WorkbenchError):
                parse_sparsities(bad)
    with pytest.raises(WorkbenchError, match="batch"):
        measure_crossover(LayerShape("t", 8, 8), batch=0)


# -- a model's own layers --------------------------------------------------------------------------
def _conv_only_onnx(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "c",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def test_model_layers_read_linear_weights_and_keep_convs_dense(tmp_path):
    from engines.measure.sparse_model import model_layers, model_sparse_report

    path = tiny_cnn_onnx(tmp_path / "cnn.onnx")
    layers = model_layers(path)
    assert [lay.op for lay in layers] == ["Conv", "Conv", "Gemm"]
    gemm = layers[-1]
    assert gemm.linear and gemm.shape == (10, 1024) and gemm.weight.shape == (10, 1024)
    rep = model_sparse_report(path, sparsities=(0.9,), kernels=("csr",), rounds=1, iterations=1, threads=1)
    assert len(rep.results) == 1 and rep.results[0].weights == "cnn.onnx"
    assert {f.layer for f in rep.fallbacks} == {"w1", "w2"} and all(f.runs == "dense" for f in rep.fallbacks)


def test_a_model_without_linear_layers_says_every_layer_stays_dense(tmp_path):
    from engines.measure.sparse_model import model_sparse_report

    rep = model_sparse_report(_conv_only_onnx(tmp_path / "c.onnx"), kernels=("csr",), rounds=1, iterations=1)
    assert rep.results == [] and "stays dense" in rep.notes[0] and "size" in rep.notes[0]
    assert rep.fallbacks and "Conv" in rep.fallbacks[0].fallback


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_json_on_a_layer_shape(capsys):
    assert main(["sparse", "--layer", "32x16", "--sparsities", "50,90", "--rounds", "1", "--iterations", "1",
                 "--threads", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    r = data["results"][0]
    assert r["in_features"] == 32 and r["out_features"] == 16 and len(r["points"]) == 2
    assert {"csr", "bsr"} == set(r["crossover"])


def test_cli_on_a_conv_model_says_the_dense_fallback(capsys, tmp_path):
    assert main(["sparse", str(_conv_only_onnx(tmp_path / "c.onnx")), "--rounds", "1", "--iterations", "1"]) == 0
    out = capsys.readouterr().out
    assert "stay dense for csr" in out and "Conv" in out and "buys only size" in out


@pytest.mark.parametrize("argv,needle", [
    (["--threads", "0"], "--threads 0"),
    (["--threads", "999"], "--threads 999"),
    (["--kernels", "magic"], "--kernels"),
    (["--layer", "abc"], "--layer"),
    (["--sparsities", "120"], "--sparsities"),
    (["--batch", "0"], "must be >= 1"),
])
def test_cli_bad_inputs_are_one_line_errors(capsys, argv, needle):
    _one_line_error(capsys, ["sparse", *argv], needle)


def test_cli_missing_model_is_one_line(capsys, tmp_path):
    _one_line_error(capsys, ["sparse", str(tmp_path / "nope.onnx")], "no such file")


def test_torch_model_layers(tmp_path):
    import torch

    from engines.measure.sparse_model import model_layers
    from tests.unit.model_factories import tiny_torch_module

    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.trace(tiny_torch_module(), torch.zeros(1, 1, 8, 8)), str(path))
    layers = model_layers(path)
    ops = {lay.op for lay in layers}
    assert "Conv" in ops and any(lay.linear and lay.shape == (10, 256) for lay in layers)
    assert all(lay.weight is None for lay in layers if lay.op == "Conv")
