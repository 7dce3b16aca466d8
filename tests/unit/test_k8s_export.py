"""KServe + HPA export, validated offline with real validators (KServe's CRD schema via jsonschema,
kubernetes-validate for the HPA); bad input refused."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

pytest.importorskip("kubernetes_validate")

from engines.deploy.k8s import capacity, hpa, inference_service, isvc_schema, validate_manifest  # noqa: E402
from engines.deploy.k8s_export import export_k8s, validate_files  # noqa: E402
from engines.errors import WorkbenchError  # noqa: E402
from engines.targets import Target  # noqa: E402
from tests.unit.deploy_helpers import measured, tiny_onnx  # noqa: E402
from workbench.cli import main  # noqa: E402


def _target(path, fmt="onnx"):
    return Target(name=path.stem, path=path, format=fmt)


@pytest.fixture
def onnx_target(tmp_path):
    return _target(tiny_onnx(tmp_path / "tiny.onnx"))


def test_capacity_from_measured_throughput_and_budget():
    m = measured(latency_ms=2.0, ips=400.0, p99=3.0)
    c = capacity(m, latency_budget_ms=50, peak_rps=1000, safety=0.5)
    assert c.per_replica_rps == pytest.approx(500.0) and c.batch == 1     # batch-1 rate 1000 / 2 ms
    assert c.target_rps == pytest.approx(250.0) and c.max_replicas == 4   # ceil(1000 / 250)
    m.batch, m.ips = 8, 2000.0                                            # 8 / 2000 s = 4 ms a batch
    c = capacity(m, latency_budget_ms=10, peak_rps=1000, safety=0.5)
    assert c.per_replica_rps == 2000.0 and c.batch == 8 and c.max_replicas == 1
    c = capacity(m, latency_budget_ms=3.5, peak_rps=1000, safety=0.5)     # batch over budget: batch 1
    assert c.batch == 1 and any("over the budget" in n for n in c.notes)


@pytest.mark.parametrize("kw, msg", [({"latency_budget_ms": 1}, "over the 1 ms budget"),
                                     ({"latency_budget_ms": -5}, "positive"), ({"peak_rps": 0}, "positive"),
                                     ({"safety": 1.5}, "safety"), ({"min_replicas": 0}, "replicas")])
def test_capacity_bad_input(kw, msg):
    args = {"latency_budget_ms": 50, "peak_rps": 10, **kw}
    with pytest.raises(WorkbenchError, match=msg):
        capacity(measured(latency_ms=2.0, p99=3.0), **args)


def test_export_triton_writes_valid_manifests(tmp_path, onnx_target):
    out = export_k8s(onnx_target, tmp_path / "k8s", storage_uri="s3://b/models/tiny", latency_budget_ms=50,
                     peak_rps=1000, measured=measured(latency_ms=2.0, ips=400.0, p99=3.0))
    assert {"inferenceservice.yaml", "hpa.yaml", "k8s.json", "model_repository/tiny/config.pbtxt",
            "model_repository/tiny/1/model.onnx"} <= set(out.files)
    isvc = yaml.safe_load((tmp_path / "k8s/inferenceservice.yaml").read_text())
    scaler = yaml.safe_load((tmp_path / "k8s/hpa.yaml").read_text())
    assert isvc["spec"]["predictor"]["model"]["runtime"] == "kserve-tritonserver"
    assert scaler["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "350"   # 500 x 0.7
    assert scaler["spec"]["maxReplicas"] == 3 and scaler["spec"]["scaleTargetRef"]["name"] == "tiny-predictor"
    assert validate_manifest(isvc) == [] and validate_manifest(scaler) == []
    assert all(not p for p in validate_files([tmp_path / "k8s/inferenceservice.yaml",
                                              tmp_path / "k8s/hpa.yaml"]).values())
    with pytest.raises(WorkbenchError, match="exists"):
        export_k8s(onnx_target, tmp_path / "k8s", storage_uri="s3://b/m", latency_budget_ms=50, peak_rps=1,
                   measured=measured())


def test_export_workbench_image(tmp_path, onnx_target):
    out = export_k8s(onnx_target, tmp_path / "wb", runtime="workbench", image="registry.example/wb:1",
                     storage_uri="pvc://models/tiny", latency_budget_ms=50, peak_rps=10, measured=measured())
    isvc = out.manifests[0]
    c = isvc["spec"]["predictor"]["containers"][0]
    assert c["image"] == "registry.example/wb:1" and c["args"][:2] == ["serve", "/mnt/models/tiny.onnx"]
    assert validate_manifest(isvc) == []
    with pytest.raises(WorkbenchError, match="needs --image"):
        export_k8s(onnx_target, tmp_path / "wb2", runtime="workbench", storage_uri="pvc://m/t",
                   latency_budget_ms=50, peak_rps=10, measured=measured())
    assert not (tmp_path / "wb2").exists()


@pytest.mark.parametrize("fmt, why", [("tflite", "no TFLite backend"), ("tensorrt", "TensorRT engine"),
                                      ("openvino", "OpenVINO IR")])
def test_triton_cannot_run_variant(tmp_path, fmt, why):
    f = tmp_path / f"m.{fmt}"
    f.write_bytes(b"x")
    with pytest.raises(WorkbenchError, match=f"Triton cannot run m: .*{why}"):
        export_k8s(_target(f, fmt), tmp_path / "o", storage_uri="s3://b/m", latency_budget_ms=50, peak_rps=1,
                   measured=measured())
    assert not (tmp_path / "o").exists()


def test_triton_cannot_express_dtype(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.COMPLEX64, ["N", 2])
    y = helper.make_tensor_value_info("y", TensorProto.COMPLEX64, ["N", 2])
    m = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "c", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "c.onnx"))
    with pytest.raises(WorkbenchError, match="Triton cannot run c: .*cannot express"):
        export_k8s(_target(tmp_path / "c.onnx"), tmp_path / "o", storage_uri="s3://b/m", latency_budget_ms=50,
                   peak_rps=1, measured=measured())
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


def test_validator_catches_bad_manifests():
    cap = capacity(measured(latency_ms=2.0, p99=3.0), latency_budget_ms=50, peak_rps=10)
    isvc = inference_service("ok", runtime="triton", storage_uri="s3://b/m", cap=cap,
                             resources={"requests": {"cpu": "1"}})
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["minReplicas"] = "two"
    assert any("minReplicas" in p for p in validate_manifest(bad))
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["modle"] = {}                       # typo: unknown field, strict
    assert any("modle" in p for p in validate_manifest(bad))
    bad = copy.deepcopy(isvc)
    bad["metadata"]["name"] = "Not_A_Name"
    assert any("DNS-1123" in p for p in validate_manifest(bad))
    scaler = hpa("ok", cap)
    bad = copy.deepcopy(scaler)
    bad["spec"]["maxReplicas"] = "3"
    assert any("maxReplicas" in p for p in validate_manifest(bad))
    bad = copy.deepcopy(scaler)
    del bad["spec"]["scaleTargetRef"]
    assert validate_manifest(bad)
    assert isvc_schema()["source"].startswith("https://github.com/kserve/kserve/blob/v0.20.0/")


def test_cli_export_and_validate(tmp_path, onnx_target, capsys):
    assert main(["k8s", "export", str(onnx_target.path), "--out", str(tmp_path / "x"), "--storage-uri",
                 "s3://b/m", "--latency-budget", "1000", "--peak-rps", "5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runtime"] == "triton" and doc["capacity"]["target_rps"] > 0
    assert main(["k8s", "validate", str(tmp_path / "x/hpa.yaml"), str(tmp_path / "x/inferenceservice.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\n"
                   "spec: {maxReplicas: x, scaleTargetRef: {kind: Deployment, name: a}}\n")
    capsys.readouterr()
    assert main(["k8s", "validate", str(bad)]) == 2
    assert "INVALID" in capsys.readouterr().out
    assert main(["k8s", "export", str(onnx_target.path), "--out", str(tmp_path / "y"), "--storage-uri",
                 "nowhere", "--latency-budget", "10", "--peak-rps", "5"]) == 2
    assert "--storage-uri" in capsys.readouterr().err
