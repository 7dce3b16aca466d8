"""Presenter mode: a high-contrast theme and layout for a projector, and the replay banner's data.

``workbench --presenter`` (and ``workbench web --presenter``) calls :func:`apply` on the app before it
runs: the ``workbench-presenter`` theme (white on black, saturated accents, no low-contrast greys), the
``-presenter`` class on the app (rules in ``screens/presenter.tcss``: bold navigation, no zebra stripes,
no muted text) and, with ``--replay WORKSPACE``, the :class:`workbench.replay.Replay` the banner shows.
Large text is the terminal's (or the browser page's) font size: the layout is checked at 80x24, what a
projector font leaves on a laptop screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.theme import Theme

if TYPE_CHECKING:
    from workbench.replay import Replay

THEME_NAME = "workbench-presenter"
CSS_CLASS = "-presenter"
STYLESHEET = Path(__file__).resolve().parents[1] / "screens" / "presenter.tcss"
WEB_FONT_SIZE = 24   # the browser page's font size in presenter mode (textual-serve's default is 16)

PRESENTER_THEME = Theme(
    name=THEME_NAME,
    primary="#1F4FFF",       # white on it: 6.2:1
    secondary="#00D7FF",
    accent="#FFE000",
    warning="#FFE000",
    error="#FF5F5F",
    success="#3CFF3C",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#262626",
    boost="#333333",
    dark=True,
    variables={
        "text-muted": "#FFFFFF",
        "text-disabled": "#BFBFBF",
        "footer-key-foreground": "#FFE000",
        "footer-description-foreground": "#FFFFFF",
        "block-cursor-background": "#FFE000",
        "block-cursor-foreground": "#000000",
        "block-cursor-text-style": "bold",
        "input-selection-background": "#1F4FFF",
        "scrollbar": "#808080",
    },
)


def apply(app: Any, *, presenter: bool = True, replay: "Replay | None" = None) -> None:
    """Turn presenter mode (and/or a replay) on for ``app``; call before the app runs."""
    app.replay = replay
    if not presenter:
        return
    app.register_theme(PRESENTER_THEME)
    app.theme = THEME_NAME
    app.add_class(CSS_CLASS)
    app.format_title = _title_without_dim   # Textual dims the sub-title (the model): unreadable on a projector
    if STYLESHEET not in app.css_path:
        app.css_path.append(STYLESHEET)


def _title_without_dim(title: str, sub_title: str) -> Any:
    from textual.content import Content

    return Content(f"{title} — {sub_title}" if sub_title else title)


def is_presenter(app: Any) -> bool:
    return bool(app.has_class(CSS_CLASS))
