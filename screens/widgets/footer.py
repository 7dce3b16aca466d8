"""The key footer, compact, built without restyling each key as it mounts.

Textual's ``FooterKey`` starts with ``compact=True`` and its watcher adds the ``-compact`` class after the key
is mounted, which restyles the key against the whole stylesheet (every area's rules): ~7 ms a key, most of a
first visit. Here the class is set before mounting and the footer is compact, so the watcher finds nothing to
change. The footer recomposes whenever the bindings change (focus moves), so this counts on every key press.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class QuickFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.set_class(True, "-compact", update=False)
            yield widget
