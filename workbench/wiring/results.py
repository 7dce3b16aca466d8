"""Typed results of the TUI's long tasks: a screen matches on these types, never on task names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BackendReport:
    """What each engine backend needs here: ``{key: Availability}`` ("ort", "ort-cuda", "aoti", ...)."""

    status: dict[str, Any]


@dataclass(frozen=True)
class EngineBuilt:
    variant: Any                       # engines.workspace.Variant
    card: dict[str, Any]               # engines.build.builder.describe(variant)


@dataclass(frozen=True)
class ServerStarted:
    server: Any                        # the running server (engines.serving.http)


@dataclass(frozen=True)
class ServerStopped:
    url: str


@dataclass(frozen=True)
class SweepDone:
    sweep: Any                         # engines.measure.sweep.SweepResult


@dataclass(frozen=True)
class BatchingCompared:
    result: dict[str, Any]


@dataclass(frozen=True)
class TritonExported:
    model_dir: Path
    details: dict[str, Any] = field(default_factory=dict)
