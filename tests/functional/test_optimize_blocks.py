"""Layer/block removal from the Optimize screen: the registry's mode is offered, and an ONNX model is refused
with the reason (the screen itself is unchanged: its mode select lists the registry's pruning recipes)."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench.wiring.optimize as wiring
from screens.optimize import OptimizeScreen
from workbench.app import make_app

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "digits_cnn.onnx"


async def test_block_removal_is_offered_and_an_onnx_model_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(wiring, "MEASURE", {"iterations": 20, "budget_s": 0.2, "warmup": 2, "throughput_batch": 8})
    app = make_app(SAMPLE, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, OptimizeScreen)
        select = screen.query_one("#prune-mode")
        assert "blocks" in [value for _, value in select._options]
        select.value = "blocks"
        screen.query_one("#prune").value = 50
        screen.query_one("#quant").value = "none"
        await pilot.pause()
        recipe = wiring.recipe_from_form(screen.form())
        assert recipe.prune_mode == "blocks" and recipe.prune_amount == 0.5
        await pilot.press("a")
        for _ in range(100):
            await pilot.pause(0.1)
            if "needs the PyTorch module" in _note(screen):
                break
        await app.workers.wait_for_complete()
        text = _note(screen)
        assert "needs the PyTorch module" in text and "ONNX graph" in text
        assert not app.session.workspace or not [v for v in app.session.workspace.variants() if v.kind == "pruned"]


def _note(screen) -> str:
    import io

    from rich.console import Console
    from textual.widgets import Static

    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(screen.query_one("#opt-note", Static).content)
    return console.file.getvalue()
