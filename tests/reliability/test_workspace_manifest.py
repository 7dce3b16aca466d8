"""The manifest is read as untrusted input: wrong structure, a newer version or escaping paths are refused."""

from __future__ import annotations

import json
import os

import pytest

from engines.errors import WorkbenchError
from engines.workspace import Workspace

GOOD = {"id": "0123456789abcdef", "name": "v", "kind": "quantized", "format": "onnx", "file": "model.onnx",
        "recipe": {}, "status": "ok", "metrics": {}, "extra": {}, "created": 1.0}


def _write(root, data) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps(data))
    folder = root / "variants" / GOOD["id"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(b"m")


def _variant(**changes):
    v = dict(GOOD)
    v.update(changes)
    return v


@pytest.mark.parametrize("data", [
    [GOOD],                                                    # a list, not an object
    {"version": 1, "variants": {"0": GOOD}},                   # variants not a list
    {"version": 1, "variants": ["0123456789abcdef"]},          # an entry that is not an object
    {"version": 1, "variants": [{k: v for k, v in GOOD.items() if k != "id"}]},   # missing id
    {"version": 1, "variants": [_variant(recipe=["q"])]},      # recipe not an object
    {"version": 1, "variants": [_variant(metrics="fast")]},    # metrics not an object
    {"version": "1", "variants": [GOOD]},                      # version not an integer
    {"version": 1, "variants": [_variant(id="../../elsewhere")]},  # id that is not a folder name
], ids=["list", "variants-dict", "entry-str", "no-id", "recipe-list", "metrics-str", "version-str", "id-path"])
def test_wrong_structure_is_one_line_naming_the_manifest(tmp_path, data):
    _write(tmp_path, data)
    with pytest.raises(WorkbenchError) as exc:
        Workspace(tmp_path)
    assert "manifest.json" in str(exc.value) and "\n" not in str(exc.value)


def test_a_newer_manifest_is_refused_and_left_as_it_is(tmp_path):
    _write(tmp_path, {"version": 99, "variants": [GOOD]})
    before = (tmp_path / "manifest.json").read_bytes()
    with pytest.raises(WorkbenchError, match="newer workbench"):
        Workspace(tmp_path)
    assert (tmp_path / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("file", ["../../../../etc/passwd", "/etc/passwd", "..", "a/../../b", "C:\\evil"])
def test_a_file_path_escaping_the_variant_folder_is_refused(tmp_path, file):
    _write(tmp_path, {"version": 1, "variants": [_variant(file=file)]})
    with pytest.raises(WorkbenchError, match="outside"):
        Workspace(tmp_path)


def test_a_symlink_out_of_the_workspace_is_refused(tmp_path):
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"x")
    root = tmp_path / "ws"
    _write(root, {"version": 1, "variants": [_variant(file="link.onnx")]})
    os.symlink(outside, root / "variants" / GOOD["id"] / "link.onnx")
    ws = Workspace(root)
    with pytest.raises(WorkbenchError, match="outside"):
        ws.model_path(GOOD["id"])


def test_a_good_manifest_still_opens(tmp_path):
    _write(tmp_path, {"version": 1, "variants": [GOOD]})
    assert [v.id for v in Workspace(tmp_path).variants()] == [GOOD["id"]]
