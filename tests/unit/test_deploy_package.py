"""model.tar.gz -> unpacked -> served under the SageMaker container contract -> invoked: proves inference.py."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from engines.deploy import container_inference as ci
from engines.deploy.local import LocalContainer, local_check
from engines.deploy.package import INFERENCE_SOURCE, build_package, safe_extract
from engines.errors import Cancelled, WorkbenchError
from engines.tasks import TaskContext
from tests.unit.deploy_helpers import tiny_onnx

SAMPLE = Path(__file__).resolve().parents[2] / "sample_models" / "digits_cnn.onnx"


@pytest.fixture
def model(tmp_path):
    return tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def package(model, tmp_path):
    return build_package(model, tmp_path / "out" / "model.tar.gz", variant={"name": "tiny"})


def _reference(model_path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_package_layout_and_contents(package, model):
    import onnxruntime

    with tarfile.open(package.path) as tar:
        names = tar.getnames()
        inference = tar.extractfile("code/inference.py").read()
        reqs = tar.extractfile("code/requirements.txt").read().decode()
        meta = json.loads(tar.extractfile("code/workbench.json").read())
        onnx_bytes = tar.extractfile("model.onnx").read()
    assert names == ["model.onnx", "code/inference.py", "code/requirements.txt", "code/workbench.json"]
    assert inference == INFERENCE_SOURCE.read_bytes()
    assert reqs.strip() == f"onnxruntime=={onnxruntime.__version__.split('+')[0]}"
    assert onnx_bytes == model.read_bytes() and meta["variant"] == {"name": "tiny"}
    assert package.size_bytes == package.path.stat().st_size and len(package.sha256) == 64


def test_same_variant_gives_the_same_bytes(package, model, tmp_path):
    again = build_package(model, tmp_path / "again" / "model.tar.gz", variant={"name": "tiny"})
    assert again.sha256 == package.sha256


def test_cancelled_build_leaves_no_file(model, tmp_path):
    ctx = TaskContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        build_package(model, tmp_path / "c" / "model.tar.gz", task=ctx)
    assert not (tmp_path / "c" / "model.tar.gz").exists()
    assert list((tmp_path / "c").glob("*")) == []


def test_non_onnx_refused(tmp_path):
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"x")
    with pytest.raises(WorkbenchError, match="not an ONNX model"):
        build_package(bad, tmp_path / "model.tar.gz")


def _tar_with(tmp_path: Path, build) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


def _add(tar, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, (len(data) if kind == tarfile.REGTYPE else 0)
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize("build,why", [
    (lambda t: _add(t, "../escape.txt"), "outside"),
    (lambda t: _add(t, "/etc/evil.txt"), "outside"),
    (lambda t: _add(t, "code/../../escape.txt"), "outside"),
    (lambda t: _add(t, "link", kind=tarfile.SYMTYPE, link="/etc/passwd"), "links"),
    (lambda t: _add(t, "hard", kind=tarfile.LNKTYPE, link="model.onnx"), "links"),
])
def test_safe_extract_refuses_dangerous_members(tmp_path, build, why):
    archive = _tar_with(tmp_path, build)
    dest = tmp_path / "dest"
    with pytest.raises(WorkbenchError, match=why):
        safe_extract(archive, dest)
    assert not (tmp_path / "escape.txt").exists() and list(dest.rglob("*")) == []


def test_package_served_locally_matches_onnxruntime(package, model):
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    want = _reference(model, x)
    with LocalContainer(package.path) as box:
        assert box.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{box.url}/ping").status_code == 200
        r = httpx.post(f"{box.url}/invocations", content=json.dumps({"inputs": x.tolist()}),
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        got = np.asarray(r.json()["outputs"]["logits"], dtype=np.float32)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        r = httpx.post(f"{box.url}/invocations", content=ci.encode_request({"x": x}, ci.NPY),
                       headers={"Content-Type": ci.NPY, "Accept": ci.NPY})
        assert r.status_code == 200 and r.headers["content-type"].startswith(ci.NPY)
        np.testing.assert_allclose(np.load(io.BytesIO(r.content)), want, rtol=1e-5, atol=1e-5)
        root = box.root
        assert (root / "code" / "inference.py").is_file()
    assert not root.exists()  # the temp /opt/ml/model stand-in is removed


@pytest.mark.parametrize("body,ctype,status,msg", [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"", "application/json", 400, "empty request body"),
    (json.dumps({"inputs": [[1.0, 2.0]]}).encode(), "application/json", 400, "expects shape"),
    (json.dumps({"inputs": [[1, [2]]]}).encode(), "application/json", 400, "rectangular"),
    (b"a,b", "text/csv", 400, "unsupported content type"),
    (b"garbage", ci.NPY, 400, "not a valid"),
    (b"x" * (6 * 1024 * 1024 + 1), "application/json", 413, "body over"),
], ids=["malformed-json", "empty", "wrong-shape", "ragged", "wrong-content-type", "bad-npy", "oversize"])
def test_bad_requests_get_4xx_and_server_stays_up(package, body, ctype, status, msg):
    with LocalContainer(package.path) as box:
        r = httpx.post(f"{box.url}/invocations", content=body, headers={"Content-Type": ctype})
        assert r.status_code == status and msg in r.json()["error"]
        assert httpx.get(f"{box.url}/ping").status_code == 200


def test_local_check_reports_latency(package):
    x = np.zeros((1, 1, 8, 8), np.float32)
    res = local_check(package.path, ci.encode_request({"x": x}))
    assert res.ping_status == 200 and res.invoke_status == 200
    assert res.latency_ms > 0 and res.output_shapes == {"logits": [1, 10]}
    assert res.members[0] == "model.onnx"


def test_concurrent_requests_are_answered(package):
    x = np.ones((1, 1, 8, 8), np.float32)
    body = ci.encode_request({"x": x})
    codes = []
    with LocalContainer(package.path) as box:
        def hit():
            codes.append(httpx.post(f"{box.url}/invocations", content=body,
                                    headers={"Content-Type": "application/json"}).status_code)

        threads = [threading.Thread(target=hit) for _ in range(8)]
        [t.start() for t in threads]
        [t.join(30) for t in threads]
    assert codes == [200] * 8


def test_handlers_directly_single_sample_without_batch_dim(model, tmp_path):
    loaded = ci.model_fn(str(model.parent))
    data = ci.input_fn(json.dumps(np.zeros((1, 8, 8)).tolist()), "application/json")
    out = ci.predict_fn(data, loaded)
    assert out["logits"].shape == (1, 10)
    assert json.loads(ci.output_fn(out, "application/json"))["outputs"]["logits"][0] == pytest.approx(
        out["logits"][0].tolist())
    with pytest.raises(ci.RequestError, match="NaN"):
        ci.predict_fn(np.full((1, 1, 8, 8), np.nan, np.float32), loaded)


def test_external_data_model_is_packaged_and_served(tmp_path):
    import onnx

    src = tiny_onnx(tmp_path / "src.onnx")
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    m = onnx.load(str(src))
    onnx.save_model(m, str(ext_dir / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=1024)
    pkg = build_package(ext_dir / "model.onnx", tmp_path / "p" / "model.tar.gz")
    assert "weights.bin" in pkg.members
    res = local_check(pkg.path, ci.encode_request({"x": np.zeros((1, 1, 8, 8), np.float32)}))
    assert res.invoke_status == 200


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample_models/digits_cnn.onnx not built")
def test_digits_sample_package_classifies_like_onnxruntime(tmp_path):
    data = np.load(SAMPLE.parent / "digits_test.npz")
    x = data["x"][:4].astype(np.float32)
    pkg = build_package(SAMPLE, tmp_path / "model.tar.gz")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(SAMPLE), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with LocalContainer(pkg.path) as box:
        r = httpx.post(f"{box.url}/invocations", content=ci.encode_request({"x": x}, ci.NPY),
                       headers={"Content-Type": ci.NPY, "Accept": ci.NPY})
    got = np.load(io.BytesIO(r.content))
    assert (got.argmax(1) == want.argmax(1)).all()


def test_cli_deploy_local_serves_the_package_and_invokes_it(model, capsys):
    from workbench.cli import main

    assert main(["deploy", str(model), "--local", "--json", "--memory", "1024"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["local"]["ping_status"] == 200 and doc["local"]["invoke_status"] == 200
    assert doc["local"]["url"].startswith("http://127.0.0.1:") and doc["local"]["latency_ms"] > 0
    assert doc["package"]["members"][:2] == ["model.onnx", "code/inference.py"]
    # serverless limits still apply locally; AWS-only fields (role, bucket) do not
    assert main(["deploy", str(model), "--local", "--memory", "1000"]) == 2
    assert "memory 1000 MB is not allowed" in capsys.readouterr().err
