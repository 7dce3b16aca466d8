"""A .pt2 may carry compiled native code that torch.export.load dlopens: it is code, treated as such."""

from __future__ import annotations

import pytest

from engines.errors import ModelLoadError
from engines.models.loader import inspect_model
from tests.reliability.untrusted_helpers import clean_pt2, compile_ctor_so, plant, run_cli, stderr_lines

pytest.importorskip("torch")

AOTI = "{prefix}/data/aotinductor/model/"
METADATA = b'{"AOTI_DEVICE_KEY": "cpu"}'


@pytest.fixture
def clean(tmp_path):
    return clean_pt2(tmp_path / "clean.pt2")


@pytest.fixture
def ctor_so(tmp_path):
    so = compile_ctor_so(tmp_path)
    if so is None:
        pytest.skip("no C compiler to build the planted shared object")
    return so


@pytest.fixture
def planted(tmp_path, clean, ctor_so):
    """A real torch.export program plus an AOTInductor model whose .so writes a marker when loaded."""
    return plant(clean, tmp_path / "planted.pt2", {AOTI + "abc.wrapper.so": ctor_so.read_bytes(),
                                                   AOTI + "abc.wrapper_metadata.json": METADATA})


@pytest.mark.parametrize("command", ["inspect", "optimize", "cost"])
def test_planted_shared_object_is_refused_and_never_loaded(tmp_path, planted, command):
    marker, private_tmp = tmp_path / "marker", tmp_path / "tmp"
    private_tmp.mkdir()
    extra = ["--workspace", str(tmp_path / "ws")] if command == "optimize" else []
    proc = run_cli([command, str(planted), *extra], env_extra={"WB_MARKER": str(marker), "TMPDIR": str(private_tmp)})
    lines = stderr_lines(proc)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert not marker.exists(), "the planted library's constructor ran"
    assert len(lines) == 1 and lines[0].startswith("workbench: error:"), lines[:20]
    assert "compiled native code" in lines[0] and "--trust-pickle" in lines[0]
    assert not list(private_tmp.glob("aotinductor_*"))


def test_compiled_entries_anywhere_are_refused_without_trust(tmp_path, clean):
    for i, name in enumerate(["{prefix}/extra/helper.so", "{prefix}/data/custom.dylib", "{prefix}/x/lib.so.1",
                              AOTI + "model.wrapper.cpp"]):
        f = plant(clean, tmp_path / f"c{i}.pt2", {name: b"\x7fELF"})
        with pytest.raises(ModelLoadError, match="compiled native code"):
            inspect_model(f)


@pytest.mark.parametrize("trust", [False, True])
def test_entry_escaping_the_archive_folder_is_refused_even_trusted(tmp_path, clean, trust):
    target = tmp_path / "escaped.txt"
    depth = "../" * (len(tmp_path.parts) + 8)
    name = AOTI + depth + str(target).lstrip("/")
    f = plant(clean, tmp_path / "escape.pt2", {name: b"x", AOTI + "abc.wrapper_metadata.json": METADATA})
    with pytest.raises(ModelLoadError, match="outside the archive"):
        inspect_model(f, trust_pickle=trust)
    assert not target.exists()


def test_absolute_entry_name_is_refused(tmp_path, clean):
    f = plant(clean, tmp_path / "abs.pt2", {"/tmp/wb-absolute-entry.txt": b"x"})
    with pytest.raises(ModelLoadError, match="outside the archive"):
        inspect_model(f, trust_pickle=True)


def test_trusted_load_extracts_privately_and_cleans_up(tmp_path, planted):
    """With --trust-pickle the user accepts the code; the extraction still lands in a folder removed afterwards."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    proc = run_cli(["inspect", str(planted), "--trust-pickle"],
                   env_extra={"WB_MARKER": str(tmp_path / "marker"), "TMPDIR": str(private_tmp)})
    assert not list(private_tmp.glob("aotinductor_*")), sorted(p.name for p in private_tmp.iterdir())
    assert not list(private_tmp.glob("workbench-pt2-*"))
    assert proc.returncode in (0, 2)
    lines = stderr_lines(proc)
    assert proc.returncode == 0 or (len(lines) == 1 and lines[0].startswith("workbench: error:")), lines[:20]


def test_clean_program_still_loads(clean):
    info = inspect_model(clean)
    assert info.format == "torch_export" and info.inputs[0].shape == (2, 3)


def test_trusted_package_without_a_program_says_so_in_one_line(tmp_path, clean, ctor_so, monkeypatch):
    import zipfile

    monkeypatch.setenv("WB_MARKER", str(tmp_path / "marker"))
    only_code = tmp_path / "only_code.pt2"
    with zipfile.ZipFile(clean) as src, zipfile.ZipFile(only_code, "w") as dst:
        prefix = src.namelist()[0].split("/")[0]
        for name in src.namelist():
            if "/models/" not in name:
                dst.writestr(name, src.read(name))
        dst.writestr(f"{prefix}/data/aotinductor/model/abc.wrapper.so", ctor_so.read_bytes())
        dst.writestr(f"{prefix}/data/aotinductor/model/abc.wrapper_metadata.json", METADATA)
    with pytest.raises(ModelLoadError) as exc:
        inspect_model(only_code, trust_pickle=True)
    assert "no exported program" in str(exc.value) and "warnings above" not in str(exc.value)
