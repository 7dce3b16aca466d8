"""The capability registry: every entry reaches the CLI and the UI, and every lazy entry point imports."""

from __future__ import annotations

import argparse
import importlib

import pytest

from engines import formats, registry
from engines.registry import Availability, Capability


def _parser() -> argparse.ArgumentParser:
    from workbench.cli import build_parser

    return build_parser()


def _choices(parser: argparse.ArgumentParser, command: str, dest: str) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    action = next(a for a in sub.choices[command]._actions if a.dest == dest)  # noqa: SLF001
    return list(action.choices)


@pytest.mark.parametrize("cap", registry.REGISTRY, ids=lambda c: f"{c.kind}:{c.id}")
def test_every_entry_point_and_check_imports(cap: Capability):
    for ref in filter(None, (cap.entry, cap.check, cap.meta.get("onnx_entry"))):
        module, _, name = ref.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), ref


@pytest.mark.parametrize("cap", registry.REGISTRY, ids=lambda c: f"{c.kind}:{c.id}")
def test_every_availability_check_answers_without_raising(cap: Capability):
    got = cap.availability(device=cap.devices[0])
    assert isinstance(got, Availability)
    assert got.ok or got.missing or got.detail, "an unavailable capability must say what is missing"


@pytest.mark.parametrize("cap", registry.REGISTRY, ids=lambda c: f"{c.kind}:{c.id}")
def test_formats_are_from_the_vocabulary(cap: Capability):
    assert cap.input_formats and all(f in formats.FORMATS for f in cap.input_formats)
    assert cap.output_format is None or cap.output_format in formats.FORMATS


def test_quantize_and_prune_modes_reach_the_cli_and_the_recipes():
    from engines.optimize.recipes import PRUNE_MODES, QUANT_MODES

    parser = _parser()
    for cap in registry.by_kind("quantize"):
        assert cap.id in _choices(parser, "optimize", "quantize") and cap.id in QUANT_MODES
    for cap in registry.by_kind("prune"):
        assert cap.id in _choices(parser, "optimize", "prune_mode") and cap.id in PRUNE_MODES


def test_engine_backends_reach_the_cli_and_the_engine_screen():
    from workbench.wiring import engine as wiring

    parser = _parser()
    screen_ids = [v for _, v in wiring.backend_choices()]
    precisions = [v for _, v in wiring.precision_choices()]
    for cap in registry.by_kind("engine"):
        assert cap.id in _choices(parser, "build", "backend") and cap.id in screen_ids
        assert set(cap.precisions) <= set(precisions) <= set(_choices(parser, "build", "precision"))


def test_quantize_modes_reach_the_optimize_screen():
    from workbench.wiring.optimize import quant_modes

    offered = {v for fmt in formats.FORMATS for _, v in quant_modes(fmt)}
    assert {c.id for c in registry.by_kind("quantize")} <= offered


def test_runtimes_cover_every_variant_format():
    from engines.measure.runners import RUNNER_FACTORIES

    for fmt in (formats.ONNX, formats.TFLITE, formats.AOTI, formats.TENSORRT, formats.OPENVINO):
        assert fmt in RUNNER_FACTORIES and registry.runtime_for(fmt) is not None


def test_unknown_ids_are_refused_with_the_choices():
    from engines.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="choose one of ort, aoti, tensorrt, openvino"):
        registry.get("engine", "nope")
    assert registry.get("quantize", "int8").id == "int8-static"      # aliases resolve
