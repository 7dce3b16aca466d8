"""PyTorch files: TorchScript with architecture metadata, torch.export, state_dicts and pickles."""

from __future__ import annotations

import zipfile

import pytest
import torch

from engines.models import zoo
from engines.errors import ModelLoadError
from engines.models.loader import inspect_model
from engines.models.torch_load import load_torch_module, save_torchscript
from tests.unit.model_factories import tiny_torch_module


@pytest.fixture
def digits_ts(tmp_path):
    model = zoo.build("DigitsCNN", seed=3)
    path = tmp_path / "digits.pt"
    save_torchscript(model, path, zoo.example_inputs("DigitsCNN", batch=2), arch=zoo.arch_ref("DigitsCNN"),
                     config={}, input_specs=zoo.input_specs("DigitsCNN"))
    return path, model


def test_torchscript_with_arch_inspects_with_shapes_and_macs(digits_ts):
    path, model = digits_ts
    info = inspect_model(path)
    assert info.format == "torchscript"
    assert info.arch == "engines.zoo:DigitsCNN"
    assert info.param_count == sum(p.numel() for p in model.parameters())
    # conv1 16*64*9 + conv2 32*64*144 + fc1 512*64 + fc2 64*10
    assert info.macs == 9216 + 294912 + 32768 + 640
    assert info.inputs[0].shape == ("batch", 1, 8, 8)
    assert info.outputs[0].shape == ("batch", 10)
    assert info.op_histogram["Conv2d"] == 2


def test_load_torch_module_rebuilds_the_zoo_class(digits_ts):
    path, model = digits_ts
    loaded = load_torch_module(path)
    assert type(loaded) is zoo.DigitsCNN  # a real nn.Module, so structured pruning can work on it
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_arch_outside_the_zoo_is_never_built(tmp_path):
    path = tmp_path / "evil.pt"
    scripted = torch.jit.trace(zoo.build("DigitsCNN"), (torch.zeros(2, 1, 8, 8),))
    torch.jit.save(scripted, str(path), _extra_files={"workbench_arch": "os:system", "workbench_config": "{}"})
    with pytest.raises(ModelLoadError) as exc:
        load_torch_module(path)
    assert "not from the workbench zoo" in str(exc.value)


def test_torchscript_without_metadata_reports_unknown_inputs(tmp_path):
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.trace(tiny_torch_module(), (torch.zeros(2, 1, 8, 8),)), str(path))
    info = inspect_model(path)
    assert info.macs is None and info.outputs == []
    assert info.param_count == 4 * 9 + 4 + 256 * 10 + 10
    assert any("no input shapes" in n for n in info.notes)
    assert not isinstance(load_torch_module(path), zoo.DigitsCNN)


def test_state_dict_needs_an_architecture(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny_torch_module().state_dict(), path)
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    msg = str(exc.value)
    assert "state_dict" in msg and "architecture" in msg and "\n" not in msg


def test_pickled_module_refused_without_trust(tmp_path):
    path = tmp_path / "full.pt"
    torch.save(tiny_torch_module(), path)
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    msg = str(exc.value)
    assert "pickled full PyTorch module" in msg and "--trust-pickle" in msg and "arbitrary code" in msg


def test_pickled_module_loads_with_trust(tmp_path):
    path = tmp_path / "full.pt"
    torch.save(tiny_torch_module(), path)
    info = inspect_model(path, trust_pickle=True)
    assert info.format == "torch_pickle"
    assert info.param_count == 4 * 9 + 4 + 256 * 10 + 10
    assert isinstance(load_torch_module(path, trust_pickle=True), torch.nn.Sequential)


def test_torch_export_program(tmp_path):
    model = zoo.build("DigitsCNN")
    ep = torch.export.export(model, (torch.zeros(2, 1, 8, 8),),
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "digits.pt2"
    torch.export.save(ep, str(path))
    info = inspect_model(path)
    assert info.format == "torch_export"
    assert info.inputs[0].shape == ("batch", 1, 8, 8)
    assert info.outputs[0].shape == ("batch", 10)
    assert info.macs == 337536
    assert info.param_count == sum(p.numel() for p in model.parameters())
    assert info.op_histogram.get("conv2d") == 2


def test_zip_that_is_not_pytorch(tmp_path):
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(path)
    assert "not a PyTorch model" in str(exc.value)


def test_zoo_is_deterministic_per_seed():
    a, b, c = zoo.build("DigitsCNN", seed=1), zoo.build("DigitsCNN", seed=1), zoo.build("DigitsCNN", seed=2)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_zoo_shapes_for_resnet_and_bert():
    resnet = zoo.build("ResNet18", {"image_size": 64})
    assert sum(p.numel() for p in resnet.parameters()) == 11_689_512  # torchvision's resnet18 count
    with torch.no_grad():
        assert resnet(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    bert = zoo.build("TinyBert", {"seq_len": 16, "layers": 1, "hidden": 32, "heads": 2, "ffn": 64, "vocab": 100})
    ids = zoo.example_inputs("TinyBert", {"seq_len": 16, "vocab": 100}, batch=2)[0]
    with torch.no_grad():
        assert bert(ids).shape == (2, 2)


class _Evil:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pt2_with_a_malicious_pickle_is_refused_not_run(tmp_path):
    import pickle

    ep = torch.export.export(zoo.build("DigitsCNN"), (torch.zeros(2, 1, 8, 8),))
    clean = tmp_path / "clean.pt2"
    torch.export.save(ep, str(clean))
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(clean) as zin, zipfile.ZipFile(evil, "w") as zout:
        names = zin.namelist()
        target = next(n for n in names if n.endswith("sample_inputs/model.pt"))
        for name in names:
            data = pickle.dumps(_Evil(str(marker))) if name == target else zin.read(name)
            zout.writestr(name, data)
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(evil)
    assert "--trust-pickle" in str(exc.value)
    with pytest.raises(ModelLoadError):
        load_torch_module(evil)
    assert not marker.exists()
    assert torch.load.__name__ == "load"  # the temporary weights_only wrapper was removed
    assert inspect_model(clean).format == "torch_export"
