"""Short variant names (chart labels, narrow tables) and stored pruning curves."""

from __future__ import annotations

from engines.optimize.curve_store import curve_settings, load_curves, save_curve
from engines.optimize.prune_curve import CurvePoint, PruneCurve
from engines.optimize.recipes import Recipe
from engines.optimize.short_name import short_name


def test_short_names_from_recipes():
    def sn(**kw):
        return short_name(Recipe(**kw).to_dict("src", "data"), kind=Recipe(**kw).kind())

    assert sn() == "base"
    assert sn(quant="int8-static") == "int8"
    assert sn(quant="int8-static", activation_type="s8", calibration="entropy") == "int8 s8/s8 entropy"
    assert sn(prune_mode="structured", prune_amount=0.5, recover_epochs=1) == "ch50%+1ep"
    assert sn(prune_mode="structured", prune_amount=0.5, recover_epochs=1, quant="int8-static") == "ch50%+1ep int8"
    assert sn(prune_mode="structured", prune_amount=0.7, prune_schedule="iterative", prune_steps=3) == "ch70% it3"
    assert sn(prune_mode="unstructured", prune_amount=0.3) == "un30%"
    assert sn(quant="int8-qat") == "int8 QAT"
    assert short_name({"engine": "ort", "precision": "fp32"}, kind="engine") == "ort fp32"
    assert short_name({"prune_mode": "layers", "prune_amount": 0.25}) == "layers25%"   # a mode added later


def test_curves_saved_and_read_back_newest_first(tmp_path):
    def curve(schedule):
        pts = [CurvePoint(0.0, "b", "ok", quality=0.99, drop_points=0.0, speedup=1.0, speedup_interval=(1.0, 1.0)),
               CurvePoint(0.5, "v", "ok", quality=0.97, drop_points=2.0, speedup=1.4, speedup_interval=(1.2, 1.6))]
        return PruneCurve(model="m.pt", quality_key="accuracy", schedule=schedule, recover_epochs=1, points=pts,
                          baseline_id="b", max_drop=1.0, chosen=None, timing="side by side")

    save_curve(tmp_path, curve("one-shot"), curve_settings("one-shot", 1))
    save_curve(tmp_path, curve("iterative"), curve_settings("iterative", 1, steps=3))
    (tmp_path / "curves" / "junk.json").write_text("{not json")
    got = load_curves(tmp_path)
    assert [c.schedule for _, c in got] == ["iterative", "one-shot"]
    assert got[0][0] == {"schedule": "iterative", "recover_epochs": 1, "steps": 3}
    assert got[1][1].points[1].speedup_interval == (1.2, 1.6) and got[1][1].points[1].quality == 0.97
    assert not [p for p in (tmp_path / "curves").iterdir() if p.name.endswith(".part")]
    assert load_curves(tmp_path / "nowhere") == []
