"""Engine screen: each backend's own options (OpenVINO frontend and accuracy control, TensorRT workspace),
the refusal that says why and what builds instead, and a result card that never outlives its build or model."""

from __future__ import annotations

import importlib.util

import pytest
from textual.widgets import Checkbox, Input, RichLog, Select, Static

from screens.engine import EngineScreen
from screens.widgets.fields import FieldErrors
from screens.widgets.task_panel import TaskPanel
from tests.functional.notifications import record_notifications
from tests.functional.test_engine_screen import _sample, log_text, open_engine, plain, wait_build
from workbench.app import make_app

pytestmark = pytest.mark.asyncio
openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs the openvino extra")


async def choose(pilot, screen: EngineScreen, **values: str) -> None:
    for ident, value in values.items():
        screen.query_one(f"#en-{ident}", Select).value = value
        await pilot.pause()


def errors(screen: EngineScreen) -> str:
    widget = screen.query_one(FieldErrors)
    return "" if widget.has_class("-empty") else plain(widget, width=300)


async def test_only_the_chosen_backends_fields_are_shown_and_checked(tmp_path):
    from tests.functional.tiny_models import tiny_onnx

    app = make_app(tiny_onnx(tmp_path / "tiny.onnx"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        screen.query_one("#en-wsmb", Input).value = "5"          # under TensorRT's minimum of 16
        await pilot.pause()
        for backend in ("ort", "aoti", "openvino"):
            await choose(pilot, screen, backend=backend)
            assert not screen.query_one("#en-trt").display and errors(screen) == ""
        assert screen.query_one("#en-ov").display                 # openvino shows its own options
        await choose(pilot, screen, backend="tensorrt")
        assert screen.query_one("#en-trt").display and not screen.query_one("#en-ov").display
        assert "TRT workspace MB must be at least 16" in errors(screen)


async def test_numeric_fields_take_only_numbers_and_say_so_inline(tmp_path):
    from tests.functional.tiny_models import tiny_onnx

    app = make_app(tiny_onnx(tmp_path / "tiny.onnx"))
    seen = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        field = screen.query_one("#en-timeout", Input)
        field.focus()
        field.value = ""
        await pilot.press("a", "b", "1", "x", "2")
        assert field.value == "12"                                # letters are not taken
        field.value = "0"
        await pilot.pause()
        assert "timeout must be at least 1" in errors(screen)     # said under the form while typing
        screen.set_focus(None)
        await pilot.press("b")
        await pilot.pause()
        assert not screen.query_one("#en-task", TaskPanel).running
        assert app.focused is field and not seen                 # the field is pointed at, no toast


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
async def test_b_with_tensorrt_says_why_and_what_builds_here(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    seen = record_notifications(app)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_engine(app, pilot)
        await choose(pilot, screen, backend="tensorrt")
        await pilot.press("b")
        await pilot.pause()
        assert not screen.query_one("#en-task", TaskPanel).running
        said = [n for n in seen if "TensorRT cannot be used here" in n]
        assert said and "tensorrt Python package is not installed" in said[0]
        assert "Builds here instead: ORT optimized (cpu)" in said[0]
        logged = " ".join(log_text(screen).split())                  # kept in the log too, wrapped
        assert "cannot build: TensorRT cannot be used here: the tensorrt Python package" in logged
        assert "Builds here instead: ORT optimized (cpu)" in logged


async def test_the_card_is_cleared_when_another_model_opens(samples_dir, tmp_path):
    from tests.functional.tiny_models import tiny_onnx

    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        await pilot.press("b")
        await wait_build(pilot, screen)
        assert "ORT all-opt fp32" in plain(screen.query_one("#en-card", Static))
        app.open_model(tiny_onnx(tmp_path / "other.onnx"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        card = plain(screen.query_one("#en-card", Static))
        assert "ORT all-opt" not in card and "The result card appears here" in card
        assert app.session.model_state.engine_card is None
        assert not screen.query_one("#en-log", RichLog).lines


async def test_the_card_is_cleared_when_a_build_is_cancelled(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.onnx")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        await pilot.press("b")
        await wait_build(pilot, screen)
        assert app.session.model_state.engine_card is not None
        await choose(pilot, screen, precision="fp16")            # a different recipe: a real build
        await pilot.press("b")
        await pilot.pause()
        assert "Building ort fp16" in plain(screen.query_one("#en-card", Static))   # the old card is gone
        await pilot.press("x")
        await wait_build(pilot, screen)
        card = plain(screen.query_one("#en-card", Static))
        if "cancelled" in log_text(screen):
            assert "Build cancelled" in card and "ORT all-opt fp32" not in card
            assert app.session.model_state.engine_card is None
        else:   # the build finished before the cancel reached it: the card is the new build's, not the old
            assert "fp16" in card and "ORT all-opt fp32" not in card


@openvino
async def test_openvino_options_say_why_they_are_off(tmp_path):
    from tests.functional.tiny_models import tiny_onnx

    app = make_app(tiny_onnx(tmp_path / "tiny.onnx"))             # ONNX, no data: neither option applies
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        await choose(pilot, screen, backend="openvino", precision="int8")
        assert screen.query_one("#en-frontend", Select).disabled
        assert screen.query_one("#en-acc", Checkbox).disabled
        text = plain(screen.query_one("#en-avail", Static), width=300)
        assert "the PyTorch frontend needs a PyTorch model; this one is ONNX" in text
        assert "accuracy control needs labels: no labelled data" in text


@openvino
async def test_openvino_pytorch_frontend_builds_from_the_open_model(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.pt")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        await choose(pilot, screen, backend="openvino", frontend="pytorch")
        assert not screen.query_one("#en-frontend", Select).disabled
        await pilot.press("b")
        await wait_build(pilot, screen)
        assert "converting the PyTorch model to OpenVINO IR" in log_text(screen)
        engines = [v for v in app.session.workspace.variants() if v.kind == "engine"]
        assert len(engines) == 1 and engines[0].format == "openvino"
        assert engines[0].recipe["options"] == {"frontend": "pytorch"}
        assert engines[0].extra["openvino"]["frontend"] == "pytorch"
        assert "OpenVINO fp32 pytorch" in plain(screen.query_one("#en-card", Static))


@openvino
async def test_openvino_accuracy_controlled_int8_with_the_samples_labels(samples_dir):
    app = make_app(str(_sample(samples_dir, "digits_cnn.pt")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_engine(app, pilot)
        await choose(pilot, screen, backend="openvino")
        acc = screen.query_one("#en-acc", Checkbox)
        assert acc.disabled                                       # fp32: accuracy control is for int8
        await choose(pilot, screen, precision="int8")
        assert not acc.disabled                                   # the sample's held-out split has labels
        acc.value = True
        await pilot.press("b")
        await wait_build(pilot, screen)
        engines = [v for v in app.session.workspace.variants() if v.kind == "engine"]
        assert len(engines) == 1 and engines[0].recipe["options"] == {"accuracy_control": True}
        report = engines[0].extra["openvino"]["accuracy_control"]
        assert report["max_drop_points"] == 1.0 and report["samples"] > 0
        card = plain(screen.query_one("#en-card", Static), width=200)
        assert "INT8 with NNCF accuracy control" in card and "accuracy" in card
