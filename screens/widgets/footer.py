"""The key footer, compact, built without restyling each key as it mounts, and rebuilt only when it changes.

Textual's ``FooterKey`` starts with ``compact=True`` and its watcher adds the ``-compact`` class after the key
is mounted, which restyles the key against the whole stylesheet (every area's rules): ~7 ms a key, most of a
first visit. Here the class is set before mounting and the footer is compact, so the watcher finds nothing to
change. Textual's footer also rebuilds all its keys on every bindings signal (five times on a first visit,
10-90 ms each, and again on each focus move); this one rebuilds once per refresh, and only when what it
shows (keys, labels, which are enabled) differs from what it shows now.

At a narrow width (80 columns) the area's keys, which come first, would push the app's own keys (``o``,
``?``, ``q``) off the row. When the keys do not fit, the area's keys are dropped from the end until they
do, so the app's keys always show; every key stays listed in ``?`` help. A resize that changes what fits
rebuilds the row.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# cells around a compact key's text (Footer's own CSS): margin-right 1 after each key; the command-palette
# key, docked right, has a 1-cell border on its left and no margin after it
KEY_GAP = 1
PALETTE_BORDER = 1


class Shown(NamedTuple):
    key: str
    description: str
    action: str
    group: Any
    enabled: bool
    tooltip: str
    width: int     # cells the key takes in the row, its gap after it included
    is_app: bool   # one of the app's own keys (open, help, quit, palette): never dropped


class QuickFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._shown: tuple[Any, ...] | None = None   # what the keys now mounted show
        self._pending = False

    def compose(self) -> ComposeResult:
        dropped: set[tuple[str, str]] = set()
        if self._bindings_ready:
            entries = self._entries()
            kept = self._fit(entries)
            self._shown = self._signature_of([entries[i] for i in kept])
            dropped = {(e.key, e.action) for i, e in enumerate(entries) if i not in kept}
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                if (widget.key, widget.action) in dropped:
                    continue
                widget.set_class(True, "-compact", update=False)
            yield widget

    def _entries(self) -> list[Shown]:
        """The keys Textual's footer would show, in its order (the focused widget's, the screen's, the app's)."""
        app = self.app
        palette = app.COMMAND_PALETTE_BINDING
        entries: list[Shown] = []
        actions: set[str] = set()
        for node, b, enabled, tooltip in self.screen.active_bindings.values():
            if b.key == palette:
                text = cell_len(app.get_key_display(b)) + 1 + cell_len(b.description)
                entries.append(Shown(b.key, b.description, b.action, b.group, enabled, tooltip,
                                     PALETTE_BORDER + text, True))
            elif b.show:
                # Footer shows one key per action: a second binding of the same action takes no room
                first = b.action not in actions
                actions.add(b.action)
                text = cell_len(app.get_key_display(b)) + (1 + cell_len(b.description) if b.description else 0)
                entries.append(Shown(b.key, b.description, b.action, b.group, enabled, tooltip,
                                     text + KEY_GAP if first else 0, node is app))
        return entries

    def _fit(self, entries: list[Shown]) -> list[int]:
        """Which entries fit the footer's width: the area's keys dropped from the end until the row fits."""
        width = self.size.width or self.screen.size.width or self.app.size.width
        palette = self.app.COMMAND_PALETTE_BINDING
        palette_shown = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        needed = sum(e.width for e in entries if palette_shown or e.key != palette)
        kept = list(range(len(entries)))
        for i in reversed(range(len(entries))):
            if needed <= width or width <= 0:
                break
            if not entries[i].is_app:
                kept.remove(i)
                needed -= entries[i].width
        return kept

    @staticmethod
    def _signature_of(entries: list[Shown]) -> tuple[Any, ...]:
        return tuple((e.key, e.description, e.action, e.group, e.enabled, e.tooltip) for e in entries)

    def _signature(self) -> tuple[Any, ...]:
        entries = self._entries()
        return self._signature_of([entries[i] for i in self._fit(entries)])

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending:
            return
        if self.is_attached and screen is self.screen:
            self._recompose_later()

    def on_resize(self, event: events.Resize) -> None:
        # a narrower or wider row may fit other keys; the same keys are not rebuilt (see _recompose_if_changed)
        if self._shown is not None and not self._pending and self.is_attached:
            self._recompose_later()

    def _recompose_later(self) -> None:
        self._pending = True
        self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._pending = False
        if self.is_attached and self._signature() != self._shown:
            await self.recompose()
