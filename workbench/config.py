"""The TUI's view of the user settings (:mod:`engines.settings`, read with pydantic-settings).

``WORKBENCH_THEME``, ``WORKBENCH_REFRESH_HZ``, ``WORKBENCH_DETERMINISTIC`` and
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
        return cls(theme=s.theme, refresh_hz=s.refresh_hz, deterministic=bool(s.deterministic))
