"""Auto-tune with tiny budgets: order, recommendation rule, budget, resume, cancel, no labels."""

from __future__ import annotations

import json
import threading

import pytest

from engines.errors import Cancelled
from engines.optimize.pipeline import open_context
from engines.optimize.context import MeasureOptions
from engines.optimize.tune import FAST_INT8, candidates, recommend, tune
from engines.workspace import Variant
from tests.unit.optimize_helpers import labelled_data, tiny_cnn_onnx

FAST = MeasureOptions(iterations=20, budget_s=0.2, warmup=2, throughput_batch=8)


@pytest.fixture
def ctx(tmp_path):
    path = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    data = labelled_data(path, tmp_path / "tiny_data.npz", n=64)
    return open_context(path, data=data, workspace=tmp_path / "ws", measure=FAST)


def _v(vid, acc, p50, size=100, status="ok"):
    return Variant(id=vid, name=vid, kind="quantized", format="onnx", file="m.onnx", recipe={}, status=status,
                   metrics={"accuracy": acc, "latency_ms": {"p50": p50}, "size_bytes": size})


def test_recommend_picks_fastest_within_drop_and_baseline_always_qualifies():
    base = _v("base", 0.95, 10.0)
    fast_bad = _v("fast_bad", 0.90, 2.0)      # 5 points lost
    fast_ok = _v("fast_ok", 0.945, 4.0)       # 0.5 point lost
    slow_ok = _v("slow_ok", 0.95, 12.0)
    failed = _v("failed", None, None, status="failed")
    best, qualifying = recommend([base, fast_bad, fast_ok, slow_ok, failed], base, "accuracy", 1.0)
    assert best.id == "fast_ok" and {v.id for v in qualifying} == {"base", "fast_ok", "slow_ok"}
    best, qualifying = recommend([base, fast_bad], base, "accuracy", 1.0)
    assert best.id == "base" and [v.id for v in qualifying] == ["base"]


def test_fast_u8s8_per_channel_recipe_is_tried_first(ctx):
    todo = candidates(ctx)
    assert todo[0] == FAST_INT8
    assert (todo[0].activation_type, todo[0].weight_type, todo[0].per_channel, todo[0].quant_format) == \
        ("u8", "s8", True, "qdq")
    labels = [r.label() for r in todo]
    assert "int8 static qdq s8/s8 pc minmax" in labels and "int8 dynamic s8 pc" in labels


def test_tune_returns_front_and_recommendation_then_resumes(ctx):
    seen = []
    res = tune(ctx, max_drop=1.0, budget_s=120, task=_progress(seen))
    assert res.recommended.status == "ok" and res.recommended in res.qualifying
    assert res.front and all(v.status == "ok" for v in res.front)
    assert res.quality_key == "accuracy" and len(res.tried) >= 6
    assert any(v.name == FAST_INT8.label() and v.status == "ok" for v in res.tried)
    assert any(m.startswith("[1/") for m in seen)
    before = {v.id for v in ctx.workspace.variants()}
    again = tune(ctx, max_drop=1.0, budget_s=120)
    assert {v.id for v in ctx.workspace.variants()} == before    # every recipe came from the workspace
    assert {v.id for v in again.tried} == {v.id for v in res.tried}


def test_tiny_budget_still_recommends_something(ctx):
    res = tune(ctx, max_drop=1.0, budget_s=0.001)
    assert res.recommended.id == res.baseline.id
    assert res.skipped and any("budget" in n for n in res.notes)


def test_cancel_stops_the_search(ctx):
    ev = threading.Event()
    task = _progress([], cancel_after="[2/", event=ev)
    with pytest.raises(Cancelled):
        tune(ctx, budget_s=120, task=task)
    names = {v.name for v in ctx.workspace.variants()}
    assert FAST_INT8.label() in names and len(names) <= 3      # resumable: what finished is kept


def test_no_labels_checks_fidelity_and_says_so(tmp_path):
    path = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    data = labelled_data(path, tmp_path / "d.npz", n=48, labels=False)
    c = open_context(path, data=data, workspace=tmp_path / "ws", measure=FAST)
    res = tune(c, budget_s=0.001)
    assert res.quality_key == "fidelity" and any("fidelity" in n for n in res.notes)


def test_cli_tune_json(tmp_path, capsys):
    from workbench.cli import main

    path = tiny_cnn_onnx(tmp_path / "tiny.onnx")
    data = labelled_data(path, tmp_path / "d.npz", n=48)
    rc = main(["tune", str(path), "--data", str(data), "--workspace", str(tmp_path / "ws"), "--budget", "5",
               "--max-drop", "1", "--iterations", "20", "--seconds", "0.2", "--json", "--report",
               str(tmp_path / "tune.json")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["recommended"]["status"] == "ok" and out["quality_key"] == "accuracy"
    report = json.loads((tmp_path / "tune.json").read_text())
    assert report["recommended"] == out["recommended"]["id"]
    assert "AWS" not in json.dumps(report) and "HOME" not in json.dumps(report)


def _progress(seen, cancel_after=None, event=None):
    from engines.tasks import TaskContext

    event = event or threading.Event()

    def on(ev):
        seen.append(ev.message)
        if cancel_after and ev.message.startswith(cancel_after):
            event.set()

    return TaskContext(on, cancel_event=event)


def test_near_ties_go_to_the_more_faithful_variant():
    from engines.optimize.tune import pick_fastest

    pc = _v("per_channel", 0.95, 0)
    pc.metrics["fidelity"] = {"top1_agreement": 1.0, "cosine": 0.99985}
    pt = _v("per_tensor", 0.95, 0, size=90)
    pt.metrics["fidelity"] = {"top1_agreement": 1.0, "cosine": 0.99979}
    slow = _v("slow", 0.96, 0)
    p50 = {"per_channel": 10.2, "per_tensor": 10.0, "slow": 12.0}
    assert pick_fastest([pc, pt, slow], p50, "accuracy").id == "per_channel"   # 2% apart: a tie
    p50["per_tensor"] = 9.0
    assert pick_fastest([pc, pt, slow], p50, "accuracy").id == "per_tensor"    # 12% apart: really faster


def test_every_contender_joins_the_race_not_a_noisy_top_three():
    from types import SimpleNamespace

    from engines.optimize.tune import contenders

    def v(vid, speedup):
        return SimpleNamespace(id=vid, metrics={"paired": {"speedup": {"value": speedup}}, "size_bytes": 1})

    base = SimpleNamespace(id="base", metrics={"latency_ms": {"p50": 1.0}})
    pool = [base, v("minmax", 2.6), v("percentile", 2.4), v("entropy", 2.5), v("qop", 2.55), v("pt", 2.2),
            v("fp16", 1.0), v("dynamic", 0.9)]
    got = [x.id for x in contenders(pool, base)]
    # all five INT8 recipes within 80 % of the best go to the race (a top three would drop two at random)
    assert got == ["minmax", "qop", "entropy", "percentile", "pt"]
    assert contenders([base], base) == []
