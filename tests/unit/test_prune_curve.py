"""The pruning curve: picking the largest amount within the budget, a real sweep with recovery and
side-by-side timing, the CLI's JSON, the refusal past 95 %, and the tuner's hook."""

from __future__ import annotations

import json

import pytest
import torch

from engines.errors import WorkbenchError
from engines.optimize.context import open_context
from engines.optimize.prune_curve import CurvePoint, check_amounts, parse_amounts, pick_amount, prune_curve
from tests.unit.depth_fixtures import FAST, digits_files
from tests.unit.depth_fixtures import one_torch_thread  # noqa: E402,F401  (autouse)

pytest.importorskip("torch_pruning")



def _p(amount, drop, status="ok"):
    return CurvePoint(amount=amount, variant_id=str(amount), status=status, drop_points=drop)


def test_pick_amount_is_the_largest_within_the_budget():
    pts = [_p(0.0, 0.0), _p(0.3, 0.2), _p(0.5, 0.9), _p(0.7, 2.5), _p(0.9, 12.0)]
    assert pick_amount(pts, 1.0) == 0.5
    assert pick_amount(pts, 3.0) == 0.7
    assert pick_amount(pts, 0.1) is None                      # the baseline alone is not an amount
    assert pick_amount([_p(0.3, 0.1), _p(0.6, 0.5, status="failed")], 1.0) == 0.3


def test_amounts_are_checked_and_parsed():
    assert parse_amounts("0,10,50") == [0.0, 0.1, 0.5]        # percentages
    assert parse_amounts("0.5, 0.1,0.5") == [0.1, 0.5]
    with pytest.raises(WorkbenchError, match="at most 95%"):
        check_amounts([0.5, 0.96])
    with pytest.raises(WorkbenchError, match="at most 95%"):
        parse_amounts("0,50,99")
    with pytest.raises(WorkbenchError, match="not numbers"):
        parse_amounts("0,half")
    with pytest.raises(WorkbenchError, match="at least one"):
        check_amounts([])


def test_curve_sweeps_with_recovery_and_times_points_side_by_side(tmp_path):
    pt, data = digits_files(tmp_path)
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    curve = prune_curve(ctx, [0.0, 0.3, 0.6], recover_epochs=1, max_drop=100.0)
    assert [p.amount for p in curve.points] == [0.0, 0.3, 0.6] and all(p.ok for p in curve.points)
    base, p30, p60 = curve.points
    assert base.speedup == 1.0 and base.drop_points == 0.0
    assert p60.macs < p30.macs and all(p.speedup and p.speedup_interval for p in (p30, p60))
    assert "side by side" in curve.timing and curve.chosen == 0.6 and curve.quality_key == "accuracy"
    json.dumps(curve.to_dict())
    again = prune_curve(ctx, [0.3, 0.6], recover_epochs=1, side_by_side=False)   # points are stored variants
    assert [p.variant_id for p in again.points] == [p30.variant_id, p60.variant_id]
    from engines.optimize.curve_store import load_curves

    (settings, stored), = load_curves(ctx.workspace.root)   # the whole curve is kept, the partial one is not
    assert settings == {"schedule": "one-shot", "recover_epochs": 1}
    assert [p.speedup_interval for p in stored.points] == [p.speedup_interval for p in curve.points]


def test_curve_stops_past_the_budget(tmp_path):
    pt, data = digits_files(tmp_path, labels="model")   # baseline 100 %: no amount can gain
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    curve = prune_curve(ctx, [0.3, 0.6, 0.9], recover_epochs=0, max_drop=-1.0, stop_past_budget=True,
                        side_by_side=False)
    assert len(curve.points) == 1 and curve.chosen is None     # any loss is past a negative budget


def test_curve_cli_json_and_refusal(tmp_path, capsys):
    from workbench.cli import main

    pt, data = digits_files(tmp_path)
    code = main(["curve", str(pt), "--amounts", "0,40", "--recover-epochs", "0", "--data", str(data),
                 "--workspace", str(tmp_path / "ws"), "--iterations", "20", "--seconds", "0.2", "--json",
                 "--max-drop", "100"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["amount"] for p in out["points"]] == [0.0, 0.4] and out["chosen"] == 0.4
    assert main(["curve", str(pt), "--amounts", "0,0.97", "--data", str(data)]) == 2
    assert "at most 95%" in capsys.readouterr().err
    # text mode: the table and the chart (quality bars, speedup bars) from the same stored points
    assert main(["curve", str(pt), "--amounts", "0,40", "--recover-epochs", "0", "--data", str(data),
                 "--workspace", str(tmp_path / "ws")]) == 0
    text = capsys.readouterr().out
    assert "quality # (0-100 %)" in text and "speedup = (0-" in text
    assert any(line.strip().startswith("40%") and "#" in line for line in text.splitlines())


def test_curve_chart_scales_bars():
    from types import SimpleNamespace

    from workbench.commands.curve import curve_chart

    pts = [SimpleNamespace(ok=True, amount=0.0, quality=1.0, speedup=1.0),
           SimpleNamespace(ok=True, amount=0.5, quality=0.5, speedup=2.0),
           SimpleNamespace(ok=False, amount=0.9, quality=None, speedup=None)]
    lines = curve_chart(pts, width=10)
    assert lines[1].count("#") == 10 and lines[2].count("=") == 5        # 100 %, 1.0x of a 2.0x top
    assert lines[3].count("#") == 5 and lines[4].count("=") == 10 and len(lines) == 5   # failed point left out
    assert curve_chart([]) == []


def test_tuner_asks_the_curve_for_the_amount(tmp_path, monkeypatch):
    import engines.optimize.prune_curve as pc
    from engines.optimize.tune import candidates, tune

    pt, data = digits_files(tmp_path)
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    seen = {}

    class Stop(Exception):
        pass

    def fake(ctx_, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(pc, "tune_amounts", fake)
    with pytest.raises(Stop):
        tune(ctx, max_drop=2.0, budget_s=60, recover_epochs=1)
    assert seen["max_drop"] == 2.0 and seen["recover_epochs"] == 1 and seen["budget_s"] == 30
    amounts = {r.prune_amount for r in candidates(ctx, amounts=(0.7,)) if r.prunes}
    assert amounts == {0.7}


def test_tune_amounts_takes_the_largest_within_budget_else_the_smallest_tried(monkeypatch):
    import engines.optimize.prune_curve as pc

    def fake_curve(points, chosen):
        return lambda ctx, amounts, **kw: pc.PruneCurve(model="m", quality_key="accuracy", schedule="one-shot",
                                                        recover_epochs=kw["recover_epochs"], points=points,
                                                        baseline_id="b", max_drop=kw["max_drop"], chosen=chosen)

    pts = [_p(0.3, 0.1), _p(0.5, 0.8), _p(0.7, 3.0)]
    monkeypatch.setattr(pc, "prune_curve", fake_curve(pts, pick_amount(pts, 1.0)))
    amounts, notes = pc.tune_amounts(None, max_drop=1.0, recover_epochs=3, budget_s=10)
    assert amounts == (0.5,) and "50% is the largest amount within 1 pts" in notes[0]
    pts = [_p(0.3, 4.0)]
    monkeypatch.setattr(pc, "prune_curve", fake_curve(pts, None))
    amounts, notes = pc.tune_amounts(None, max_drop=1.0, recover_epochs=3, budget_s=10)
    assert amounts == (0.3,) and "no amount within 1 pts" in notes[0]
