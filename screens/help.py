"""Keys and areas at a glance (?)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from workbench.nav import available_areas

KEYS = [
    ("o", "open a model file or SavedModel folder"),
    ("ctrl+p", "command palette: areas, open, theme, keys, quit"),
    ("?", "this help"),
    ("q", "quit"),
    ("tab / shift+tab", "move focus; arrows scroll tables"),
    ("escape", "close a dialog; cancel the running task"),
]


def help_table() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for area in available_areas():
        grid.add_row(area.key, f"{area.title} area (or click its name in the bar)")
    for key, text in KEYS:
        grid.add_row(key, text)
    return grid


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Label("workbench — keys", id="help-title")
            yield Static(help_table(), id="help-keys")
            yield Button("Close", id="help-close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
