"""Bad input on the command line: one line on stderr and exit 2, with nothing printed before it."""

from __future__ import annotations

import zipfile

import pytest

from tests.conftest import SAMPLES
from tests.reliability.untrusted_helpers import run_cli, stderr_lines
from workbench.cli import main

LONG = "a" * 5000 + ".onnx"


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e400"])
def test_cost_refuses_non_finite_rates(capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["cost", str(SAMPLES / "digits_cnn.onnx"), f"--rps={value}", "--no-measure"])
    assert exc.value.code == 2
    line = _one_error_line(capsys)
    assert "--rps" in line and "finite" in line and "$nan" not in line


def test_cost_model_refuses_non_finite_profiles():
    from engines.cost.model import TrafficProfile
    from engines.errors import WorkbenchError

    for kwargs in ({"avg_rps": float("nan"), "peak_rps": 1.0}, {"avg_rps": 1.0, "peak_rps": float("inf")},
                   {"avg_rps": 1.0, "peak_rps": 2.0, "hours_per_day": float("nan")}):
        with pytest.raises(WorkbenchError, match="finite"):
            TrafficProfile(**kwargs)


@pytest.mark.parametrize("argv", [["inspect", LONG], ["optimize", LONG], ["cost", LONG, "--no-measure"],
                                  [LONG]])
def test_a_5000_character_file_name_is_one_line(capsys, argv, monkeypatch):
    monkeypatch.setattr("workbench.app.run_app", lambda **kw: 0, raising=False)
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert line.startswith("workbench: error:") and "too long" in line and len(line) < 400


def test_keras_failure_has_no_tensorflow_lines_before_the_error(tmp_path):
    pytest.importorskip("tensorflow")
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("config.json", "{}")
    proc = run_cli(["inspect", str(bad)])
    lines = stderr_lines(proc)
    assert proc.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("workbench: error:"), lines


def test_onnx_runtime_native_log_is_silenced(tmp_path):
    """An initializer no node uses makes ORT print a coloured warning from the quantizer's own sessions."""
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
                              initializer=[numpy_helper.from_array(np.zeros(3, np.float32), "unused_w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "unused.onnx")
    proc = run_cli(["optimize", str(tmp_path / "unused.onnx"), "-q", "int8-dynamic",
                    "--workspace", str(tmp_path / "ws")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "onnxruntime" not in proc.stderr and "\x1b[" not in proc.stderr, proc.stderr[-2000:]
