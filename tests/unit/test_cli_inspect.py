"""`workbench inspect` headless: summary, JSON, data checks, and exit code 2 with one line per bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.unit.model_factories import constant_weights_onnx, huge_dynamic_onnx, random_bytes, tiny_onnx
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _fails_with_one_line(capsys, argv, needle):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("workbench: error: ") and needle in lines[0]


def test_human_summary(capsys, samples_dir):
    assert main(["inspect", str(samples_dir / "digits_cnn.onnx")]) == 0
    out = capsys.readouterr().out
    assert "Format     onnx" in out
    assert "[batch, 1, 8, 8]" in out and "float32" in out
    assert "337,536" in out and "38,282" in out
    assert "Conv" in out and "opset 17" in out and "Supports" in out


def test_json_output(capsys, samples_dir):
    assert main(["inspect", str(samples_dir / "digits_cnn.onnx"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "onnx" and data["macs"] == 337536 and data["flops"] == 675072
    assert data["inputs"] == [{"name": "input", "shape": ["batch", 1, 8, 8], "dtype": "float32"}]
    assert data["op_histogram"]["Conv"] == 2 and data["support"]


def test_matching_data_is_reported(capsys, samples_dir):
    assert main(["inspect", str(samples_dir / "digits_cnn.onnx"), "--data", str(samples_dir / "digits_test.npz"),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["data"]["samples"] == 450 and data["data"]["labels"] is True


def test_mismatched_data_exits_2(capsys, samples_dir):
    _fails_with_one_line(capsys, ["inspect", str(samples_dir / "digits_cnn.onnx"), "--data",
                                  str(samples_dir / "digits_test_nhwc.npz")],
                         "data x has shape [N,8,8,1] but input 'input' expects [batch,1,8,8]")


def test_missing_path(capsys, tmp_path):
    _fails_with_one_line(capsys, ["inspect", str(tmp_path / "none.onnx")], "does not exist")


def test_folder_not_savedmodel(capsys, tmp_path):
    _fails_with_one_line(capsys, ["inspect", str(tmp_path)], "not a TensorFlow SavedModel")


def test_truncated_onnx(capsys, tmp_path):
    data = tiny_onnx(tmp_path / "ok.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[:-20])
    _fails_with_one_line(capsys, ["inspect", str(tmp_path / "cut.onnx")], "cut.onnx")


@pytest.mark.parametrize("suffix", [".pt", ".onnx", ".tflite"])
def test_random_bytes(capsys, tmp_path, suffix):
    path = random_bytes(tmp_path / f"junk{suffix}")
    _fails_with_one_line(capsys, ["inspect", str(path)], f"junk{suffix}")


def test_unknown_extension(capsys, tmp_path):
    _fails_with_one_line(capsys, ["inspect", str(random_bytes(tmp_path / "m.weights"))], "unknown model extension")


def test_huge_dynamic_model_inspects(capsys, tmp_path):
    assert main(["inspect", str(huge_dynamic_onnx(tmp_path / "huge.onnx"))]) == 0
    assert "[batch, 100000, 100000]" in capsys.readouterr().out


def test_constant_weights_noted(capsys, tmp_path):
    assert main(["inspect", str(constant_weights_onnx(tmp_path / "c.onnx"))]) == 0
    out = capsys.readouterr().out
    assert "Constant nodes" in out and "Params     15" in out


def test_pickled_module_needs_trust(capsys, tmp_path):
    import torch

    from tests.unit.model_factories import tiny_torch_module

    path = tmp_path / "full.pt"
    torch.save(tiny_torch_module(), path)
    _fails_with_one_line(capsys, ["inspect", str(path)], "--trust-pickle")
    assert main(["inspect", str(path), "--trust-pickle"]) == 0
    assert "torch_pickle" in capsys.readouterr().out


def test_not_a_keras_zip(capsys, tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"not a zip at all")
    _fails_with_one_line(capsys, ["inspect", str(path)], "not a Keras v3 archive")
    with zipfile.ZipFile(tmp_path / "z.pt", "w") as zf:
        zf.writestr("a.txt", "x")
    _fails_with_one_line(capsys, ["inspect", str(tmp_path / "z.pt")], "not a PyTorch model")


def test_real_process_exit_codes(tmp_path, samples_dir):
    bad = subprocess.run([sys.executable, "-m", "workbench", "inspect", str(tmp_path / "missing.onnx")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "does not exist" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "workbench", "inspect", str(samples_dir / "digits_cnn.onnx"),
                           "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["param_count"] == 38282


def test_samples_command_usage(capsys):
    assert main(["samples"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["samples", "generate", "vgg", "--out", "x"])
    assert exc.value.code == 2


def test_samples_generate_rejects_tiny_image(capsys, tmp_path):
    _fails_with_one_line(capsys, ["samples", "generate", "resnet18", "--out", str(tmp_path), "--image-size", "8"],
                         "--image-size")


def test_data_npz_missing_x(capsys, tmp_path, samples_dir):
    np.savez(tmp_path / "d.npz", inputs=np.zeros((2, 1, 8, 8), np.float32))
    _fails_with_one_line(capsys, ["inspect", str(samples_dir / "digits_cnn.onnx"), "--data",
                                  str(tmp_path / "d.npz")], "no array 'x'")
