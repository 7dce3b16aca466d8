"""PyTorch -> ONNX export: checked, compared with the source, batch dimension dynamic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.models import zoo
from engines.errors import Cancelled, WorkbenchError
from engines.models.export import export_to_onnx
from engines.models.loader import inspect_model
from engines.models.model_info import TensorSpec
from engines.measure.runners import OnnxRunner
from engines.tasks import TaskContext
from engines.models.torch_load import save_torchscript
from tests.unit.model_factories import tiny_torch_module


def test_export_module_with_input_spec(tmp_path):
    out = tmp_path / "tiny.onnx"
    report = export_to_onnx(tiny_torch_module(), out, input_spec=[TensorSpec("pixels", ("batch", 1, 8, 8), "float32")],
                            exporter="torchscript")
    assert report.checker_ok and report.exporter == "torchscript"
    assert report.max_abs_err < 1e-4 and report.cosine > 0.9999
    assert report.inputs[0] == {"name": "pixels", "shape": ["batch", 1, 8, 8], "dtype": "float32"}
    assert report.opset == 17
    runner = OnnxRunner(out, threads=1)
    for batch in (1, 5):  # the batch dimension is dynamic
        assert runner.run({"pixels": np.zeros((batch, 1, 8, 8), np.float32)})[0].shape == (batch, 10)


def test_export_torchscript_file_with_dynamo_keeps_arch(tmp_path):
    model = zoo.build("DigitsCNN", seed=5)
    src = tmp_path / "d.pt"
    save_torchscript(model, src, zoo.example_inputs("DigitsCNN", batch=2), arch=zoo.arch_ref("DigitsCNN"),
                     config={}, input_specs=zoo.input_specs("DigitsCNN"))
    events = []
    report = export_to_onnx(src, tmp_path / "d.onnx", task=TaskContext(events.append))
    assert report.exporter in ("dynamo", "torchscript")
    assert report.checker_ok and report.max_abs_err < 1e-4 and report.cosine > 0.9999
    assert report.batch_checked == 2
    info = inspect_model(tmp_path / "d.onnx")
    assert info.arch == "engines.zoo:DigitsCNN"
    assert info.inputs[0].shape == ("batch", 1, 8, 8)
    assert info.macs == 337536
    assert events[-1].fraction == 1.0


def test_export_needs_shapes_when_unknown(tmp_path):
    src = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.trace(tiny_torch_module(), (torch.zeros(2, 1, 8, 8),)), str(src))
    with pytest.raises(WorkbenchError, match="input shapes are unknown"):
        export_to_onnx(src, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_export_refuses_non_torch(tmp_path):
    from tests.unit.model_factories import tiny_onnx

    src = tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(WorkbenchError, match="not a PyTorch model"):
        export_to_onnx(src, tmp_path / "out.onnx")


def test_cancel_leaves_no_file(tmp_path):
    ctx = TaskContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        export_to_onnx(tiny_torch_module(), tmp_path / "c.onnx", (torch.zeros(2, 1, 8, 8),), task=ctx)
    assert list(tmp_path.iterdir()) == []
