"""Small user settings for the TUI, read from the environment.

``WORKBENCH_THEME`` (a Textual theme name), ``WORKBENCH_REFRESH_HZ`` (live
metrics refresh rate) and ``WORKBENCH_DETERMINISTIC=1`` (tests, snapshots,
recordings: no animations, no blinking cursors, no clocks) override the
defaults. ``WORKBENCH_HOME`` (default ``~/.workbench``) holds workspaces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TRUE = {"1", "true", "yes", "on"}


def _float_env(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return min(hi, max(lo, value))


@dataclass(frozen=True)
class Config:
    theme: str = "textual-dark"
    refresh_hz: float = 2.0
    deterministic: bool = False

    @property
    def home(self) -> Path:
        return Path(os.environ.get("WORKBENCH_HOME") or Path.home() / ".workbench")

    @property
    def refresh_interval(self) -> float:
        return 1.0 / self.refresh_hz

    @classmethod
    def from_env(cls) -> "Config":
        return cls(
            theme=os.environ.get("WORKBENCH_THEME", "").strip() or cls.theme,
            refresh_hz=_float_env("WORKBENCH_REFRESH_HZ", cls.refresh_hz, 0.2, 20.0),
            deterministic=os.environ.get("WORKBENCH_DETERMINISTIC", "").strip().lower() in TRUE,
        )
