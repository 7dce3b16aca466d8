"""Threads and streams sweep (issue 17): counts from the CPU affinity, the many-core plan, bad counts as
one-line errors, the typed result and the CLI. Tiny model, a couple of rounds, no speed assertions."""

from __future__ import annotations

import json

import pytest

from engines.errors import WorkbenchError
from engines.measure import paired
from engines.measure.threads import parse_counts, powers_up_to, stream_plan, sweep_threads
from tests.unit.model_factories import tiny_onnx
from workbench.cli import main


def _one_line_error(capsys, argv, needle):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("workbench: error: ") and needle in lines[0]


def test_thread_counts_follow_the_cores_for_many_core_machines():
    assert powers_up_to(1) == [1] and powers_up_to(2) == [1, 2]
    assert powers_up_to(16) == [1, 2, 4, 8, 16] and powers_up_to(6) == [1, 2, 4, 6]
    assert stream_plan(16, [1, 2, 4, 8, 16]) == [(1, 16), (2, 8), (4, 4), (8, 2), (16, 1)]
    assert stream_plan(6, [4]) == [(4, 1)]


@pytest.mark.parametrize("cores,points", [(16, [1, 2, 4, 8, 16]), (64, [1, 2, 4, 8, 16, 32, 64])])
def test_the_plan_for_16_and_64_cores(monkeypatch, cores, points):
    """No machine with many cores here: the plan the sweep would run is checked instead of timed."""
    monkeypatch.setattr(paired, "available_cores", lambda: cores)
    threads = parse_counts(None, "--threads-list", paired.available_cores())
    streams = parse_counts(None, "--streams", paired.available_cores())
    assert threads == points and streams == points          # geometric: 1, 2, 4, ... up to every core
    plan = stream_plan(cores, streams)
    assert plan == [(s, cores // s) for s in points] and plan[0] == (1, cores) and plan[-1] == (cores, 1)
    assert all(s * t == cores for s, t in plan)              # every sessions x threads combination fills the cores
    with pytest.raises(WorkbenchError, match=f"from 1 to {cores}"):
        parse_counts(str(cores + 1), "--threads-list", cores)


def test_default_counts_come_from_the_cpu_affinity(monkeypatch):
    monkeypatch.setattr(paired, "available_cores", lambda: 12)
    assert parse_counts(None, "--threads-list", paired.available_cores()) == [1, 2, 4, 8, 12]
    assert parse_counts("12,1,4,4", "--threads-list", 12) == [1, 4, 12]


@pytest.mark.parametrize("text,needle", [("0", ">= 1"), ("-2", ">= 1"), ("a,b", "whole numbers"),
                                         ("1.5", "whole numbers"), ("1,3", "from 1 to 2"), (",", ">= 1")])
def test_bad_counts_are_refused(text, needle):
    with pytest.raises(WorkbenchError, match=needle):
        parse_counts(text, "--threads-list", 2)


def test_sweep_result_is_typed_and_recommends_measured_configs(tmp_path):
    path = tiny_onnx(tmp_path / "t.onnx")
    r = sweep_threads(path, threads=[1], streams=[1], runtimes=["onnxruntime"], rounds=2, iterations=2,
                      requests=4, input_shapes=[])
    assert [p.threads for p in r.latency] == [1] and r.latency[0].speedup is None
    assert [(p.runtime, p.streams) for p in r.throughput] == [("onnxruntime", 1)]
    assert r.throughput[0].items_per_s > 0 and r.requests_per_burst == 4
    assert r.recommendation.latency_threads == 1 and r.recommendation.throughput_streams == 1
    assert r.cores == paired.available_cores() and r.measured.get("machine")
    data = json.loads(json.dumps(r.to_dict()))
    assert data["recommendation"]["throughput_runtime"] == "onnxruntime"


def test_two_threads_and_two_streams_when_the_cores_allow(tmp_path):
    if paired.available_cores() < 2:
        pytest.skip("one core here")
    r = sweep_threads(tiny_onnx(tmp_path / "t.onnx"), threads=[1, 2], streams=[1, 2], runtimes=["onnxruntime"],
                      rounds=2, iterations=2, requests=8)
    two = r.latency[1]
    assert two.threads == 2 and two.speedup["rounds"] >= 2 and two.efficiency is not None
    assert {(p.streams, p.threads_per_stream) for p in r.throughput} == {(1, 2), (2, 1)}
    assert r.recommendation.latency_threads in (1, 2)


def test_sweep_refuses_bad_inputs(tmp_path):
    path = tiny_onnx(tmp_path / "t.onnx")
    with pytest.raises(WorkbenchError, match="between 1 and"):
        sweep_threads(path, threads=[0])
    with pytest.raises(WorkbenchError, match="between 1 and"):
        sweep_threads(path, streams=[paired.available_cores() + 1])
    with pytest.raises(WorkbenchError, match="unknown runtime"):
        sweep_threads(path, runtimes=["tvm"])
    with pytest.raises(WorkbenchError, match="ONNX"):
        sweep_threads(tmp_path / "m.tflite")


def test_cli_json(capsys, tmp_path):
    path = tiny_onnx(tmp_path / "t.onnx")
    assert main(["threads", str(path), "--threads-list", "1", "--streams", "1", "--runtimes", "onnxruntime",
                 "--rounds", "1", "--iterations", "1", "--requests", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["latency"][0]["threads"] == 1 and data["throughput"][0]["streams"] == 1
    assert "recommendation" in data and data["cores"] >= 1


@pytest.mark.parametrize("argv,needle", [
    (["--threads-list", "0"], "--threads-list '0'"),
    (["--threads-list", "4096"], "core(s)"),
    (["--threads-list", "two"], "whole numbers"),
    (["--streams", "-1"], "--streams"),
    (["--runtimes", "tvm"], "--runtimes"),
    (["--batch", "0"], "must be >= 1"),
])
def test_cli_bad_thread_counts_are_one_line_errors_exit_2(capsys, tmp_path, argv, needle):
    _one_line_error(capsys, ["threads", str(tiny_onnx(tmp_path / "t.onnx")), *argv], needle)


def test_cli_refuses_a_model_it_cannot_run(capsys, samples_dir):
    _one_line_error(capsys, ["threads", str(samples_dir / "digits_keras.tflite"), "--runtimes", "onnxruntime"],
                    "ONNX")


def test_openvino_streams_are_measured_beside_onnxruntime(tmp_path):
    pytest.importorskip("openvino")
    r = sweep_threads(tiny_onnx(tmp_path / "t.onnx"), threads=[1], streams=[1], rounds=2, iterations=2, requests=4)
    runtimes = {p.runtime: p for p in r.throughput}
    assert set(runtimes) == {"onnxruntime", "openvino"}
    ov = runtimes["openvino"]
    assert ov.items_per_s > 0 and ov.vs_reference["rounds"] >= 2 and ov.request_p50_ms > 0
    assert r.throughput_reference == f"onnxruntime 1x{r.cores}"


def test_stream_counts_that_would_not_fit_in_memory_are_dropped_and_said(tmp_path, monkeypatch):
    import psutil

    from engines.measure import threads

    path = tiny_onnx(tmp_path / "t.onnx")
    size = (tmp_path / "t.onnx").stat().st_size
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"available": size * 3 * 4 * 4})())
    notes: list[str] = []
    assert threads._fit_in_memory(str(path), [1, 2, 4, 8], 1, notes) == [1, 2]
    assert "streams 4, 8 not measured" in notes[0]
    assert threads._fit_in_memory(str(path), [1, 2], 1, []) == [1, 2]
