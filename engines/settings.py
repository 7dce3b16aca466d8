"""User settings, read from the environment (prefix ``WORKBENCH_``) with pydantic-settings, in one place.

``WORKBENCH_HOME`` (default ``~/.workbench``: workspaces, caches, deployment
records), ``WORKBENCH_DETERMINISTIC`` (tests, snapshots, recordings: fixed
metrics, no animations or blinking cursors; ``1/true/yes/on`` or
``0/false/no/off``), ``WORKBENCH_THEME`` (a Textual theme name) and
``WORKBENCH_REFRESH_HZ`` (live metrics refresh rate, clamped to 0.2-20) and ``WORKBENCH_PREBUILD`` (build
the area screens not visited yet while the TUI is idle; default on, off under ``WORKBENCH_DETERMINISTIC``).

Every reader calls :func:`settings`; the environment is parsed once per
distinct set of ``WORKBENCH_*`` values, so every part of the tool agrees on
what a value means.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

PREFIX = "WORKBENCH_"


def _model() -> Any:
    from pydantic import field_validator
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

        home: Path = Path.home() / ".workbench"
        deterministic: bool = False
        theme: str = "textual-dark"
        refresh_hz: float = 2.0
        prebuild: bool | None = None   # build unvisited area screens while idle (None: unless deterministic)

        @field_validator("home", mode="before")
        @classmethod
        def _home(cls, v: Any) -> Any:
            return Path(v).expanduser() if v not in (None, "") else Path.home() / ".workbench"

        @field_validator("theme", mode="before")
        @classmethod
        def _theme(cls, v: Any) -> Any:
            return str(v).strip() or "textual-dark"

        @field_validator("deterministic", mode="before")
        @classmethod
        def _flag(cls, v: Any) -> Any:
            text = str(v).strip().lower()
            return False if text == "" else text

        @field_validator("prebuild", mode="before")
        @classmethod
        def _optional_flag(cls, v: Any) -> Any:
            text = "" if v is None else str(v).strip().lower()
            return None if text == "" else text

        @field_validator("refresh_hz", mode="before")
        @classmethod
        def _hz(cls, v: Any) -> float:
            try:
                value = float(v)
            except (TypeError, ValueError):
                return 2.0
            return min(20.0, max(0.2, value)) if value == value else 2.0

    return Settings


@lru_cache(maxsize=8)
def _parse(env: tuple[tuple[str, str], ...]) -> Any:
    from pydantic import ValidationError

    from engines.errors import WorkbenchError

    try:
        return _model()()
    except ValidationError as exc:
        bad = exc.errors()[0]
        raise WorkbenchError(f"{PREFIX}{str(bad['loc'][0]).upper()}: {bad['msg']}") from None


def settings() -> Any:
    """The current settings (home, deterministic, theme, refresh_hz, prebuild)."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX)))
    return _parse(env)


def home() -> Path:
    return settings().home


def deterministic() -> bool:
    return bool(settings().deterministic)
