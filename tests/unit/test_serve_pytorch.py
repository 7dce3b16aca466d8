"""`serve` and `sweep` open PyTorch files (TorchScript, torch.export .pt2) and pick the device; bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
httpx = pytest.importorskip("httpx")

from engines.errors import ModelLoadError, UnsupportedError  # noqa: E402
from engines.serving.target import open_served_runner, pick_device, resolve_served  # noqa: E402


class Small(torch.nn.Module):       # an outside architecture: not in engines.zoo
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return Small().eval()


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    from engines.models.model_info import TensorSpec
    from engines.models.torch_load import save_torchscript

    d = tmp_path_factory.mktemp("pt")
    x = torch.randn(1, 3, 6, 6)
    ts = d / "small.pt"
    save_torchscript(small, ts, (x,), input_specs=[TensorSpec("x", ("batch", 3, 6, 6), "float32")])
    ep = torch.export.export(small, (torch.randn(2, 3, 6, 6),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    pt2 = d / "small.pt2"
    torch.export.save(ep, str(pt2))
    pickle = d / "full.pth"
    torch.save(small, pickle)
    return {"ts": ts, "pt2": pt2, "pickle": pickle}


@pytest.mark.parametrize("kind,fmt", [("ts", "torchscript"), ("pt2", "torch_export")])
def test_pytorch_files_are_served_on_the_cpu_with_the_modules_answers(small, files, kind, fmt):
    from engines.serving.app import start_server

    target = resolve_served(str(files[kind]))
    assert target.format == fmt
    runner, device = open_served_runner(target, device="auto")
    assert device == ("cuda" if torch.cuda.is_available() else "cpu")
    x = np.random.default_rng(0).standard_normal((3, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = small(torch.from_numpy(x)).numpy()
    srv = start_server(runner, max_batch=4, max_delay_ms=2)
    try:
        r = httpx.post(srv.url + "/invocations", json={"instances": x.tolist()}, timeout=10)
        assert r.status_code == 200, r.text
        got = np.asarray(r.json()["predictions"], np.float32)
    finally:
        srv.stop()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_pickled_module_needs_the_trust_flag(files):
    target = resolve_served(str(files["pickle"]))
    assert target.format == "torch_pickle"
    with pytest.raises(ModelLoadError, match="--trust-pickle"):
        open_served_runner(target, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the refusal cannot be seen")
def test_a_gpu_runner_on_a_machine_without_cuda_is_refused_with_the_reason(files, capsys):
    from workbench.cli import main

    assert pick_device("torchscript", "auto") == "cpu"
    assert main(["serve", str(files["ts"]), "--device", "cuda", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CUDA" in err and "--device cpu" in err


def test_options_that_do_not_apply_are_refused(files, tmp_path):
    from tests.perf_fixtures import tiny_onnx

    onnx = resolve_served(str(tiny_onnx(tmp_path / "m.onnx")))
    with pytest.raises(UnsupportedError, match="--dtype fp16 applies to PyTorch"):
        open_served_runner(onnx, dtype="fp16")
    with pytest.raises(UnsupportedError, match="runs on the CPU here"):
        pick_device("tflite", "cuda")
    bad = tmp_path / "junk.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="not a .pt2 archive"):
        resolve_served(str(bad))
    assert pick_device("tensorrt", "cpu") == "cuda"        # an engine runs only on its GPU


def test_sweep_runs_a_torchscript_file(files, capsys):
    from workbench.cli import main

    code = main(["sweep", str(files["ts"]), "--batches", "1,2", "--iterations", "5", "--seconds", "0.3",
                 "--device", "cpu", "--json"])
    assert code == 0
    (sw,) = json.loads(capsys.readouterr().out)["sweeps"]
    assert sw["device"] == "cpu" and [p["batch"] for p in sw["points"]] == [1, 2]
