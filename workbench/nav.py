"""The workbench's areas, in navigation order.

Each entry names the screen class by import path. An area whose module does
not exist (yet) is not shown, so navigation offers only what is there.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    id: str
    title: str
    key: str          # binding shown in the footer
    target: str       # "module:Class"

    @property
    def module(self) -> str:
        return self.target.split(":")[0]

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def load(self) -> type:
        import importlib

        mod, cls = self.target.split(":")
        return getattr(importlib.import_module(mod), cls)


AREAS: list[Area] = [
    Area("overview", "Overview", "1", "screens.overview:OverviewScreen"),
    Area("optimize", "Optimize", "2", "screens.optimize:OptimizeScreen"),
    Area("engine", "Engine", "3", "screens.engine:EngineScreen"),
    Area("metrics", "Metrics", "4", "screens.metrics:MetricsScreen"),
    Area("batching", "Batching", "5", "screens.batching:BatchingScreen"),
    Area("cost", "Cost", "6", "screens.cost:CostScreen"),
    Area("deploy", "Deploy", "7", "screens.deploy:DeployScreen"),
    Area("labs", "Labs", "8", "screens.labs:LabsScreen"),
]


def available_areas() -> list[Area]:
    return [a for a in AREAS if a.available()]


def area_stylesheets() -> list[str]:
    """Each area's ``<module>.tcss`` beside its module, spelled as the screen's own ``CSS_PATH`` resolves it."""
    out = []
    for area in available_areas():
        spec = importlib.util.find_spec(area.module)
        if spec is not None and spec.origin:
            from pathlib import Path

            path = Path(spec.origin).parent / f"{area.module.rsplit('.', 1)[-1]}.tcss"
            if path.is_file():
                out.append(str(path))
    return out
