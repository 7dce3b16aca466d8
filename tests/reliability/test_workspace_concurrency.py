"""Several runs on one workspace (CLI + CLI, TUI + CLI) never drop each other's variants."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from engines.workspace import Workspace

RUNS = 5


def _one_run(root: str, i: int, barrier) -> None:
    ws = Workspace(root)  # opened before the others save: its in-memory copy is stale by the time it saves
    barrier.wait(timeout=60)

    def build(folder: Path) -> dict:
        (folder / "model.onnx").write_bytes(b"m%d" % i)
        return {"file": "model.onnx", "format": "onnx"}

    v = ws.create({"run": i}, build, name=f"run{i}", kind="quantized")
    ws.update_metrics(v.id, accuracy=i / 10)
    ws.update_extra(v.id, note=f"from run {i}")


def test_concurrent_processes_all_land_in_the_manifest(tmp_path):
    root = tmp_path / "ws"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(RUNS)
    procs = [ctx.Process(target=_one_run, args=(str(root), i, barrier)) for i in range(RUNS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * RUNS
    ws = Workspace(root)
    by_name = {v.name: v for v in ws.variants()}
    assert sorted(by_name) == [f"run{i}" for i in range(RUNS)]
    for i in range(RUNS):
        assert by_name[f"run{i}"].metrics["accuracy"] == i / 10
        assert by_name[f"run{i}"].extra["note"] == f"from run {i}"
    assert len(json.loads((root / "manifest.json").read_text())["variants"]) == RUNS


def _build(tag: bytes):
    def build(folder: Path) -> dict:
        (folder / "model.onnx").write_bytes(tag)
        return {"file": "model.onnx", "format": "onnx"}
    return build


def test_a_long_open_workspace_merges_instead_of_overwriting(tmp_path):
    tui, cli = Workspace(tmp_path), Workspace(tmp_path)   # the TUI opened first, then a CLI run
    a = cli.create({"r": "a"}, _build(b"a"), name="a", kind="quantized")
    b = tui.create({"r": "b"}, _build(b"b"), name="b", kind="quantized")
    assert {v.name for v in Workspace(tmp_path).variants()} == {"a", "b"}
    assert {v.name for v in tui.variants()} == {"a", "b"}
    cli.remove(a.id)
    tui.update_metrics(b.id, accuracy=0.5)          # must not bring the removed variant back
    fresh = Workspace(tmp_path)
    assert [v.name for v in fresh.variants()] == ["b"] and fresh.get(b.id).metrics["accuracy"] == 0.5
    assert b.metrics["accuracy"] == 0.5               # the object the caller holds is kept current


def test_recipe_built_by_another_run_is_reused(tmp_path):
    first, second = Workspace(tmp_path), Workspace(tmp_path)
    v = first.create({"r": 1}, _build(b"1"), name="one", kind="quantized")
    calls = []
    again = second.create({"r": 1}, lambda folder: calls.append(folder) or {}, name="one", kind="quantized")
    assert again.id == v.id and calls == []


def _same_recipe(root: str, barrier, out) -> None:
    ws = Workspace(root)
    barrier.wait(timeout=60)

    def build(folder: Path) -> dict:
        (folder / "model.onnx").write_bytes(b"same")
        return {"file": "model.onnx", "format": "onnx"}

    v = ws.create({"same": 1}, build, name="same", kind="quantized")
    out.put(ws.model_path(v).read_bytes())


def test_the_same_recipe_built_at_once_never_deletes_a_published_folder(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(RUNS), ctx.Queue()
    procs = [ctx.Process(target=_same_recipe, args=(str(tmp_path), barrier, out)) for _ in range(RUNS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * RUNS
    assert [out.get(timeout=5) for _ in range(RUNS)] == [b"same"] * RUNS
    assert [v.name for v in Workspace(tmp_path).variants()] == ["same"]
    assert not list((tmp_path / "variants").glob(".*"))
