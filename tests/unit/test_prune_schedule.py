"""Structured pruning schedules: iterative (N prune + recover steps), group-regularized, the pipeline,
and the refusal of a schedule past 95 %."""

from __future__ import annotations

import pytest
import torch

from engines.errors import WorkbenchError
from engines.optimize.context import open_context
from engines.optimize.pipeline import apply_recipe
from engines.optimize.prune import prune_structured
from engines.optimize.prune_schedule import check_schedule, epochs_per_step, prune_iterative, prune_regularized
from engines.optimize.recipes import Recipe
from tests.unit.depth_fixtures import FAST, digits_files, quadrant_data, quadrant_net
from tests.unit.depth_fixtures import one_torch_thread  # noqa: E402,F401  (autouse)

pytest.importorskip("torch_pruning")



def test_recovery_epochs_are_shared_between_the_steps():
    assert epochs_per_step(3, 3) == [1, 1, 1]
    assert epochs_per_step(4, 3) == [1, 1, 2]
    assert epochs_per_step(1, 3) == [0, 0, 1]
    assert sum(epochs_per_step(7, 4)) == 7


def test_iterative_reaches_the_one_shot_shape_in_steps(tmp_path):
    x, y = quadrant_data()
    example = torch.from_numpy(x[:2])
    one = prune_structured(quadrant_net(), example, 0.5)
    events = []
    from engines.tasks import TaskContext

    rep, hist = prune_iterative(quadrant_net(), example, 0.5, x, y, steps=2, recover_epochs=2,
                                checkpoint_dir=tmp_path, task=TaskContext(on_progress=events.append))
    assert rep.channels == one.channels and rep.macs_after == one.macs_after
    assert [h["step"] for h in hist["steps"]] == [1, 2] and all(h["epochs"] == 1 for h in hist["steps"])
    assert any("step 2/2" in e.message for e in events)
    assert rep.channels["7"] == 4          # the classifier keeps its outputs
    assert "iterative" in rep.note


def test_regularization_shrinks_weights_before_pruning(tmp_path, monkeypatch):
    import engines.optimize.finetune as ft_mod

    x, y = quadrant_data()
    example = torch.from_numpy(x[:2])
    calls = []
    real = ft_mod.finetune

    def spy(*a, **kw):
        if kw.get("after_backward") is not None:
            calls.append(kw["extra_config"])
        return real(*a, **kw)

    monkeypatch.setattr(ft_mod, "finetune", spy)
    prune_regularized(quadrant_net(), example, 0.5, x, y, reg_epochs=1, recover_epochs=0, reg=0.5,
                      checkpoint_dir=tmp_path / "a")
    monkeypatch.undo()
    assert calls == [{"group_reg": 0.5}]
    rep, out = prune_regularized(quadrant_net(), example, 0.5, x, y, reg_epochs=1, recover_epochs=1,
                                 checkpoint_dir=tmp_path / "b")
    assert rep.macs_after < rep.macs_before and out["reg_epochs"] == 1 and "final_accuracy" in out
    # the regularizer really pulls the weights down: a strong one leaves a smaller weight norm
    weak, strong = quadrant_net(), quadrant_net()
    for net, reg, d in ((weak, 1e-6, "w"), (strong, 0.5, "s")):
        prune_regularized(net, example, 0.0, x, y, reg_epochs=1, recover_epochs=0, reg=reg,
                          checkpoint_dir=tmp_path / d)
    norm = lambda n: sum(float(m.weight.detach().norm()) for m in n.modules() if isinstance(m, torch.nn.Conv2d))  # noqa
    assert norm(strong) < norm(weak)


def test_a_schedule_past_95_percent_is_refused(tmp_path):
    x, y = quadrant_data(32)
    with pytest.raises(WorkbenchError, match="at most 95%"):
        check_schedule(0.96)
    with pytest.raises(WorkbenchError, match="at most 95%"):
        prune_iterative(quadrant_net(), torch.from_numpy(x[:2]), 0.99, x, y, steps=3, recover_epochs=0,
                        checkpoint_dir=tmp_path)
    with pytest.raises(WorkbenchError, match="at most 95%"):
        prune_regularized(quadrant_net(), torch.from_numpy(x[:2]), 1.0, x, y, reg_epochs=0, recover_epochs=0,
                          checkpoint_dir=tmp_path)
    with pytest.raises(WorkbenchError, match="0 to 0.95"):
        Recipe(prune_mode="structured", prune_amount=0.97, prune_schedule="iterative")
    with pytest.raises(WorkbenchError, match="steps"):
        check_schedule(0.5, steps=0)


def test_schedule_over_95_exits_2_on_the_cli(tmp_path, capsys):
    from workbench.cli import main

    pt, data = digits_files(tmp_path)
    code = main(["optimize", str(pt), "--prune", "0.97", "--prune-schedule", "iterative", "--data", str(data),
                 "--workspace", str(tmp_path / "ws")])
    assert code == 2 and "0.95" in capsys.readouterr().err


def test_schedule_fields_normalize_and_label():
    it = Recipe(prune_mode="structured", prune_amount=0.7, recover_epochs=3, prune_schedule="iterative",
                prune_steps=3, reg_epochs=9)
    assert it.normalized().reg_epochs == Recipe().reg_epochs
    assert it.label() == "prune structured 70% iterative x3 +3ep"
    rg = Recipe(prune_mode="structured", prune_amount=0.7, prune_schedule="regularized", prune_steps=9)
    assert rg.normalized().prune_steps == Recipe().prune_steps and "regularized 2ep" in rg.label()
    assert rg.to_dict("s", "d")["data"] == "d"          # regularized training uses the data
    one = Recipe(prune_mode="structured", prune_amount=0.7, prune_steps=5)
    assert "prune_steps" not in one.to_dict("s", "d")   # one-shot keys are the keys made before schedules
    un = Recipe(prune_mode="unstructured", prune_amount=0.5, prune_schedule="iterative")
    assert un.normalized().prune_schedule == "one-shot"


def test_pipeline_builds_iterative_and_regularized_variants(tmp_path):
    pt, data = digits_files(tmp_path)
    ctx = open_context(pt, data=data, workspace=tmp_path / "ws", measure=FAST)
    for schedule in ("iterative", "regularized"):
        recipe = Recipe(prune_mode="structured", prune_amount=0.5, recover_epochs=2, prune_schedule=schedule,
                        prune_steps=2, reg_epochs=1)
        v = apply_recipe(ctx, recipe).variant
        assert v.status == "ok", v.error
        assert v.extra["finetune"]["schedule"] == schedule
        assert v.extra["prune"]["macs_after"] < v.extra["prune"]["macs_before"] / 2
        assert v.metrics.get("accuracy") is not None
    assert not any((ctx.workspace.root / "checkpoints").glob("*/*"))
