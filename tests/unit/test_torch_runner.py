"""The PyTorch runtime: a TorchScript model runs on the CPU; CUDA is refused with the reason where there is none."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engines.errors import UnsupportedError  # noqa: E402
from engines.measure.runners import open_runner  # noqa: E402


@pytest.fixture
def scripted(tmp_path):
    from engines.models import zoo
    from engines.models.torch_load import save_torchscript

    path = tmp_path / "cnn.pt"
    model = zoo.build("DigitsCNN", {"width": 4})
    save_torchscript(model, path, (torch.randn(2, 1, 8, 8),), arch=zoo.arch_ref("DigitsCNN"), config={"width": 4})
    return path, model


def test_torchscript_runs_on_the_cpu_and_matches_eager(scripted):
    path, model = scripted
    runner = open_runner(path, "torchscript", threads=1)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    got = runner.run({runner.inputs[0].name: x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 10) and np.allclose(got, want, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the refusal cannot be shown")
def test_cuda_runner_on_a_machine_without_cuda_is_refused_with_the_reason(scripted):
    path, _ = scripted
    with pytest.raises(UnsupportedError, match="CUDA runner was asked for but"):
        open_runner(path, "torchscript", device="cuda")


def test_unknown_dtype_is_refused(scripted):
    path, _ = scripted
    with pytest.raises(UnsupportedError, match="unknown PyTorch dtype"):
        open_runner(path, "torchscript", dtype="int3")
