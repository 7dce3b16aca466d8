"""The key footer, compact, built without restyling each key as it mounts, and rebuilt only when it changes.

Textual's ``FooterKey`` starts with ``compact=True`` and its watcher adds the ``-compact`` class after the key
is mounted, which restyles the key against the whole stylesheet (every area's rules): ~7 ms a key, most of a
first visit. Here the class is set before mounting and the footer is compact, so the watcher finds nothing to
change. Textual's footer also rebuilds all its keys on every bindings signal (five times on a first visit,
10-90 ms each, and again on each focus move); this one rebuilds once per refresh, and only when what it
shows (keys, labels, which are enabled) differs from what it shows now.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class QuickFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._shown: tuple[Any, ...] | None = None   # what the keys now mounted show
        self._pending = False

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._signature()
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.set_class(True, "-compact", update=False)
            yield widget

    def _signature(self) -> tuple[Any, ...]:
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple((b.key, b.description, b.action, b.group, enabled, tooltip)
                     for _node, b, enabled, tooltip in self.screen.active_bindings.values()
                     if b.show or b.key == palette)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending:
            return
        if self.is_attached and screen is self.screen:
            self._pending = True
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._pending = False
        if self.is_attached and self._signature() != self._shown:
            await self.recompose()
