"""The TUI's view of the user settings (:mod:`engines.settings`, read with pydantic-settings).

``WORKBENCH_THEME``, ``WORKBENCH_REFRESH_HZ``, ``WORKBENCH_DETERMINISTIC``, ``WORKBENCH_PREBUILD`` and
``WORKBENCH_HOME``; see :mod:`engines.settings` for what each means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    theme: str = "textual-dark"
    refresh_hz: float = 2.0
    deterministic: bool = False
    prebuild: bool = False   # build unvisited area screens while idle (workbench/prebuild.py)

    @property
    def home(self) -> Path:
        from engines.settings import home

        return home()

    @property
    def refresh_interval(self) -> float:
        return 1.0 / self.refresh_hz

    @classmethod
    def from_env(cls) -> "Config":
        from engines.settings import settings

        s = settings()
        deterministic = bool(s.deterministic)
        prebuild = (not deterministic) if s.prebuild is None else bool(s.prebuild)
        return cls(theme=s.theme, refresh_hz=s.refresh_hz, deterministic=deterministic, prebuild=prebuild)
