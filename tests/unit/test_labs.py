"""The labs' step checks, order rules, explanations and summaries, from hand-made state (no model work)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from engines.errors import WorkbenchError
from engines.labs import record, state, summary, why
from engines.labs.actions import LabEnv, model_problem, run_step
from engines.labs.tours import LABS, STEP_KEYS, lab
from engines.workspace import Variant


def variant(vid: str, kind: str, **recipe) -> Variant:
    base = {"prune_mode": "none", "prune_amount": 0.0, "quant": "none"}
    return Variant(id=vid, name=vid, kind=kind, format="onnx", file="model.onnx", recipe={**base, **recipe},
                   metrics={"latency_ms": {"p50": 1.0, "p99": 2.0}, "accuracy": 0.9, "size_bytes": 2048})


class FakeWs:
    def __init__(self, root: Path) -> None:
        self.root = root


def facts(variants=(), rec=None, cloud_url=None, status=None) -> state.Facts:
    return state.Facts(Path("m.onnx"), "onnx", list(variants), rec or {}, cloud_url, dict(status or {}))


BASE = variant("b0", "baseline")
INT8 = variant("q8", "quantized", quant="int8-static")
STRUCT = variant("ps", "pruned", prune_mode="structured", prune_amount=0.5)


def done(lab_no: int, f: state.Facts) -> dict[str, bool]:
    return {s.step.id: s.done for s in state.states(lab(lab_no), f)}


def test_every_lab_has_keyed_steps_and_known_checks():
    assert [x.number for x in LABS] == [1, 2, 3, 4, 5, 6]
    for x in LABS:
        assert 2 <= len(x.steps) <= len(STEP_KEYS) and x.try_next
        for s in x.steps:
            assert all(n in [t.id for t in x.steps] for n in s.needs)
            assert state.check_step(x, s, facts())[1] != "unknown step"
    with pytest.raises(WorkbenchError, match="no lab 7"):
        lab(7)


def test_lab1_checks_follow_the_variants():
    assert done(1, facts()) == {"baseline": False, "int8": False, "bench1": False}
    assert done(1, facts([BASE])) == {"baseline": True, "int8": False, "bench1": False}
    assert done(1, facts([BASE, INT8])) == {"baseline": True, "int8": True, "bench1": False}
    dynamic = variant("qd", "quantized", quant="int8-dynamic")
    assert not done(1, facts([BASE, dynamic]))["int8"]          # only INT8 static counts
    failed = variant("qf", "quantized", quant="int8-static")
    failed.status = "failed"
    assert not done(1, facts([BASE, failed]))["int8"]


def test_a_benchmark_counts_only_while_its_variants_exist():
    rec = {"lab1": {"bench1": {"variant_ids": ["b0", "q8"], "rounds": 7, "at": "t", "rows": []}}}
    assert done(1, facts([BASE, INT8], rec))["bench1"]
    assert not done(1, facts([BASE], rec))["bench1"]            # the INT8 variant was removed


def test_out_of_order_names_the_step_first():
    f = facts()
    problem = state.order_problem(lab(1), "bench1", f)
    assert problem.startswith("do step b first (Quantize to INT8 static)")
    assert state.order_problem(lab(1), "bench1", facts([BASE, INT8])) is None
    # a step whose inputs exist already (made elsewhere) is accepted out of order
    assert state.order_problem(lab(2), "bench2", facts([BASE, STRUCT, variant("pu", "pruned",
                               prune_mode="unstructured", prune_amount=0.5)])) is None
    assert state.order_problem(lab(4), "deploy", facts([BASE])).startswith("do step b first (Start the practice")
    assert state.next_step(lab(1), facts([BASE])).id == "int8"


def test_deploy_check_reads_the_endpoint_status():
    dep = {"lab4": {"deploy": {"endpoint": "wb-x", "cloud_url": "http://127.0.0.1:1", "at": "t"}}}
    assert done(4, facts([BASE], dep))["deploy"] is False          # the cloud that held it is gone
    assert done(4, facts([BASE], dep, "http://127.0.0.1:1", {"wb-x": "InService"}))["deploy"]
    assert not done(4, facts([BASE], dep, "http://127.0.0.1:1", {"wb-x": "Creating"}))["deploy"]
    torn = {"lab4": {**dep["lab4"], "teardown": {"endpoint": "wb-x", "removed": ["a", "b"], "at": "t"}}}
    st = done(4, facts([BASE], torn, "http://127.0.0.1:1", {"wb-x": "absent"}))
    assert st["deploy"] and st["teardown"] and not st["monitor"]


def test_model_problem_says_why_and_names_the_sample():
    assert model_problem(lab(1), "onnx") is None and model_problem(lab(3), "torchscript") is None
    text = model_problem(lab(3), "onnx")
    assert "cannot use this ONNX model" in text and "digits32_resnet.pt" in text
    assert "cannot use" in model_problem(lab(1), "tflite")
    assert "needs a model" in model_problem(lab(2), None)


def test_run_step_refuses_a_wrong_model_before_any_work(tmp_path):
    tflite = Path(__file__).resolve().parents[2] / "sample_models" / "digits_keras.tflite"
    env = LabEnv(tflite, workspace=None)
    with pytest.raises(WorkbenchError, match="cannot use this TFLite model"):
        run_step(env, 1, "baseline")
    assert env.workspace is None


def test_record_is_written_atomically_and_read_back(tmp_path):
    entry = record.put(tmp_path, 6, "sweep", {"variant_ids": ["b0"], "points": []})
    assert entry["at"].endswith("Z")
    data = record.load(tmp_path)
    assert record.get(data, 6, "sweep")["variant_ids"] == ["b0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labs.json"]
    (tmp_path / "labs.json").write_text("{not json")
    assert record.load(tmp_path) == {}


def test_why_batching_comes_from_the_sweep_and_the_served_figures():
    rec = {"lab6": {"sweep": {"variant_ids": ["b0"], "threads": 2, "at": "t", "points": [
        {"batch": 1, "p50_ms": 1.0, "ips": 1000.0, "cpu_mean": 95.0},
        {"batch": 2, "p50_ms": 1.2, "ips": 1600.0, "cpu_mean": 96.0},
        {"batch": 4, "p50_ms": 2.3, "ips": 1650.0, "cpu_mean": 97.0}]},
        "serve": {"variant_ids": ["b0"], "levels": [1, 8], "at": "t", "stats": {"on": {"mean_batch": 3.5}},
                  "on": [{"concurrency": 1, "rps": 300.0, "p50_ms": 3.0, "p99_ms": 5.0},
                         {"concurrency": 8, "rps": 900.0, "p50_ms": 8.0, "p99_ms": 12.0}],
                  "off": [{"concurrency": 1, "rps": 310.0, "p50_ms": 3.0, "p99_ms": 5.0},
                          {"concurrency": 8, "rps": 450.0, "p50_ms": 16.0, "p99_ms": 30.0}]}}}
    lines = why.lab6(facts([BASE], rec), None)
    text = "\n".join(lines)
    assert "1,000/s at batch 1 → 1,650/s at batch 4 (1.6x)" in text
    assert "stops growing from batch 4" in text and "saturated" in text
    assert "2.00x" in text and "why batching helped" in text and "3.5 requests" in text
    assert "33 %" in text            # model 1.0 ms of a 3.0 ms request
    assert "published" in text


def test_why_lab5_gpu_break_even_is_from_the_catalog_and_the_measurement():
    rec = {"lab5": {"cost": {"variant_ids": ["b0"], "at": "t", "rows": [], "measured": {"ips": 900, "batch": 32},
                             "profile": {"requests_per_month": 1}},
                    "gpu_cost": {"variant_ids": ["b0"], "at": "t", "sentence": "g4dn.xlarge must exceed 2,700/s"}}}
    text = "\n".join(why.lab5(facts([BASE], rec), None))
    assert "g4dn.xlarge must exceed 2,700/s" in text and "not measured here" in text


def test_summary_markdown_has_the_steps_figures_and_why(tmp_path):
    rec = {"lab1": {"bench1": {"variant_ids": ["b0", "q8"], "rounds": 7, "at": "t", "rows": [
        {"id": "q8", "name": "q8", "p50_ms": 0.5, "reference_p50_ms": 1.0, "speedup": 2.0, "interval": [1.8, 2.2],
         "within_noise": False, "rounds": 7}]}}}
    text = summary.markdown(lab(1), facts([BASE, INT8], rec), None, now=0)
    assert text.startswith("# Lab 1: Convert to ONNX, quantize, benchmark")
    assert "| ✓ | a. Export the model to ONNX" in text and "| ✓ | c. Benchmark INT8" in text
    assert "| q8 | 1.000 | 2.000 |" in text
    assert "2.00x faster (interval 1.80–2.20 over 7 rounds)" in text
    assert "1970-01-01 00:00 UTC" in text


def test_summary_saved_to_the_workspace_or_a_chosen_path_never_cwd(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    ws = FakeWs(tmp_path / "ws")
    p = summary.save("# hi\n", lab(2), ws)
    assert p.parent == ws.root / "labs" and p.name.startswith("lab2-summary-") and p.read_text() == "# hi\n"
    out = tmp_path / "out"
    out.mkdir()
    assert summary.save("x", lab(2), ws, out).parent == out          # a folder: the file goes in it
    assert summary.save("x", lab(2), ws, out / "mine.md") == out / "mine.md"
    with pytest.raises(WorkbenchError, match="give a .md file name"):
        summary.save("x", lab(2), ws, out / "mine.exe")
    with pytest.raises(WorkbenchError, match="no such folder"):
        summary.save("x", lab(2), ws, tmp_path / "missing" / "s.md")
    with pytest.raises(WorkbenchError, match="no workspace"):
        summary.save("x", lab(2), None)
    assert list(cwd.iterdir()) == []
    assert not [f for f in (ws.root / "labs").iterdir() if f.suffix != ".md"]


def test_practice_cloud_starts_answers_and_refuses_a_taken_port():
    from engines.deploy import practice

    try:
        cloud = practice.start()
        assert cloud.url.startswith("http://127.0.0.1:") and practice.current() is cloud
        assert practice.start() is cloud                              # one per process
        c = cloud.clients()
        assert practice.BUCKET in [b["Name"] for b in c.s3.list_buckets()["Buckets"]]   # moto state is per process
        assert c.endpoint_url == cloud.url and "practice" in cloud.label
        with pytest.raises(WorkbenchError, match="already runs on port"):
            practice.start(cloud.port + 1 if cloud.port < 65535 else 1)
    finally:
        practice.stop()
    assert practice.current() is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WorkbenchError, match=f"port {port} on 127.0.0.1 is taken by another program"):
            practice.start(port)
    assert practice.current() is None
    with pytest.raises(WorkbenchError, match="not a TCP port"):
        practice.start(70000)


def test_cli_lab_list_check_and_bad_number(tmp_path, capsys):
    from workbench.cli import main

    assert main(["lab", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [x["number"] for x in listed] == [1, 2, 3, 4, 5, 6] and listed[0]["steps"][0]["key"] == "a"
    assert main(["lab", "9"]) == 2
    assert "there is no lab 9" in capsys.readouterr().err
    onnx = Path(__file__).resolve().parents[2] / "sample_models" / "digits_cnn.onnx"
    assert main(["lab", "3", "--check", "--json", "--model", str(onnx), "--workspace", str(tmp_path / "ws")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "cannot use this ONNX model" in out[0]["problem"] and not any(s["done"] for s in out[0]["steps"])
    assert out[0]["steps"][1]["after"] == "a"
    dest = tmp_path / "s.md"
    assert main(["lab", "3", "--check", "--model", str(onnx), "--workspace", str(tmp_path / "ws"),
                 "--save", str(dest)]) == 0
    assert dest.read_text().startswith("# Lab 3:")
    assert main(["lab", "--save", str(dest)]) == 2


def test_cli_lab_n_opens_the_tui_on_that_lab(monkeypatch):
    from workbench.app import WorkbenchApp
    from workbench.cli import main
    from workbench.wiring.labs import sample_path

    seen = {}

    def fake_run(self, *a, **k):
        seen.update(area=self.start_area, lab=self.lab_start, model=self.initial_model)

    monkeypatch.setattr(WorkbenchApp, "run", fake_run)
    assert main(["lab", "4"]) == 0
    assert seen == {"area": "labs", "lab": 4, "model": sample_path()}
    assert main(["lab", "--model", "/no/such/model.onnx"]) == 2
