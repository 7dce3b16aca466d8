"""Keys at a glance (?): the current area's keys, the area keys, the app-wide and dialog keys.

Everything listed comes from bindings (``workbench.palette``), so a new key shows up here by itself.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from screens.confirm_dialog import ConfirmDialog
from workbench.nav import available_areas
from workbench.palette import area_bindings, area_title, global_bindings, keys_of

MORE = [
    ("ctrl+p", "command palette: this area's actions, areas, open, theme, keys, quit"),
    ("escape", "leave a text field (then the keys above work); cancel the running task"),
    ("tab / shift+tab", "move focus; arrows scroll tables"),
]


def help_table(screen: Any = None) -> Group:
    """A titled key table per section: this area, areas, everywhere, confirm dialogs."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    if screen is not None and area_bindings(screen):
        sections.append((f"{area_title(screen)} area", [(k.key, k.help or k.description)
                                                        for k in area_bindings(screen)]))
    areas = available_areas()
    sections.append(("Areas", [(f"{areas[0].key}-{areas[-1].key}" if areas else "",
                                ", ".join(a.title for a in areas) + " (or click a name in the bar)")]))
    app_keys = global_bindings(screen.app) if screen is not None else []
    sections.append(("Everywhere (not while typing in a field)",
                     [(k.key, k.description) for k in app_keys] + MORE))
    sections.append(("In a confirm dialog", [(k.key, k.description) for k in keys_of(ConfirmDialog.BINDINGS)]))
    parts: list[Any] = []
    for title, rows in sections:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True, min_width=15)
        grid.add_column()
        for key, text in rows:
            grid.add_row(key, text)
        parts += [Text(title, style="underline"), grid]
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, area_screen: Any = None) -> None:
        super().__init__()
        self.area_screen = area_screen

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Label("workbench — keys", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(help_table(self.area_screen), id="help-keys")
            yield Button("Close", id="help-close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
