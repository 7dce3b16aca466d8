"""The frame every area screen shares: header, navigation, body, metrics slot, footer.

An area screen subclasses :class:`WorkbenchScreen`, sets ``AREA`` to its id in
``workbench.nav.AREAS`` and implements :meth:`WorkbenchScreen.compose_body`.
State comes from ``self.app.session``; long work goes through
``workbench.tasks.run_task`` (or a :class:`screens.widgets.task_panel.TaskPanel`).
When a model is (re)loaded the app posts :class:`workbench.events.ModelLoaded`
to every area screen that exists; by default the body is recomposed. A screen
that defines its own ``on_model_loaded`` replaces that default (Textual would
otherwise call both handlers). A screen created later simply reads the session
in ``compose_body``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.events import Click
from textual.screen import Screen
from textual.widgets import Header, Input, Static

from screens.widgets.fields import NumberField, check_fields
from screens.widgets.footer import QuickFooter
from screens.widgets.metrics_bar import MetricsBar
from workbench.events import ModelLoaded, ModelLoadFailed
from workbench.nav import AREAS, Area, available_areas

if TYPE_CHECKING:
    from workbench.session import Session


class NavItem(Static):
    """One clickable area name in the navigation bar."""

    def __init__(self, area: Area, active: bool) -> None:
        super().__init__(f"[b]{area.key}[/b] {area.title}", id=f"nav-{area.id}",
                         classes="nav-item -active" if active else "nav-item")
        self.area = area
        self.tooltip = f"{area.title} (key {area.key})"

    async def on_click(self, event: Click) -> None:
        event.stop()
        await self.app.run_action(f"switch_area('{self.area.id}')")


class NavBar(Horizontal):
    """The areas that exist, in order; the current one highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(id="nav")
        self.current = current

    def compose(self) -> ComposeResult:
        for area in available_areas():
            yield NavItem(area, area.id == self.current)


class Body(Container):
    """Holds an area's own widgets; ``recompose()`` rebuilds them from the session."""

    def __init__(self, compose_body: Callable[[], ComposeResult]) -> None:
        super().__init__(id="body")
        self._compose_body = compose_body

    def compose(self) -> ComposeResult:
        yield from self._compose_body()


class WorkbenchScreen(Screen):
    """Base class of the area screens."""

    AREA: ClassVar[str] = ""
    # screens/base.tcss (navigation, body, placeholder) is loaded once by the app for every screen;
    # a subclass sets CSS_PATH to its own .tcss.

    # number keys go to the area with that key; an area that does not exist leaves the key disabled
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(a.key, f"app.area_key('{a.key}')", a.title, show=False) for a in AREAS
    ] + [Binding("escape", "leave_field", "Leave field / cancel task", show=False)]

    @property
    def session(self) -> "Session":
        return self.app.session  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield NavBar(self.AREA)
        replay = getattr(self.app, "replay", None)   # workbench --replay WORKSPACE: figures are recorded
        if replay is not None:
            from screens.widgets.replay_banner import ReplayBanner

            yield ReplayBanner(replay.banner())
        yield Body(self.compose_body)
        yield MetricsBar()
        yield QuickFooter()

    def _on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        self._was_suspended = True

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # runs before Screen's own handler: on the first visit every widget was styled as it mounted, and
        # restyling the whole tree again (Textual posts two resumes to a new mode) cost ~0.07 s each time
        if not getattr(self, "_was_suspended", False):
            event.refresh_styles = False
            if not getattr(self, "_frozen", False):
                self._frozen = True
                import gc

                # this screen's widgets live as long as the app: the collector need not walk them again
                self.call_after_refresh(gc.freeze)

    def compose_body(self) -> ComposeResult:
        """The area's own widgets. Subclasses override this."""
        yield Static(f"{self.AREA or 'This area'} has nothing to show yet.", classes="placeholder")

    def action_leave_field(self) -> None:
        """Escape: leave a text field (the screen's keys work again), else cancel the running task."""
        if isinstance(self.focused, Input):
            self.set_focus(None)
            return
        from screens.widgets.task_panel import TaskPanel

        for panel in self.query(TaskPanel):
            if panel.cancel():
                return

    def on_input_changed(self, event: Input.Changed) -> None:
        # one check for a burst of changes: every field posts Changed as it mounts, and each check walks the
        # whole screen (on a first visit to Optimize it was checked 16 times, ~60 ms in all)
        if isinstance(event.input, NumberField) and not getattr(self, "_check_pending", False):
            self._check_pending = True
            self.call_later(self._checked_later)

    def _checked_later(self) -> None:
        self._check_pending = False
        check_fields(self)

    def check_fields(self) -> list[str]:
        """Show inline what is wrong with the enabled number fields; the problems (empty when all fit)."""
        return check_fields(self)

    async def on_model_loaded(self, message: ModelLoaded) -> None:
        """A new model is open: rebuild the body from the session (unless a subclass handles it)."""
        if type(self).on_model_loaded is not WorkbenchScreen.on_model_loaded:
            return  # the subclass's own handler already ran
        await self.refresh_body()

    async def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        """Opening failed: the previous model stays; a screen that showed "opening…" shows its placeholder."""
        if self.session.model_info is None:
            await self.refresh_body()

    async def refresh_body(self) -> None:
        await self.query_one(Body).recompose()
