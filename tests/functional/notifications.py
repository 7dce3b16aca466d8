"""Record what an app notified, through its public ``notify`` (no private Textual state)."""

from __future__ import annotations

from typing import Any


def record_notifications(app: Any) -> list[str]:
    """Wrap ``app.notify`` so every message shown (from the app or any screen) is appended to the list."""
    seen: list[str] = []
    original = app.notify

    def notify(message: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(message))
        return original(message, *args, **kwargs)

    app.notify = notify
    return seen
