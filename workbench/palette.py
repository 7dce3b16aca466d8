"""Command palette entries (ctrl+p): go to an area, open a model, help, quit."""

from __future__ import annotations

from functools import partial
from typing import Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from workbench.nav import available_areas


class WorkbenchCommands(Provider):
    """The workbench's own commands, alongside Textual's system commands."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        cmds: list[tuple[str, str, Callable[[], object]]] = [
            (f"Go to {a.title}", f"Switch to the {a.title} area (key {a.key})",
             partial(app.run_action, f"switch_area('{a.id}')"))
            for a in available_areas()
        ]
        cmds += [
            ("Open model…", "Open a model file or SavedModel folder (key o)", partial(app.run_action, "open_model")),
            ("Help", "Keys and areas of the workbench (key ?)", partial(app.run_action, "help")),
            ("Quit", "Quit the workbench (key q)", partial(app.run_action, "quit")),
        ]
        return cmds

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
