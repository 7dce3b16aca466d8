"""Labs: the course module's six labs as guided tours over the real workbench.

The steps of the lab in view are listed with check marks read from what
exists (variants in the workspace, the lab record of runs, the practice
cloud's endpoint); each step's action is one key away (a, b, c, …; n runs the
next unfinished one), [ and ] change lab, the why panel explains the results
from the measured evidence, and s saves the summary as Markdown. A step asked
for before the one it needs says which comes first; a model the lab cannot use
says why and m opens the lab sample.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from screens.widgets.task_panel import TaskPanel
from workbench.events import TaskDone, VariantsChanged
from workbench.wiring import labs as wiring

TASK = "lab step"
SAVE_TASK = "save summary"


class SaveSummaryDialog(ModalScreen[str | None]):
    """Where to save the summary: prefilled with the workspace's labs folder; Enter saves, Escape cancels."""

    DEFAULT_CSS = """
    SaveSummaryDialog { align: center middle; }
    #save-box { width: 76; max-width: 95%; height: auto; border: round $primary; background: $panel; padding: 0 1; }
    #save-box Input { width: 1fr; }
    #save-buttons { height: auto; align-horizontal: right; }
    #save-buttons Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box"):
            yield Label("Save the lab summary (Markdown) to — a .md file or a folder:")
            yield Input(self.default, id="save-path", compact=True)
            with Horizontal(id="save-buttons"):
                yield Button("Save", variant="primary", id="save-ok", compact=True)
                yield Button("Cancel", id="save-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one(Input).value.strip() if event.button.id == "save-ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def steps_table(view: wiring.LabView) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(width=1, no_wrap=True, style="bold")
    grid.add_column(ratio=2)
    grid.add_column(ratio=3, overflow="fold")
    for row in view.rows:
        mark = Text("✓", style="bold green") if row.done else Text("·", style="dim")
        title = Text(row.title, style="" if row.done else ("bold" if row.key == view.next_key else ""))
        if row.done:
            detail = Text(row.detail, style="green")
        elif row.blocked_by:
            detail = Text(f"after step {row.blocked_by} — {row.does}", style="dim")
        else:
            detail = Text(row.does, style="italic")
        grid.add_row(mark, row.key, title, detail)
    return grid


class LabsScreen(WorkbenchScreen):
    AREA = "labs"
    CSS_PATH = "labs.tcss"
    BINDINGS = [Binding(k, f"step('{k}')", f"Step {k}", show=False) for k in "abcde"] + [
        Binding("n", "next_step", "Next step", tooltip="run the next unfinished step of this lab"),
        Binding("right_square_bracket", "lab(1)", "Next lab", key_display="]"),
        Binding("left_square_bracket", "lab(-1)", "Prev lab", key_display="["),
        Binding("s", "save", "Save summary", tooltip="save this lab's summary as Markdown"),
        Binding("m", "use_sample", "Lab sample", tooltip="open the lab sample model (digits32_resnet.pt)"),
        Binding("x", "cancel", "Cancel", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lab_number = int(getattr(self.app, "lab_start", None) or 1)
        self._status: tuple[str, bool] = ("", False)

    # -- layout -------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        s = self.session
        if s.model_info is None:
            loading = getattr(self.app, "loading_path", None)
            text = (f"Opening {loading.name}…" if loading is not None else
                    "No model loaded — press m to open the lab sample, or o to open a model")
            yield Static(text, id="labs-empty", classes="placeholder")
            return
        view = wiring.view(s, self.lab_number)
        with AreaScroll(id="labs"):
            yield Static(self._title(view), id="lab-title")
            if view.problem:
                yield Static(Text.assemble(("⚠ ", "bold"), view.problem, ". Press m to open it."), id="lab-problem")
            steps = Static(steps_table(view), id="lab-steps")
            steps.border_title = f"Steps — press a key, or n for the next ({view.next_key or 'all done'})"
            yield steps
            yield TaskPanel("Ready: press the step's key", id="lab-task")
            yield Static(self._status[0], id="lab-status", markup=False, classes="-warn" if self._status[1] else "")
            with Horizontal(id="lab-panels"):
                why = Static("\n".join(f"• {line}" for line in view.why) or "Run the steps: the explanation comes "
                             "from their measured results.", id="lab-why", markup=False)
                why.border_title = "Why"
                yield why
                nxt = Static("\n".join(f"• {t}" for t in view.try_next), id="lab-next", markup=False)
                nxt.border_title = "Try next"
                yield nxt

    def _title(self, view: wiring.LabView) -> Text:
        cloud = f" · {view.cloud}" if view.cloud else (" · practice cloud: off" if view.number >= 4 else "")
        return Text.assemble((f"Lab {view.number} of {view.count}: {view.title}", "bold"), (cloud, "yellow"),
                             "\n", (view.goal, "italic"))

    # -- actions ------------------------------------------------------------------
    def _panel(self) -> TaskPanel | None:
        found = self.query(TaskPanel)
        return found.first() if found else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "step" and parameters:
            return wiring.step_id_for(self.lab_number, str(parameters[0])) is not None or None
        return True

    async def action_step(self, key: str) -> None:
        step_id = wiring.step_id_for(self.lab_number, key)
        panel = self._panel()
        if step_id is None or panel is None:
            return
        if panel.running:
            await self._set_status(f"{panel.task_name} is still running: wait, or cancel it (x)", warn=True)
            return
        view = wiring.view(self.session, self.lab_number)
        if view.problem:
            await self._set_status(f"{view.problem}. Press m to open it.", warn=True)
            return
        row = next(r for r in view.rows if r.key == key)
        await self._set_status(f"step {key}: {row.title}…")
        panel.start(TASK, wiring.run_step, self.session, self.lab_number, step_id)

    async def action_next_step(self) -> None:
        if self.session.model_info is None:
            return
        view = wiring.view(self.session, self.lab_number)
        if view.next_key is None:
            await self._set_status("every step of this lab is done: save the summary (s) or go to the next lab (])")
            return
        await self.action_step(view.next_key)

    async def action_lab(self, delta: int) -> None:
        panel = self._panel()
        if panel is not None and panel.running:
            await self._set_status("a step is running: wait for it, or cancel it (x), before changing lab", warn=True)
            return
        self.lab_number = (self.lab_number - 1 + delta) % wiring.lab_count() + 1
        self._status = ("", False)
        await self.refresh_body()

    async def show_lab(self, number: int) -> None:
        self.lab_number = number
        await self.refresh_body()

    def action_use_sample(self) -> None:
        path = wiring.sample_path()
        if self.session.model_path is not None and self.session.model_path.resolve() == path.resolve():
            self.notify("The lab sample is already open.")
            return
        self.app.open_model(path)  # type: ignore[attr-defined]

    def action_cancel(self) -> None:
        panel = self._panel()
        if panel is not None:
            panel.cancel()

    def action_save(self) -> None:
        if self.session.model_info is None or self.session.workspace is None:
            self.notify("Open a model first: the summary is of its lab results.", severity="warning")
            return
        self.app.push_screen(SaveSummaryDialog(wiring.default_summary_path(self.session, self.lab_number)),
                             self._save_to)

    def _save_to(self, dest: str | None) -> None:
        if dest is None:
            return
        panel = self._panel()
        if panel is not None:
            panel.start(SAVE_TASK, wiring.save_summary, self.session, self.lab_number, dest)

    # -- results ------------------------------------------------------------------
    async def on_task_done(self, message: TaskDone) -> None:
        if message.task not in (TASK, SAVE_TASK):
            return
        if message.error:
            self._status = (message.error, True)
        elif message.cancelled:
            self._status = (f"{message.task} cancelled: nothing half-done is kept", True)
        elif message.task == SAVE_TASK:
            self._status = (f"summary saved to {message.result}", False)
        else:
            done = message.result
            self._status = (f"step {self._key_of(done.step)}: {done.message}", False)
            self.app.broadcast(VariantsChanged)  # type: ignore[attr-defined]
        await self.refresh_body()

    def _key_of(self, step_id: str) -> str:
        for key in "abcde":
            if wiring.step_id_for(self.lab_number, key) == step_id:
                return key
        return "?"

    async def on_variants_changed(self, message: VariantsChanged) -> None:
        panel = self._panel()
        if panel is None or not panel.running:
            await self.refresh_body()

    async def _set_status(self, text: str, warn: bool = False) -> None:
        self._status = (text, warn)
        try:
            line = self.query_one("#lab-status", Static)
        except Exception:
            return
        line.update(text)
        line.set_class(warn, "-warn")
