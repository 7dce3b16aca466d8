"""Every bad input of the Foundation issue opens an error dialog; the app keeps running and keeps its model."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from screens.error_dialog import ErrorDialog
from screens.overview import OverviewScreen
from tests.functional.tiny_models import bad_inputs, constant_weights_onnx, huge_dynamic_onnx, pickled_module, tiny_onnx
from workbench.app import make_app

pytestmark = pytest.mark.asyncio

# what each one-line message must name (besides the file)
EXPECT = {
    "missing": "does not exist",
    "not_savedmodel_dir": "SavedModel",
    "truncated_onnx": "ONNX",
    "corrupt_onnx": "ONNX",
    "random_pt": "PyTorch",
    "random_onnx": "ONNX",
    "random_tflite": "tflite",
    "unknown_extension": "extension",
}


async def open_and_settle(app, pilot, path) -> None:
    app.open_model(path)
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_each_bad_input_shows_one_line_error_and_keeps_the_loaded_model(tmp_path):
    bad = bad_inputs(tmp_path)
    assert set(bad) == set(EXPECT)
    good = tiny_onnx(tmp_path / "keeper.onnx")
    app = make_app(good)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session.model_info.name == "keeper"
        for key, path in bad.items():
            await open_and_settle(app, pilot, path)
            assert isinstance(app.screen, ErrorDialog), key
            message = app.screen.message
            assert "\n" not in message and path.name in message, (key, message)
            assert EXPECT[key].lower() in message.lower(), (key, message)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, OverviewScreen), key
            assert app.is_running
            assert app.session.model_info.name == "keeper", key
            assert app.sub_title.startswith("keeper · ONNX"), key


async def test_pickled_module_is_refused_without_trust_and_opens_with_it(tmp_path):
    path = pickled_module(tmp_path / "pickled.pt")
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert "--trust-pickle" in app.screen.message and "pickled.pt" in app.screen.message
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and app.session.model_info is None
        assert app.screen.query_one("#overview-empty")           # placeholder, not "opening…"
    trusted = make_app(path, trust_pickle=True)
    async with trusted.run_test(size=(80, 24)) as pilot:
        await trusted.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(trusted.screen, ErrorDialog)
        assert trusted.session.model_info.param_count == 4 * 2 + 2


async def test_bad_model_on_the_command_line_opens_app_with_error_then_placeholder(tmp_path):
    app = make_app(tmp_path / "missing.onnx")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        await pilot.click("#error-ok")
        await pilot.pause()
        assert app.sub_title == "no model"
        assert app.screen.query_one("#overview-empty")


async def test_constant_weights_onnx_loads_with_a_note(tmp_path):
    app = make_app(constant_weights_onnx(tmp_path / "const.onnx"))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        info = app.session.model_info
        assert not isinstance(app.screen, ErrorDialog)
        assert info.param_count == 16 * 4
        assert any("Constant" in n for n in info.notes)


async def test_huge_dynamic_dim_model_loads_with_dynamic_dims_shown(tmp_path):
    app = make_app(huge_dynamic_onnx(tmp_path / "huge"))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, ErrorDialog)
        assert app.session.model_info.param_count == 50_000 * 50_000
        io_rows = [[str(c) for c in app.screen.query_one("#io", DataTable).get_row_at(i)] for i in range(2)]
        assert io_rows[0][2] == "[batch, seq, 50000]" and io_rows[0][4] == "0:batch, 1:seq"
