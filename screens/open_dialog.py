"""Pick a model: a directory tree showing folders and model files, and a path box.

Dismisses with the chosen :class:`~pathlib.Path` (not checked here: the loader
says what is wrong with it) or ``None`` when cancelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label, Static

from workbench.formatting import display_path
from workbench.loading import MODEL_SUFFIXES


def tilde_path(path: Path) -> str:
    """An absolute path, written with ``~`` when under the home folder (what the user can type back)."""
    home = Path.home()
    try:
        return f"~/{path.relative_to(home)}"
    except ValueError:
        return str(path)


class ModelTree(DirectoryTree):
    """Folders (a SavedModel is one) and files with a model extension; hidden entries left out."""

    BINDINGS = [Binding("backspace", "go_up", "Parent folder")]

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        for p in paths:
            if p.name.startswith("."):
                continue
            try:
                if p.is_dir() or p.suffix.lower() in MODEL_SUFFIXES:
                    yield p
            except OSError:
                continue

    def on_mount(self) -> None:
        self.root.set_label(display_path(self.path))

    async def watch_path(self) -> None:
        await super().watch_path()
        self.root.set_label(display_path(self.path))

    def show(self, folder: Path) -> None:
        self.path = folder

    def action_go_up(self) -> None:
        current = Path(self.path)
        if current.parent != current:
            self.show(current.parent)


class OpenDialog(ModalScreen[Path | None]):
    CSS_PATH = "open_dialog.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, start: str | Path) -> None:
        super().__init__()
        self.start = Path(start).expanduser().resolve()

    def compose(self) -> ComposeResult:
        with Vertical(id="open-box"):
            yield Label("Open a model (.onnx .pt .pt2 .keras .tflite or a SavedModel folder)", id="open-title")
            yield ModelTree(self.start, id="open-tree")
            yield Input(placeholder="path to a model file or folder (Enter opens)", id="open-path")
            yield Static("", id="open-hint")
            with Horizontal(id="open-buttons"):
                yield Button("Open", variant="primary", id="open-ok", compact=True)
                yield Button("Cancel", id="open-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(ModelTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        box = self.query_one(Input)
        text = tilde_path(event.path)
        if box.value == text:  # selecting the same file twice opens it
            self.dismiss(event.path)
            return
        box.value = text
        self.query_one("#open-hint", Static).update("Enter or Open loads it")

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        self.query_one(Input).value = tilde_path(event.path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._open()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "open-ok":
            self._open()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _open(self) -> None:
        value = self.query_one(Input).value.strip()
        hint = self.query_one("#open-hint", Static)
        if not value:
            hint.update("Type a path or pick a file in the tree first.")
            return
        path = Path(value).expanduser()
        if path.is_dir() and not any((path / n).is_file() for n in ("saved_model.pb", "saved_model.pbtxt")):
            self.query_one(ModelTree).show(path.resolve())   # a plain folder: browse it
            hint.update("Pick a model file in this folder (backspace in the tree goes up).")
            return
        self.dismiss(path)
