"""TorchScript metadata is file content: it must not decide how much memory inspection allocates."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from engines.errors import ModelLoadError  # noqa: E402
from engines.models import zoo  # noqa: E402
MAX_PROBE_VALUES = 1 << 26  # 256 MiB of float32: far above any probe a few KB of metadata should cause
from engines.models.loader import inspect_model  # noqa: E402
from engines.models.torch_load import load_torch_module  # noqa: E402
from tests.unit.model_factories import tiny_torch_module  # noqa: E402


def _save(path, extra):
    scripted = torch.jit.trace(tiny_torch_module(), (torch.zeros(2, 1, 8, 8),))
    torch.jit.save(scripted, str(path), _extra_files=extra)
    return path


@pytest.fixture
def no_big_allocations(monkeypatch):
    """Fail the test (instead of the machine) if anything asks torch for a huge zero tensor."""
    real = torch.zeros

    def guarded(*size, **kw):
        shape = size[0] if len(size) == 1 and isinstance(size[0], (list, tuple)) else size
        n = 1
        for d in shape:
            n *= int(d)
        assert n <= MAX_PROBE_VALUES, f"allocated {n:,} values from file metadata"
        return real(*size, **kw)

    monkeypatch.setattr(torch, "zeros", guarded)


def test_declared_huge_input_is_refused_before_allocating(tmp_path, no_big_allocations):
    inputs = [{"name": "input", "shape": [1, 1, 16384, 16384], "dtype": "float32"}]
    path = _save(tmp_path / "huge.pt", {"workbench_inputs": json.dumps(inputs)})
    assert path.stat().st_size < 64_000  # a few KB of file ask for 1 GiB of input
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    msg = str(exc.value)
    assert "268,435,456 values" in msg and "huge.pt" in msg and "\n" not in msg


def test_huge_zoo_config_is_refused_before_allocating(tmp_path, no_big_allocations):
    model = zoo.build("ResNet18", {"num_classes": 10, "image_size": 32})
    path = tmp_path / "resnet.pt"
    scripted = torch.jit.trace(model, (torch.zeros(1, 3, 32, 32),))
    torch.jit.save(scripted, str(path), _extra_files={"workbench_arch": zoo.arch_ref("ResNet18"),
                                                       "workbench_config": json.dumps({"num_classes": 10,
                                                                                       "image_size": 20000})})
    with pytest.raises(ModelLoadError, match="values"):
        inspect_model(path)


def test_config_that_does_not_match_the_weights_is_refused_before_building(tmp_path, monkeypatch):
    path = tmp_path / "digits.pt"
    scripted = torch.jit.trace(zoo.build("DigitsCNN"), (torch.zeros(2, 1, 8, 8),))
    torch.jit.save(scripted, str(path), _extra_files={"workbench_arch": zoo.arch_ref("DigitsCNN"),
                                                       "workbench_config": json.dumps({"width": 4096})})
    built_for_real = []
    real_build = zoo.build

    def spy(arch, config=None, seed=0):
        model = real_build(arch, config, seed)
        if next(model.parameters()).device.type != "meta":
            built_for_real.append(config)
        return model

    monkeypatch.setattr(zoo, "build", spy)
    with pytest.raises(ModelLoadError, match="parameters"):
        load_torch_module(path)
    assert built_for_real == []


@pytest.mark.parametrize("inputs", [
    "not json",
    json.dumps({"name": "x"}),
    json.dumps([]),
    json.dumps([{"name": "x", "shape": 5, "dtype": "float32"}]),
    json.dumps([{"name": "x", "shape": [1, -3], "dtype": "float32"}]),
    json.dumps([{"name": "x", "shape": [1, 3], "dtype": "load"}]),
    json.dumps([{"shape": [1, 3], "dtype": "float32"}]),
    json.dumps([{"name": "x", "shape": [1] * 40, "dtype": "float32"}]),
])
def test_malformed_input_metadata_is_one_line(tmp_path, inputs):
    path = _save(tmp_path / "bad.pt", {"workbench_inputs": inputs})
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "workbench_inputs" in str(exc.value) and "\n" not in str(exc.value)


def test_malformed_config_is_one_line(tmp_path):
    path = _save(tmp_path / "cfg.pt", {"workbench_arch": zoo.arch_ref("DigitsCNN"),
                                       "workbench_config": json.dumps({"width": {"nested": 1}})})
    with pytest.raises(ModelLoadError, match="workbench_config"):
        inspect_model(path)


def test_reasonable_metadata_still_inspects(tmp_path):
    inputs = [{"name": "input", "shape": ["batch", 1, 8, 8], "dtype": "float32"}]
    info = inspect_model(_save(tmp_path / "ok.pt", {"workbench_inputs": json.dumps(inputs)}))
    assert info.inputs[0].shape == ("batch", 1, 8, 8) and info.macs
