"""Command palette entries (ctrl+p) and the keys the help lists, both derived from bindings.

``area_bindings(screen)`` are the current area's own keys (its class's ``BINDINGS``: apply,
tune, build, start/stop the server, sweep, plan/deploy/teardown, …); the palette offers each
as "<Area>: <description>" and runs the screen's bound action, so a key and its palette entry
can never disagree. ``global_bindings(app)`` are the app-wide keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from workbench.nav import available_areas

INTERNAL = ("app.area_key", "leave_field")   # shown once as "1-7" and "escape", not per area


@dataclass(frozen=True)
class Key:
    key: str          # as displayed: "b", "?", "ctrl+p"
    description: str
    action: str
    help: str = ""


def _display(b: Binding) -> str:
    if b.key_display:
        return b.key_display
    return ",".join({"question_mark": "?", "plus": "+", "minus": "-", "equals_sign": "="}.get(k, k)
                    for k in b.key.split(","))


def keys_of(bindings: Iterable[Any]) -> list[Key]:
    """One :class:`Key` per binding (a key list like ``"escape,n"`` stays one entry)."""
    out: list[Key] = []
    for b in bindings:
        if not isinstance(b, Binding):
            b = Binding(*b)
        if b.action.startswith(INTERNAL):
            continue
        out.append(Key(_display(b), b.description or b.action, b.action, b.tooltip or ""))
    return out


def area_bindings(screen: Any) -> list[Key]:
    """The screen's own keys: its class's ``BINDINGS``, not the shared ones of the base screen."""
    return keys_of(vars(type(screen)).get("BINDINGS", []))


def global_bindings(app: Any) -> list[Key]:
    return keys_of(vars(type(app)).get("BINDINGS", []))


def area_title(screen: Any) -> str:
    area = getattr(screen, "AREA", "")
    return next((a.title for a in available_areas() if a.id == area), area.title())


class WorkbenchCommands(Provider):
    """The current area's actions, the areas, open, help, quit (alongside Textual's system commands)."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app, screen = self.app, self.screen
        title = area_title(screen)
        cmds: list[tuple[str, str, Callable[[], object]]] = [
            (f"{title}: {k.description}", (k.help or f"{k.description} on the {title} area") + f" (key {k.key})",
             partial(screen.run_action, k.action))
            for k in area_bindings(screen)
        ]
        cmds += [
            (f"Go to {a.title}", f"Switch to the {a.title} area (key {a.key})",
             partial(app.run_action, f"switch_area('{a.id}')"))
            for a in available_areas()
        ]
        cmds += [
            ("Open model…", "Open a model file or SavedModel folder (key o)", partial(app.run_action, "open_model")),
            ("Help", "Keys of this area and the app-wide keys (key ?)", partial(app.run_action, "help")),
            ("Quit", "Quit the workbench (key q)", partial(app.run_action, "quit")),
        ]
        return cmds

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            # the help text names what an action does ("quantization", "pruning"): it is searched too
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
