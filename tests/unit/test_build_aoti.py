"""One real AOTInductor build on CPU (a tiny CNN), through the builder: compile, run, compare, time."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_aoti_engine_variant_on_cpu(tmp_path):
    from engines.build.aoti import compiler_status
    from engines.build.builder import BuildOptions, build_for_model, describe
    from engines.models.model_info import TensorSpec
    from engines.measure.runners import open_runner
    from engines.models.torch_load import save_torchscript
    from engines.workspace import Workspace
    from engines.models.zoo import DigitsCNN

    ok, why = compiler_status()
    if not ok:
        pytest.skip(why)
    model = DigitsCNN(width=4).eval()
    spec = [TensorSpec("input", ("batch", 1, 8, 8), "float32")]
    src = tmp_path / "tiny_cnn.pt"
    save_torchscript(model, src, (torch.randn(2, 1, 8, 8),), arch="engines.zoo:DigitsCNN", config={"width": 4},
                     input_specs=spec)
    x = np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32)
    opts = BuildOptions(bench_iterations=20, bench_budget_s=0.2, timeout_s=600)
    v = build_for_model(src, "aoti", "fp32", data=(x, None), workspace=tmp_path / "ws", profile=(1, 2, 4),
                        options=opts)
    assert v.kind == "engine" and v.format == "aoti" and v.name == "AOTI cpu fp32 b1-4"
    card = describe(v)
    assert card["fidelity"]["cosine"] > 0.9999 and card["fidelity"]["top1_agreement"] == 1.0
    assert card["latency_ms"]["p50"] > 0 and card["source"]["name"] == "baseline" and card["speedup_p50"] > 0
    assert card["eager"]["eager_p50_ms"] > 0 and card["eager"]["speedup_vs_eager"] > 0
    ws = Workspace(tmp_path / "ws")
    package = ws.model_path(v)
    meta = json.loads(package.with_name("model.pt2.json").read_text())
    assert meta["profile"] == [1, 2, 4] and meta["device"] == "cpu" and meta["compile_s"] > 0
    runner = open_runner(package, "aoti")
    with torch.no_grad():
        want = model(torch.from_numpy(x[:3])).numpy()
    np.testing.assert_allclose(runner.run({"input": x[:3]})[0], want, rtol=1e-4, atol=1e-5)
