"""The Deploy screen's cold-start line: hidden until a local check has measured the package's cold start."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class ColdStartView(Static):
    """Shows ``cold_start`` (engines.deploy.coldstart figures, as a plain dict) in two lines."""

    DEFAULT_CSS = """
    ColdStartView {
        display: none;
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def show(self, cold: dict[str, Any] | None) -> None:
        if not cold:
            self.display = False
            return
        lines = [cold.get("line") or "cold start measured",
                 "  " + str(cold.get("scope") or "")]
        if cold.get("advice"):
            lines.append(f"  provisioned concurrency: {cold['advice']['text']}")
        self.update("\n".join(lines))
        self.display = True
