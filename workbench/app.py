"""The Textual application: areas as modes, model loading in a worker, app-wide keys.

``make_app(...)`` builds the app (tests and snapshots use it); ``run_app(...)``
runs it for the CLI. Screens live in ``screens/``; this module only wires them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen, Screen

from workbench.config import Config
from workbench.events import ModelLoaded, ModelLoadFailed, TaskDone
from workbench.formatting import format_name
from workbench.loading import default_model_path, load_model
from workbench.nav import area_stylesheets, available_areas
from workbench.palette import WorkbenchCommands
from workbench.session import Session
from workbench.tasks import run_task

LOAD_TASK = "open model"
BACKGROUND_TASKS = {"engine backends"}   # quick probes: quitting does not ask about them
QUIT_GRACE_S = 3.0   # a task that does not stop within this after quit is confirmed ends with the process


class WorkbenchApp(App):
    TITLE = "workbench"
    CSS_PATH = "../screens/base.tcss"
    DEFAULT_MODE = "overview"
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        Binding("o", "open_model", "Open model"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: Session | None = None, config: Config | None = None, *,
                 initial_model: Path | None = None) -> None:
        # every area's stylesheet is read now: a screen's own CSS_PATH read on its first visit would make
        # Textual reparse the stylesheet and restyle every widget of every screen (most of a first visit)
        super().__init__(css_path=[Path(__file__).parent / self.CSS_PATH, *area_stylesheets()])
        self.session = session or Session()
        self.config = config or Config.from_env()
        self.initial_model = initial_model
        self.exit_on_hangup = False   # run_app turns it on for a real terminal
        self.loading_path: Path | None = initial_model   # set until the worker answers
        self.last_tried: Path | None = initial_model
        self.start_area: str | None = None      # `workbench lab N` opens on the Labs area ...
        self.lab_start: int | None = None       # ... on lab N
        if self.config.deterministic:
            self.animation_level = "none"
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        self._areas: dict[str, Screen | None] = {}   # area id -> its screen, once created
        self.last_input = 0.0   # time.monotonic() of the last key or click (workbench/prebuild.py waits for idle)
        self._prebuilding = False   # an idle-time build chain is scheduled (workbench/prebuild.py)
        self._area_keys: dict[str, str] = {}
        for area in available_areas():
            self._areas[area.id] = None
            self._area_keys[area.key] = area.id
            self.add_mode(area.id, self._screen_factory(area.id, area.load))
        self._set_subtitle()

    def update_styles(self, node: Any, animate: bool = True) -> None:
        # Textual restyles a node against the whole stylesheet on every class change, even before the node
        # is mounted (Input, Select and Button set classes in __init__): ~1 ms each, much of a first visit.
        # A node not registered yet gets the stylesheet applied, with its classes, when it is registered.
        if not isinstance(node, App) and node not in self._registry:
            return
        super().update_styles(node, animate)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self.last_input = time.monotonic()
        await super().on_event(event)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # deterministic mode (tests, snapshots, recordings): no blinking cursors anywhere
        if self.config.deterministic and hasattr(event.widget, "cursor_blink"):
            event.widget.cursor_blink = False

    # -- startup ---------------------------------------------------------
    def on_mount(self) -> None:
        from workbench import metrics_service

        metrics_service.install(self)  # one sampler per app, polling in its own thread
        if self.exit_on_hangup:
            from workbench import hangup

            hangup.install(self)
        if self.initial_model is not None:
            self.open_model(self.initial_model, workspace_dir=self.session.workspace_dir)
        if self.start_area in self._areas:
            self.switch_mode(self.start_area)

    def on_unmount(self) -> None:
        from workbench import metrics_service

        metrics_service.shutdown(self)

    # -- areas ---------------------------------------------------------------
    def _screen_factory(self, area_id: str, load: Callable[[], type]) -> Callable[[], Screen]:
        def make() -> Screen:
            screen = load()()
            self._areas[area_id] = screen
            # every stylesheet is read at start and a new screen's widgets are styled as they mount: without
            # this Textual restyles the whole app twice (refresh_css) on each first visit, ~0.3 s at 120x40
            screen._css_update_count = self._css_update_count
            return screen
        return make

    def area_screens(self) -> list[Screen]:
        """Every area screen created so far (the base screen of each mode)."""
        return [s for s in self._areas.values() if s is not None]

    def broadcast(self, make_message: Callable[[], Message]) -> None:
        """Post a fresh message to every area screen (e.g. ``ModelLoaded``, ``VariantsChanged``)."""
        for screen in self.area_screens():
            screen.post_message(make_message())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "area_key" and parameters:
            return parameters[0] in self._area_keys   # not available_areas(): it looks for each module on disk
        if action in ("open_model", "help") and isinstance(self.screen, ModalScreen):
            return False  # no dialog on top of a dialog
        return True

    def action_area_key(self, key: str) -> None:
        for area in available_areas():
            if area.key == key:
                self.action_switch_area(area.id)
                return

    def action_switch_area(self, area_id: str) -> None:
        if area_id not in self._areas:
            self.notify(f"The {area_id} area is not available in this build.", severity="warning")
            return
        self.switch_mode(area_id)

    @property
    def current_area(self) -> str:
        return self.current_mode

    # -- opening models ----------------------------------------------------------
    def open_model(self, path: str | os.PathLike, *, workspace_dir: str | os.PathLike | None = None) -> None:
        """Load ``path`` in a worker; on failure show the error and keep the current model."""
        self.loading_path = self.last_tried = Path(path)
        self._set_subtitle()
        run_task(self, LOAD_TASK, load_model, path, trust_pickle=self.session.trust_pickle,
                 workspace_dir=workspace_dir, data_path=self.session.data_path)

    def action_open_model(self) -> None:
        from screens.open_dialog import OpenDialog

        current = self.session.model_path or self.last_tried
        start = current.parent if current is not None and current.parent.is_dir() else Path.cwd()
        self.push_screen(OpenDialog(start), self._open_chosen)

    def _open_chosen(self, path: Path | None) -> None:
        if path is not None:
            self.open_model(path)

    def on_task_done(self, message: TaskDone) -> None:
        if message.task != LOAD_TASK:
            return
        message.stop()
        self.loading_path = None
        if message.error or message.cancelled:
            self._set_subtitle()
            error = message.error or "opening the model was cancelled"
            self.show_error(error, title="Could not open the model")
            self.broadcast(lambda: ModelLoadFailed(error))
            return
        loaded = message.result
        s = self.session
        s.model_path, s.model_info, s.workspace, s.device = loaded.path, loaded.info, loaded.workspace, loaded.device
        s.workspace_dir = loaded.workspace.root
        s.selected_variant_id = None
        s.reset_model_state()
        s.dataset = loaded.data
        if loaded.data_error:
            s.data_path = None
            self.show_error(f"{loaded.data_error} (the data file is not used)", title="Data file does not fit")
        self._set_subtitle()
        self.broadcast(lambda: ModelLoaded(loaded.info))
        # the model, torch and onnxruntime add ~300k long-lived objects; each full collection walked them
        # all (~0.25 s, a pause on the next first visit): frozen, the collector skips them
        import gc

        gc.freeze()
        self.set_timer(0.2, self._preimport_areas)
        from workbench import prebuild

        prebuild.start(self)   # and build the areas not visited yet, while the user is idle

    def _preimport_areas(self) -> None:
        """Import each area's module (and plotext) while the user reads the first screen, one per tick:
        importing on the first visit cost up to 0.1 s of it. A key press waits at most one import."""
        import importlib
        import sys

        pending = [a.module for a in available_areas() if a.module not in sys.modules]
        if pending:
            importlib.import_module(pending[0])
            self.set_timer(0.05, self._preimport_areas)

    def show_error(self, text: str, title: str = "Error") -> None:
        from screens.error_dialog import ErrorDialog

        self.push_screen(ErrorDialog(text, title=title))

    def _set_subtitle(self) -> None:
        info = self.session.model_info
        if self.loading_path is not None:
            self.sub_title = f"opening {self.loading_path.name}…"
        elif info is None:
            self.sub_title = "no model"
        else:
            self.sub_title = f"{info.name} · {format_name(info.format)} · {self.session.device}"

    # -- quitting -------------------------------------------------------------------
    def running_tasks(self) -> list[str]:
        """Names of the user's tasks still running (a quit asks first while there are any)."""
        from textual.worker import WorkerState

        return [w.name for w in self.workers
                if w.state in (WorkerState.PENDING, WorkerState.RUNNING) and w.name not in BACKGROUND_TASKS]

    async def action_quit(self) -> None:
        tasks = self.running_tasks()
        if not tasks:
            self.exit()
            return
        if isinstance(self.screen, ModalScreen):
            return  # a dialog is open: answer it first
        from screens.confirm_dialog import ConfirmDialog

        self.push_screen(ConfirmDialog("Quit while a task is running?",
                                       f"Running: {', '.join(tasks)}. Quitting cancels it; nothing half-done is "
                                       "kept.", yes="Quit"), self._quit_confirmed)

    def _quit_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        self.workers.cancel_all()
        if self.exit_on_hangup:   # a real terminal: a task that ignores the cancel does not hold the process
            import threading

            timer = threading.Timer(QUIT_GRACE_S, os._exit, args=(0,))
            timer.daemon = True
            timer.start()
        self.exit()

    # -- help and palette ----------------------------------------------------------
    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # "Quit" comes from WorkbenchCommands; keep Textual's theme, keys, screenshot entries
        yield from (c for c in super().get_system_commands(screen) if c.title != "Quit")


def make_app(model: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
             trust_pickle: bool = False, workspace: str | os.PathLike | None = None, *,
             load_default: bool = True, config: Config | None = None, presenter: bool = False,
             replay: str | os.PathLike | None = None) -> WorkbenchApp:
    """Build the app. ``model=None`` opens the bundled sample unless ``load_default`` is False.

    ``presenter``: the high-contrast layout; ``replay``: a prepared workspace whose stored figures are shown
    as recorded (:mod:`workbench.presenter`, :mod:`workbench.replay`)."""
    recorded = None
    if replay is not None:
        from workbench.replay import prepare

        recorded = prepare(replay, model)
        model, workspace = recorded.model, recorded.workspace
    path = Path(model).expanduser() if model is not None else (default_model_path() if load_default else None)
    session = Session(
        data_path=Path(data).expanduser() if data is not None else None,
        trust_pickle=trust_pickle,
        workspace_dir=Path(workspace).expanduser() if workspace is not None else None,
    )
    app = WorkbenchApp(session, config, initial_model=path)
    if presenter or recorded is not None:
        from workbench.presenter import apply

        apply(app, presenter=presenter, replay=recorded)
    return app


def run_app(model: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
            trust_pickle: bool = False, workspace: str | os.PathLike | None = None, **kw: Any) -> int:
    app = make_app(model, data, trust_pickle, workspace, **kw)
    app.exit_on_hangup = True  # a real terminal: quit when it goes away (tests run without this)
    app.run()
    # the app ended (quit, hang-up, a closed browser tab under `workbench web`): its workers were cancelled;
    # a worker thread that ignores the cancel does not hold the process past the grace time
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        timer = threading.Timer(QUIT_GRACE_S, os._exit, args=(int(app.return_code or 0),))
        timer.daemon = True
        timer.start()
    # the heap (torch, onnxruntime, the model) need not be collected object by object at exit: that took
    # about a second after the last frame; frozen objects are skipped by the final collections
    import gc

    gc.freeze()
    return int(app.return_code or 0)


__all__ = ["WorkbenchApp", "make_app", "run_app"]
