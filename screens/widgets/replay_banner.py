"""The banner every area shows during a replay: the figures are recorded, when and where."""

from __future__ import annotations

from textual.widgets import Static


class ReplayBanner(Static):
    DEFAULT_CSS = """
    ReplayBanner {
        height: auto;
        width: 1fr;
        padding: 0 1;
        background: $warning 25%;
        color: $text;
        text-style: bold;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(f"● {text}", id="replay-banner", markup=False)
        self.tooltip = ("These figures were measured earlier and stored in the workspace; nothing shown was "
                        "re-measured for this demo. A recipe asked for again is read from the workspace.")
