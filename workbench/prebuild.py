"""Build the area screens not visited yet while the user is idle, so a first visit costs what a second does.

Composing and styling an area's 80-140 widgets is most of a first visit (0.2-0.5 s on a 2-core CPU); laying
out and painting a built screen is 0.05-0.2 s. Once the model is open and the app has had no key or click
for :data:`IDLE_S`, one area is built per tick, in navigation order, off screen: the screen is registered
(composed, mounted, styled) exactly as Textual does when it first switches to a mode, and laid out at the
terminal's size, but not shown. A key
pressed while one is being built waits for that one build at most, which is no worse than a first visit.

Off when ``WORKBENCH_PREBUILD=0`` and, unless ``WORKBENCH_PREBUILD=1``, under ``WORKBENCH_DETERMINISTIC``
(tests and snapshots see a screen built when it is visited, as before). This leans on Textual's mode
internals (``_screen_stacks``, ``_get_screen``, ``_load_screen_css``, ``_refresh_layout``): if a Textual release changes them, the
build is skipped with a log line and areas are built on their first visit as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.screen import ModalScreen

if TYPE_CHECKING:
    from workbench.app import WorkbenchApp

IDLE_S = 0.5    # no key or click for this long before a build
TICK_S = 0.3    # between builds, and between checks while the user is busy


def wanted(app: "WorkbenchApp") -> list[str]:
    """The areas still to build, in navigation order."""
    return [area for area, screen in app._areas.items()
            if screen is None and area not in app._screen_stacks]


def start(app: "WorkbenchApp") -> None:
    if app.config.prebuild and wanted(app) and not app._prebuilding:
        app._prebuilding = True
        app.set_timer(TICK_S, lambda: tick(app))


def tick(app: "WorkbenchApp") -> None:
    if step(app) in ("done", "failed"):
        app._prebuilding = False
        return
    app.set_timer(TICK_S, lambda: tick(app))


def step(app: "WorkbenchApp") -> str:
    """One decision, run on the app's loop: ``built AREA``, ``busy`` (a recent key or click, a model
    opening, a dialog open), ``done`` (nothing left) or ``failed`` (Textual's internals are not as expected)."""
    todo = wanted(app)
    if not todo or not app.is_running:
        return "done"
    if (time.monotonic() - app.last_input < IDLE_S or app.loading_path is not None
            or isinstance(app.screen, ModalScreen)):
        return "busy"
    return f"built {todo[0]}" if build(app, todo[0]) else "failed"


def build(app: "WorkbenchApp", area: str) -> bool:
    """Register ``area``'s screen as its mode's base screen without switching to it."""
    try:
        screen = app._modes[area]()   # the app's factory: remembers the screen, shares the CSS generation
        registered, await_mount = app._get_screen(screen)
        app._screen_stacks[area] = [registered]
        app._load_screen_css(registered)
        registered._screen_resized(app.size)
    except (AttributeError, KeyError, TypeError) as exc:
        app._areas[area] = None
        app.log.warning(f"prebuild of {area} skipped: {exc!r}")
        return False
    app.call_later(lay_out, app, registered, await_mount)
    return True


async def lay_out(app: "WorkbenchApp", screen, mounted) -> None:
    """Once its widgets are mounted, lay the screen out at the terminal's size, still off screen: widgets
    that arrange themselves by width (the variants table's columns) do it now, not on the visit."""
    await mounted
    if screen.is_current or not screen.is_attached:
        return
    try:
        screen._refresh_layout(app.size)   # a screen that is not current is laid out, not painted
        screen._compositor.render_update(full=True, screen_stack=[screen])   # fills each widget's line cache
    except AttributeError as exc:
        app.log.warning(f"prebuild layout of {screen!r} skipped: {exc!r}")
