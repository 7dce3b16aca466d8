"""Paired timing, intervals, load check, provenance/staleness, threads, degenerate outputs, graph causes,
bad data: the parts of issue 10 that can be checked without depending on machine speed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engines.errors import DataError, WorkbenchError
from engines.measure import paired
from engines.measure.paired import LoadCheck, Ratio, is_stale, provenance, ratio_interval, stale_reason, time_paired
from engines.optimize.context import MeasureOptions
from engines.optimize.pipeline import apply_recipe, ensure_baseline, open_context, retime
from engines.optimize.recipes import Recipe
from tests.unit.optimize_helpers import digits_x, labelled_data, tiny_cnn_onnx

FAST = MeasureOptions(iterations=12, budget_s=0.1, warmup=1, throughput_batch=4)


def _onnx(path, *, weight_scale=1.0, nan=False, sigmoid=False):
    """[N,1,8,8] -> Flatten -> Gemm -> [N,10]; zero weights give constant outputs, nan=True 0/0 outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 10)) * 0.1 * weight_scale).astype(np.float32)
    b = np.arange(10, dtype=np.float32) * 0.01
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    nodes = [helper.make_node("Flatten", ["input"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w", "b"], ["g" if (nan or sigmoid) else "output"])]
    if nan:
        nodes += [helper.make_node("Mul", ["g", "zero"], ["z"]), helper.make_node("Div", ["z", "zero"], ["output"])]
    if sigmoid:
        nodes += [helper.make_node("Sigmoid", ["g"], ["s"]), helper.make_node("Mul", ["g", "s"], ["output"])]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# -- ratios and intervals --------------------------------------------------
def test_ratio_interval_is_the_median_with_a_bootstrap_interval():
    r = ratio_interval([2.0, 2.1, 1.9, 2.05, 1.95, 2.0, 2.02])
    assert r.value == pytest.approx(2.0) and r.low <= 2.0 <= r.high and r.low > 1.0 and not r.within_noise
    noisy = ratio_interval([0.8, 1.3, 0.9, 1.2, 1.05, 0.95, 1.1])
    assert noisy.within_noise and noisy.low < 1.0 < noisy.high
    assert ratio_interval([1.5, 1.6, 1.55, 1.52, 1.58]).separated_from(noisy)
    assert Ratio.from_dict(r.to_dict()).value == pytest.approx(r.value, abs=1e-4)


def test_paired_rounds_interleave_and_a_busy_machine_gets_more_rounds():
    order: list[str] = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    quiet = LoadCheck(load1=0.0, cores=2, steal_pct=0.0)
    t = time_paired(calls, "a", rounds=4, iterations=2, warmup=0, load=quiet)
    assert t.rounds == 4 and len(t.round_ms["a"]) == len(t.round_ms["b"]) == 4
    assert set(t.ratios) == {"b"} and t.ratios["b"].rounds == 4
    timed = order[2:]   # after one warm-up call each: rounds rotate the order (a b, b a, ...)
    assert timed[:3] == ["a", "a", "a"] and "b" in timed[3:7]
    busy = LoadCheck(load1=9.0, cores=2, steal_pct=0.0, busy=True, message="the machine is busy")
    calls2 = {"a": lambda: None, "b": lambda: None}
    t2 = time_paired(calls2, "a", rounds=4, iterations=1, warmup=0, load=busy)
    assert t2.rounds == 8 and t2.load.busy and t2.record("b")["load_warning"] == "the machine is busy"
    assert t2.measured["threads"] is None and t2.measured["machine"] == paired.machine_id()


def test_load_check_reports_load_steal_and_busy_processes():
    c = paired.check_load(sample_s=0.05)
    assert c.cores == paired.available_cores() and c.load1 >= 0 and 0 <= c.steal_pct <= 100
    assert c.busy == bool(c.message)


def test_default_threads_are_the_cores_available_not_two(monkeypatch):
    from engines.measure.runners import default_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(48)), raising=False)
    assert default_threads() == 48


# -- where and when ----------------------------------------------------------
def test_figures_from_another_machine_or_long_ago_are_stale():
    here = provenance(4, "cpu")
    assert not is_stale({"measured": here}) and here["threads"] == 4 and here["cpu"]
    other = dict(here, machine="0123456789ab", cpu="Other CPU")
    assert is_stale({"measured": other}) and "another machine (Other CPU" in stale_reason({"measured": other})
    old = dict(here, at=here["at"] - 90 * 86400)
    assert is_stale({"measured": old}) and "days ago" in stale_reason(old)
    assert is_stale({}) and is_stale({"paired": {"measured": other}})


# -- the pipeline ---------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path):
    path = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    return path, labelled_data(path, tmp_path / "tiny_data.npz")


def test_variant_speedup_is_paired_with_an_interval_and_retime_repairs_it(tiny, tmp_path):
    from engines.optimize.report import variant_row

    path, data = tiny
    ctx = open_context(path, data=data, workspace=tmp_path / "ws", measure=FAST)
    res = apply_recipe(ctx, Recipe(quant="int8-dynamic"))
    m = res.variant.metrics
    rec = m["paired"]
    assert rec["reference"] == res.baseline.id and rec["speedup"]["rounds"] >= paired.DEFAULT_ROUNDS
    lo, hi = rec["speedup"]["interval"]
    assert lo <= rec["speedup"]["value"] <= hi and m["measured"]["threads"] == ctx.threads == m["threads"]
    row = variant_row(res.variant, res.baseline, "accuracy", None, ctx.workspace)
    assert row["speedup"] == pytest.approx(rec["speedup"]["value"]) and row["speedup_interval"] == [lo, hi]
    assert row["paired"] and row["within_noise"] == (lo <= 1.0 <= hi) and row["stale"] is None
    # figures from another machine: stale, flagged, and re-timed against the baseline in one run
    other = dict(m["measured"], machine="elsewhere", cpu="Other CPU")
    ctx.workspace.update_metrics(res.variant.id, measured=other)
    row = variant_row(ctx.workspace.get(res.variant.id), res.baseline, "accuracy", None, ctx.workspace)
    assert row["stale"] and any("re-time" in n for n in row["notes"])
    done = retime(ctx, stale_only=True)
    assert [v.id for v in done] == [res.variant.id]
    fresh = ctx.workspace.get(res.variant.id)
    assert not is_stale(fresh.metrics) and fresh.metrics["paired"]["reference"] == res.baseline.id


def test_variants_retime_from_the_cli(tiny, tmp_path, capsys):
    from workbench.cli import main

    path, data = tiny
    ws = tmp_path / "ws"
    ctx = open_context(path, data=data, workspace=ws, measure=FAST)
    v = apply_recipe(ctx, Recipe(quant="int8-dynamic")).variant
    rc = main(["variants", "retime", str(path), v.id[:8], "--workspace", str(ws), "--data", str(data),
               "--iterations", "8", "--seconds", "0.1", "--json"])
    out = json.loads(capsys.readouterr().out)
    row = next(r for r in out["variants"] if r["id"] == v.id)
    assert rc == 0 and row["paired"] and row["speedup_interval"] and row["measured_at"]
    assert main(["variants", str(path), "extra", "--workspace", str(ws)]) == 2


def test_nan_outputs_fail_the_baseline_with_the_count(tmp_path):
    path = _onnx(tmp_path / "nan.onnx", nan=True)
    ctx = open_context(path, data=(digits_x(16), None), workspace=tmp_path / "ws", measure=FAST)
    with pytest.raises(WorkbenchError, match=r"160 NaN/Inf values in the outputs of the baseline"):
        ensure_baseline(ctx)


def test_nan_outputs_fail_a_variant_with_the_count(tmp_path, monkeypatch):
    import shutil

    import engines.optimize.quantize_ort as q

    path = _onnx(tmp_path / "ok.onnx")
    bad = _onnx(tmp_path / "nan.onnx", nan=True)
    monkeypatch.setattr(q, "quantize_onnx", lambda src, dst, recipe, **kw: shutil.copyfile(bad, dst) and {})
    ctx = open_context(path, data=(digits_x(16), None), workspace=tmp_path / "ws", measure=FAST)
    res = apply_recipe(ctx, Recipe(quant="int8-dynamic"))
    assert res.variant.status == "failed" and "160 NaN/Inf values" in res.variant.error


def test_constant_baseline_outputs_warn_that_agreement_is_meaningless(tmp_path):
    path = _onnx(tmp_path / "const.onnx", weight_scale=0.0)
    ctx = open_context(path, data=(digits_x(16), None), workspace=tmp_path / "ws", measure=FAST)
    res = apply_recipe(ctx, Recipe())
    assert any("meaningless" in n for n in res.notes)
    assert "meaningless" in res.baseline.metrics["degenerate"]


def test_one_class_for_every_input_is_flagged():
    from engines.measure.evaluate import degenerate_warning

    x = np.random.default_rng(0).standard_normal((20, 5))
    assert degenerate_warning(x) is None
    x[:, 3] += 100.0
    assert "class 3 for all 20" in degenerate_warning(x)


# -- causes ------------------------------------------------------------------
def test_slowdown_causes_come_from_the_graph(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from engines.measure.causes import onnx_facts, slowdown_causes
    from engines.measure.cpu_features import parse_cpuinfo

    # x -> Q -> DQ -> Conv -> Q -> DQ -> Sigmoid -> Mul (SiLU left in float) -> out
    inits = [numpy_helper.from_array(np.float32(0.1), "s"), numpy_helper.from_array(np.uint8(0), "zp"),
             numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
             helper.make_node("Conv", ["xd", "w"], ["c"]),
             helper.make_node("QuantizeLinear", ["c", "s", "zp"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "s", "zp"], ["cd"]),
             helper.make_node("Sigmoid", ["cd"], ["sg"]), helper.make_node("Mul", ["cd", "sg"], ["out"])]
    g = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, 4, 4])], inits)
    dst = tmp_path / "q.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(dst))
    facts = onnx_facts(dst)
    assert facts.qdq_nodes == 4 and facts.float_between_qdq == {"Sigmoid": 1, "Mul": 1}
    vnni = parse_cpuinfo("processor : 0\nmodel name : X\nflags : avx2 avx512_vnni\n", arch="x86_64")
    notes = " ".join(slowdown_causes("int8-static", facts, recipe={"quant": "int8-static"}, cpu=vnni))
    assert "left in float" in notes and "Sigmoid" in notes and "too small for INT8" not in notes
    int4 = " ".join(slowdown_causes("int4", facts, cpu=vnni))
    assert "INT4" in int4 and "INT8" not in int4
    assert slowdown_causes("tflite-int8", None, cpu=parse_cpuinfo("processor : 0\nflags : avx2\n", arch="x86_64"))


# -- the tuner ----------------------------------------------------------------
def _variant(vid, kind="quantized", quant="int8-static", agree=0.99, **recipe):
    from engines.workspace import Variant

    return Variant(id=vid, name=vid, kind=kind, format="onnx", file="m.onnx",
                   recipe={"quant": quant, "prune_mode": "none", **recipe},
                   metrics={"fidelity": {"top1_agreement": agree, "cosine": agree}, "size_bytes": 100})


class _Timing:
    def __init__(self, rounds):
        self.round_ms = rounds
        self.latency_ms = {k: {"p50": float(np.median(v))} for k, v in rounds.items()}


def test_tuner_picks_the_fastest_only_when_intervals_separate():
    from engines.optimize.tune import pick_separated

    base = _variant("base", kind="baseline", quant="none", agree=1.0)
    fast = _variant("fast", agree=0.98, calibration="entropy")
    faithful = _variant("faithful", agree=0.995)
    rng = np.random.default_rng(0)
    noise = lambda m: list(m * (1 + 0.01 * rng.standard_normal(9)))   # noqa: E731
    clear = _Timing({"base": noise(10.0), "fast": noise(5.0), "faithful": noise(8.0)})
    choice, tied, note = pick_separated([base, fast, faithful], clear, "fidelity")
    assert choice.id == "fast" and [v.id for v in tied] == ["fast"] and note is None
    close = _Timing({"base": noise(10.0), "fast": list(np.array(noise(7.9)) * [1, 1.2, 0.8, 1, 1.2, 0.8, 1, 1.1, 0.9]),
                     "faithful": noise(8.0)})
    choice, tied, note = pick_separated([base, fast, faithful], close, "fidelity")
    assert choice.id == "faithful" and "more faithful, simpler" in note


# -- bad data ------------------------------------------------------------------
def test_data_with_nan_is_refused_naming_the_array(tiny, tmp_path):
    path, _ = tiny
    x = digits_x(8)
    x[2, 0, 1, 1] = np.nan
    np.savez(tmp_path / "bad.npz", x=x)
    with pytest.raises(DataError, match=r"bad.npz: x holds 1 NaN or infinite value"):
        open_context(path, data=tmp_path / "bad.npz", workspace=tmp_path / "ws")


def test_data_contradicting_static_dims_is_refused(tiny, tmp_path):
    path, _ = tiny
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 1, 9, 8), np.float32))
    with pytest.raises(DataError, match=r"axis 2: 9 vs 8"):
        open_context(path, data=tmp_path / "bad.npz", workspace=tmp_path / "ws")


def test_labels_outside_the_models_classes_are_refused_before_any_work(tiny, tmp_path):
    path, _ = tiny
    np.savez(tmp_path / "bad.npz", x=digits_x(8), y=np.array([0, 1, 2, 3, 4, 5, 6, 12]))
    with pytest.raises(DataError, match=r"labels y range from 0 to 12 but the model's classes are 0..9"):
        open_context(path, data=tmp_path / "bad.npz", workspace=tmp_path / "ws")
    assert not (tmp_path / "ws" / "variants").exists()


def test_tflite_conversion_is_compared_with_the_keras_source_run_in_tensorflow(tmp_path):
    pytest.importorskip("tensorflow")
    import keras

    from engines.optimize import stages

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inp)))
    src = tmp_path / "tiny.keras"
    keras.Model(inp, out).save(src)
    x = digits_x(16).transpose(0, 2, 3, 1)
    ctx = open_context(src, data=(x, None), workspace=tmp_path / "ws", measure=FAST)
    base = ensure_baseline(ctx)
    expect = keras.models.load_model(src)(x).numpy()
    np.testing.assert_allclose(ctx._reference, expect, rtol=1e-5, atol=1e-5)   # the original, not the .tflite
    fid = base.metrics["fidelity"]
    assert fid["nan_inf"] == 0 and fid["cosine"] > 0.999 and fid["max_abs_err"] > 0.0   # a real comparison
    assert stages.original_outputs(ctx).shape == (16, 10)


def test_engine_from_a_variant_is_compared_with_the_original_and_its_parent(tiny, tmp_path):
    from engines.build.builder import BuildOptions, build_engine, describe

    path, data = tiny
    ctx = open_context(path, data=data, workspace=tmp_path / "ws", measure=FAST)
    v = apply_recipe(ctx, Recipe(quant="int8-static", calib_samples=16)).variant
    eng = build_engine(ctx.workspace, v, "ort", "int8", data=(ctx.x, ctx.y),
                       options=BuildOptions(bench_iterations=14, bench_budget_s=0.2, timeout_s=120))
    card = describe(eng)
    assert card["fidelity_reference"] == "baseline" and card["fidelity_vs_parent"]["top1_agreement"] is not None
    assert eng.metrics["paired"]["reference"] == v.id and card["speedup_interval"] and card["measured"]["threads"]
