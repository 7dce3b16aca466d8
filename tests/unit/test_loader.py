"""Format detection, ONNX inspection and every bad input, at the engine level."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.errors import ModelLoadError, WorkbenchError
from engines.models.loader import detect_format, inspect_model
from tests.unit.model_factories import constant_weights_onnx, huge_dynamic_onnx, random_bytes, tiny_onnx


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_tiny_onnx_summary(tmp_path):
    info = inspect_model(tiny_onnx(tmp_path / "tiny.onnx"))
    assert info.format == "onnx"
    assert info.param_count == 4 * 3 + 3
    assert info.macs == 4 * 3  # Gemm at batch 1
    assert info.flops == 24
    assert info.op_histogram == {"Gemm": 1, "Relu": 1}
    assert [(s.name, s.shape, s.dtype) for s in info.inputs] == [("x", ("batch", 4), "float32")]
    assert info.outputs[0].shape == ("batch", 3) and info.outputs[0].is_dynamic
    assert info.opset == 17 and "opset 17" in info.framework
    assert info.size_bytes == (tmp_path / "tiny.onnx").stat().st_size
    assert any("batch 1" in n for n in info.notes)
    assert info.to_dict()["inputs"][0]["shape"] == ["batch", 4]


def test_detect_format_by_suffix_and_folder(tmp_path):
    assert detect_format(tiny_onnx(tmp_path / "m.onnx")) == "onnx"
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"x")
    assert detect_format(saved) == "savedmodel"


def test_missing_path(tmp_path):
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(tmp_path / "nope.onnx")
    assert "does not exist" in _one_line(exc)


def test_folder_that_is_not_a_savedmodel(tmp_path):
    (tmp_path / "junk.txt").write_text("hello")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(tmp_path)
    assert "not a TensorFlow SavedModel" in _one_line(exc)


def test_truncated_onnx(tmp_path):
    good = tiny_onnx(tmp_path / "good.onnx").read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(bad)
    assert "cut.onnx" in _one_line(exc)


def test_corrupt_onnx(tmp_path):
    data = bytearray(tiny_onnx(tmp_path / "good.onnx").read_bytes())
    data[2:40] = b"\xff" * 38
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(bad)
    assert "corrupt.onnx" in _one_line(exc)


def test_empty_file(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(tmp_path / "empty.onnx")
    assert "empty" in _one_line(exc)


@pytest.mark.parametrize("suffix", [".onnx", ".pt", ".tflite", ".pt2", ".keras"])
def test_random_bytes_with_a_model_extension(tmp_path, suffix):
    path = random_bytes(tmp_path / f"noise{suffix}")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert f"noise{suffix}" in _one_line(exc)


def test_unknown_extension(tmp_path):
    path = random_bytes(tmp_path / "model.bin")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "unknown model extension '.bin'" in _one_line(exc)


def test_huge_dynamic_dims_inspect_instantly(tmp_path):
    path = huge_dynamic_onnx(tmp_path / "huge.onnx")
    info = inspect_model(path)   # nothing is allocated from the declared shape (10^10 elements)
    assert info.inputs[0].shape == ("batch", 100000, 100000)
    assert info.inputs[0].is_dynamic
    assert info.macs == 100000 * 100000 * 2  # batch taken as 1, no tensor ever allocated
    assert info.param_count == 200000


def test_constant_node_weights_are_counted_and_noted(tmp_path):
    info = inspect_model(constant_weights_onnx(tmp_path / "const.onnx"))
    assert info.param_count == 4 * 3 + 3  # the int64 shape constant is not a weight
    assert any("Constant nodes" in n for n in info.notes)
    assert info.op_histogram["Constant"] == 3


def test_external_data_inside_folder(tmp_path):
    path = tiny_onnx(tmp_path / "ext.onnx", external=True)
    data = tmp_path / "ext.onnx.data"
    assert data.is_file()
    info = inspect_model(path)
    assert info.param_count == 15
    assert info.size_bytes == path.stat().st_size + data.stat().st_size
    assert any("external data" in n for n in info.notes)


def test_external_data_escaping_folder_is_refused(tmp_path):
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    path = tiny_onnx(model_dir / "esc.onnx", external=True)
    (model_dir / "esc.onnx.data").rename(tmp_path / "outside.data")
    _relocate_external_data(path, "../outside.data")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "escapes the model's folder" in _one_line(exc)


def _relocate_external_data(path: Path, location: str) -> None:
    """Point every external tensor at ``location`` (onnx refuses to write such paths itself)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(model.SerializeToString())


def test_external_data_absolute_path_is_refused(tmp_path):
    path = tiny_onnx(tmp_path / "abs.onnx", external=True)
    _relocate_external_data(path, str(tmp_path / "abs.onnx.data"))
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "escapes the model's folder" in _one_line(exc)


def test_external_data_missing(tmp_path):
    path = tiny_onnx(tmp_path / "ext.onnx", external=True)
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "missing" in _one_line(exc)


def test_onnx_inspection_does_not_import_onnxruntime(tmp_path):
    import subprocess
    import sys

    path = tiny_onnx(tmp_path / "t.onnx")
    code = ("import sys; from engines.models.loader import inspect_model; inspect_model(sys.argv[1]); "
            "print(','.join(m for m in ('onnxruntime', 'torch', 'tensorflow') if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=root,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_errors_are_workbench_errors(tmp_path):
    with pytest.raises(WorkbenchError):
        inspect_model(tmp_path / "x.keras")
