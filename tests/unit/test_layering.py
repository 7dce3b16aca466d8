"""Layering and import hygiene, checked in fresh interpreters."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _engine_modules() -> list[str]:
    import engines

    return sorted(m.name for m in pkgutil.walk_packages(engines.__path__, "engines."))


def test_engines_never_import_textual_or_rich_in_source():
    offenders = []
    for path in (ROOT / "engines").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("textual", "rich")]
    assert offenders == []


def test_importing_every_engine_module_leaves_textual_unloaded():
    mods = _engine_modules()
    assert "engines.workspace" in mods
    # every engine module imports on a machine without the optional backends: they are imported lazily,
    # inside the functions that use them; any ImportError is a bug
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_import_contracts_hold():
    """import-linter: screens never import engines (only workbench.wiring does); engines never import the UI."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("import-linter is not installed: it is part of the dev extra (make test installs it)")
    out = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_cli_module_imports_no_heavy_framework():
    code = (
        "import sys, workbench.cli\n"
        "workbench.cli.build_parser()\n"
        "heavy = ('torch', 'tensorflow', 'onnxruntime', 'tensorrt', 'boto3', 'sagemaker', 'onnx', 'textual')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_screens_hold_no_model_logic():
    """screens/ reach engines only through workbench/ wiring or typed results, never heavy frameworks."""
    heavy = {"torch", "tensorflow", "onnxruntime", "onnx", "tensorrt", "boto3", "sagemaker", "torch_pruning"}
    offenders = []
    for path in (ROOT / "screens").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in heavy]
    assert offenders == []
