"""OpenVINO in the variant pipeline, the tuner, the builder's PyTorch frontend, accuracy control, sweeps and deploy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install -e '.[openvino]')")
pytest.importorskip("nncf", reason="nncf is not installed (pip install -e '.[openvino]')")

from engines.errors import DataError, WorkbenchError  # noqa: E402
from engines.optimize.context import MeasureOptions  # noqa: E402
from engines.optimize.pipeline import apply_recipe, open_context  # noqa: E402
from engines.optimize.recipes import Recipe  # noqa: E402
from tests.unit.optimize_helpers import digits_x, labelled_data, tiny_cnn_onnx, tiny_digits_torchscript  # noqa: E402

FAST = MeasureOptions(iterations=10, budget_s=0.1, warmup=1, throughput_batch=4)


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    return tiny_cnn_onnx(tmp_path / "tiny.onnx")


def _ctx(tmp_path: Path, model: Path, labels: bool = True):
    data = labelled_data(model, tmp_path / "data.npz", n=48, labels=labels)
    return open_context(model, data=data, workspace=tmp_path / "ws", measure=FAST, threads=1)


def test_openvino_int8_recipe_makes_a_paired_ir_variant(tmp_path: Path, onnx_model: Path):
    ctx = _ctx(tmp_path, onnx_model)
    res = apply_recipe(ctx, Recipe(quant="openvino-int8"))
    v = res.variant
    assert v.status == "ok", v.error
    assert v.format == "openvino" and v.file == "model.xml" and v.name == "openvino-int8"
    folder = ctx.workspace.model_path(v).parent
    assert {"model.xml", "model.bin", "model.openvino.json"} <= {p.name for p in folder.iterdir()}
    assert "FakeQuantize" in (folder / "model.xml").read_text()
    assert v.metrics["paired"]["reference"] == res.baseline.id        # timed interleaved with the baseline
    assert v.metrics["paired"]["speedup"]["value"] > 0
    assert v.metrics["size_bytes"] >= (folder / "model.bin").stat().st_size
    assert v.extra["quant"]["mode"] == "openvino-int8" and v.extra["quant"]["calibration_samples"] == 48
    assert v.metrics["accuracy"] >= 0.9
    again = apply_recipe(ctx, Recipe(quant="ov-int8"))                # the alias keys the same variant
    assert again.cached and again.variant.id == v.id


def test_accuracy_controlled_mode_uses_the_labels(tmp_path: Path, onnx_model: Path):
    ctx = _ctx(tmp_path, onnx_model)
    v = apply_recipe(ctx, Recipe(quant="openvino-int8-acc")).variant
    assert v.status == "ok", v.error
    acc = v.extra["quant"]["accuracy_control"]
    assert acc["max_drop_points"] == 1.0 and acc["samples"] == 48 and acc["float_accuracy"] == 1.0
    assert any("accuracy control" in n for n in v.extra["quant"]["notes"])


def test_accuracy_control_without_labels_is_refused_before_any_work(tmp_path: Path, onnx_model: Path):
    ctx = _ctx(tmp_path, onnx_model, labels=False)
    with pytest.raises(DataError, match="needs labelled data.*openvino-int8, which calibrates without labels"):
        apply_recipe(ctx, Recipe(quant="openvino-int8-acc"))
    assert not ctx.workspace.variants()                                 # not even the baseline was built


def test_cli_optimize_accuracy_control_without_labels_exits_2(tmp_path: Path, onnx_model: Path, capsys):
    from workbench.cli import main

    np.savez(tmp_path / "x.npz", x=digits_x(16))
    rc = main(["optimize", str(onnx_model), "-q", "openvino-int8-acc", "--data", str(tmp_path / "x.npz"),
               "--workspace", str(tmp_path / "ws")])
    assert rc == 2 and "openvino-int8" in capsys.readouterr().err


def test_build_accuracy_control_refusals(tmp_path: Path, onnx_model: Path):
    from engines.build.openvino import build_openvino

    x = digits_x(8)
    with pytest.raises(DataError, match="needs labelled data"):
        build_openvino(onnx_model, tmp_path / "m.xml", precision="int8", data=x, accuracy_control=True)
    with pytest.raises(DataError, match="8 samples and 3 labels"):
        build_openvino(onnx_model, tmp_path / "m.xml", precision="int8", data=x, labels=np.zeros(3, np.int64),
                       accuracy_control=True)
    with pytest.raises(WorkbenchError, match="for int8 builds"):
        build_openvino(onnx_model, tmp_path / "m.xml", precision="fp32", data=x, labels=np.zeros(8, np.int64),
                       accuracy_control=True)
    assert not (tmp_path / "m.xml").exists()


def test_tuner_candidates_include_openvino(tmp_path: Path, onnx_model: Path):
    from engines.optimize.tune import FAST_INT8, candidates

    todo = candidates(_ctx(tmp_path, onnx_model))
    assert todo[0] == FAST_INT8 and [r.quant for r in todo[1:3]] == ["openvino-int8", "openvino-int8-acc"]
    (tmp_path / "u").mkdir()
    unlabelled = candidates(_ctx(tmp_path / "u", onnx_model, labels=False))
    assert "openvino-int8" in [r.quant for r in unlabelled] and "openvino-int8-acc" not in [r.quant for r in unlabelled]


def test_tuner_tries_the_combined_recipe_on_pytorch_models(tmp_path: Path):
    from engines.optimize.tune import candidates

    pt = tiny_digits_torchscript(tmp_path / "digits.pt")
    np.savez(tmp_path / "d.npz", x=digits_x(32), y=np.arange(32) % 10)
    ctx = open_context(pt, data=tmp_path / "d.npz", workspace=tmp_path / "ws", measure=FAST, threads=1)
    combined = [r for r in candidates(ctx, recover_epochs=2) if r.prunes and r.quant == "openvino-int8"]
    assert {r.prune_amount for r in combined} == {0.3, 0.5} and all(r.recover_epochs == 2 for r in combined)


def test_tuner_has_no_openvino_candidates_without_openvino(tmp_path: Path, onnx_model: Path, monkeypatch):
    import importlib.util

    from engines.optimize.tune import candidates

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a))
    assert not any(r.quant.startswith("openvino") for r in candidates(_ctx(tmp_path, onnx_model)))


def test_optimize_screen_offers_the_openvino_modes():
    from workbench.wiring.optimize import quant_modes

    offered = [v for _, v in quant_modes("onnx")]
    assert "openvino-int8" in offered and "openvino-int8-acc" in offered
    assert "openvino-int8" not in [v for _, v in quant_modes("keras")]


def test_pytorch_frontend_ir_matches_the_onnx_one(tmp_path: Path):
    from engines.build.openvino import build_openvino, open_openvino_runner
    from engines.models.export import export_to_onnx
    from engines.models.loader import inspect_model

    pt = tiny_digits_torchscript(tmp_path / "digits.pt")
    onnx_path = tmp_path / "digits.onnx"
    export_to_onnx(pt, onnx_path, input_spec=inspect_model(pt).inputs)
    x = digits_x(6)
    outs = {}
    for frontend in ("onnx", "pytorch"):
        out = tmp_path / frontend / "model.xml"
        out.parent.mkdir()
        report = build_openvino(onnx_path, out, torch_source=pt if frontend == "pytorch" else None)
        assert report["frontend"] == frontend
        runner = open_openvino_runner(out, threads=1)
        name = runner.inputs[0].name
        assert runner.inputs[0].shape[0] == "?"                     # the batch stays dynamic
        outs[frontend] = runner.run({name: x})[0]
    np.testing.assert_allclose(outs["pytorch"], outs["onnx"], atol=1e-4, rtol=1e-4)


def test_cli_build_openvino_from_pytorch(tmp_path: Path, capsys):
    from workbench.cli import main

    pt = tiny_digits_torchscript(tmp_path / "digits.pt")
    np.savez(tmp_path / "d.npz", x=digits_x(16))
    common = [str(pt), "--backend", "openvino", "--workspace", str(tmp_path / "ws"), "--data", str(tmp_path / "d.npz"),
              "--iterations", "5", "--seconds", "0.2", "--threads", "1", "--json"]
    assert main(["build", *common, "--precision", "fp16", "--frontend", "pytorch"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["backend"] == "openvino" and card["precision"] == "fp16" and "pytorch" in card["name"]
    assert card["fidelity"]["top1_agreement"] >= 0.9


def test_cli_build_pytorch_frontend_needs_a_pytorch_model(tmp_path: Path, onnx_model: Path, capsys):
    from workbench.cli import main

    rc = main(["build", str(onnx_model), "--backend", "openvino", "--frontend", "pytorch",
               "--workspace", str(tmp_path / "ws"), "--iterations", "5", "--seconds", "0.2"])
    assert rc == 2 and "PyTorch" in capsys.readouterr().err


def test_a_sweep_runs_on_the_ir(tmp_path: Path, onnx_model: Path):
    from engines.build.openvino import build_openvino
    from engines.measure.sweep import batch_sweep

    out = tmp_path / "model.xml"
    build_openvino(onnx_model, out, hint="throughput")
    res = batch_sweep(out, fmt="openvino", batches=[1, 4], threads=1, iterations=5, budget_s_per_point=0.2, warmup=1)
    assert [p.batch for p in res.points] == [1, 4] and all(p.throughput_ips > 0 for p in res.points)


def _ir(tmp_path: Path, onnx_model: Path) -> Path:
    from engines.build.openvino import build_openvino

    out = tmp_path / "ir" / "model.xml"
    out.parent.mkdir()
    build_openvino(onnx_model, out, precision="int8", data=digits_x(16), streams=1)
    return out


def test_sagemaker_package_of_an_ir(tmp_path: Path, onnx_model: Path):
    import tarfile

    from engines.deploy.package import build_package, safe_extract

    ir = _ir(tmp_path, onnx_model)
    pkg = build_package(ir, tmp_path / "model.tar.gz")
    assert pkg.members[:3] == ["model.xml", "model.bin", "model.openvino.json"]
    assert len(pkg.requirements) == 1 and pkg.requirements[0].startswith("openvino==")
    names = set(safe_extract(pkg.path, tmp_path / "x"))
    assert {"model.xml", "model.bin", "code/inference.py", "code/requirements.txt"} <= names
    meta = json.loads((tmp_path / "x" / "code" / "workbench.json").read_text())
    assert meta["runtime"] == "openvino" and meta["model"] == "model.xml"
    with tarfile.open(pkg.path) as t:
        assert t.extractfile("code/requirements.txt").read().decode().startswith("openvino==")
    ir.with_suffix(".bin").unlink()
    with pytest.raises(WorkbenchError, match="no weights file model.bin"):
        build_package(ir, tmp_path / "again.tar.gz")


def test_deploy_local_serves_the_ir_under_the_container_contract(tmp_path: Path, onnx_model: Path):
    pytest.importorskip("httpx")
    pytest.importorskip("starlette")
    from engines.build.openvino import open_openvino_runner
    from engines.deploy import container_inference as ci
    from engines.deploy.local import local_check
    from engines.deploy.package import build_package

    ir = _ir(tmp_path, onnx_model)
    pkg = build_package(ir, tmp_path / "model.tar.gz")
    x = digits_x(2)
    body = ci.encode_request({"input": x})
    res = local_check(pkg.path, body)
    assert res.ping_status == 200 and res.invoke_status == 200
    assert "model.xml" in res.members and res.output_shapes == {"output": [2, 10]}
    # the handlers themselves: the same numbers as the workbench's runner, bad shapes refused with a 4xx reason
    root = tmp_path / "unpacked"
    from engines.deploy.package import safe_extract

    safe_extract(pkg.path, root)
    model = ci.model_fn(str(root))
    got = ci.predict_fn(ci.input_fn(body, ci.JSON), model)["output"]
    np.testing.assert_allclose(got, open_openvino_runner(ir, threads=1).run({"input": x})[0], atol=1e-5)
    with pytest.raises(ci.RequestError, match="expects shape"):
        ci.predict_fn(np.zeros((1, 1, 9, 9), np.float32), model)


def test_cli_deploy_local_of_an_ir(tmp_path: Path, onnx_model: Path, capsys):
    pytest.importorskip("httpx")
    pytest.importorskip("starlette")
    from workbench.cli import main

    ir = _ir(tmp_path, onnx_model)
    rc = main(["deploy", str(ir), "--serverless", "--local", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["local"]["invoke_status"] == 200 and "model.bin" in out["local"]["members"]
    assert out["package"]["requirements"][0].startswith("openvino==")


def test_validate_refuses_an_ir_on_a_gpu_instance():
    from engines.deploy.spec import DeploySpec, VariantFacts
    from engines.deploy.validate import validate

    facts = VariantFacts(name="ov", format="openvino", model_bytes=1000, request_bytes=100, response_bytes=100,
                         latency_p99_ms=5.0, gpu_only_reason=None)
    with pytest.raises(WorkbenchError, match="OpenVINO IR.*CPU instance"):
        validate(DeploySpec(mode="realtime", name="ov", instance_type="ml.g5.xlarge"), facts, check_image=False,
                 aws=False)
    assert validate(DeploySpec(mode="realtime", name="ov", instance_type="ml.c6i.xlarge"), facts,
                    check_image=False, aws=False) == []


def test_saving_an_ir_variant_copies_its_weights(tmp_path: Path, onnx_model: Path):
    from engines.build.openvino import open_openvino_runner
    from engines.optimize.pipeline import save_variant

    ctx = _ctx(tmp_path, onnx_model)
    v = apply_recipe(ctx, Recipe(quant="openvino-int8")).variant
    (tmp_path / "out").mkdir()
    saved = save_variant(ctx, v, tmp_path / "out")
    assert saved.suffix == ".xml" and saved.with_suffix(".bin").is_file()
    assert open_openvino_runner(saved, threads=1).run({"input": digits_x(2)})[0].shape == (2, 10)


def test_an_op_openvino_cannot_take_fails_only_that_variant_with_the_node_named(tmp_path: Path, onnx_model: Path,
                                                                                  monkeypatch):
    import engines.build.openvino as mod
    from engines.errors import UnsupportedError

    def refuse(src):
        raise UnsupportedError("OpenVINO cannot convert node 'conv9' (op com.example.Fancy) of model.onnx: "
                               "replace the op, or use the ort backend")

    monkeypatch.setattr(mod, "convert_onnx", refuse)
    ctx = _ctx(tmp_path, onnx_model)
    v = apply_recipe(ctx, Recipe(quant="openvino-int8")).variant
    assert v.status == "failed" and "'conv9'" in v.error and "ort backend" in v.error
    assert apply_recipe(ctx, Recipe(quant="int8-static")).variant.status == "ok"   # the others go on
