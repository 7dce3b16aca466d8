"""Batching's local server: start, stop, and its live counters on the screen.

The server keeps running when you leave the screen (it lives in ``session.server``) until you stop it or
quit. Mixed into :class:`screens.batching.BatchingScreen`, whose form gives the model and settings
(``_target``, ``_settings``) and whose task panel runs the start and stop (``_start``, ``_guard``).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from screens.batching_view import server_text
from workbench.wiring import batching as wiring


class ServerControls:
    @property
    def server(self) -> Any:
        entry = self.session.server
        return entry if entry is not None and entry.running else None

    def _tick_server(self) -> None:
        if self.server is not None and self.app.screen is self and self.query("#bt-server"):
            self.query_one("#bt-server", Static).update(self._server_text())

    def _server_text(self) -> str:
        return server_text(self.server)

    def action_toggle_server(self) -> None:
        if self.server is not None:
            self.action_stop_server()
        else:
            self.action_start_server()

    def action_start_server(self) -> None:
        def go() -> None:
            if self.server is not None:
                self.notify(f"already serving at {self.server.url}")
                return
            t, st = self._target(), self._settings()
            self._start("start server", wiring.start_server, str(t.path), t.format,
                        max_batch=st["max_batch"], max_delay_ms=st["max_delay_ms"], model_name=t.name)
        self._guard(go)

    def action_stop_server(self) -> None:
        if self.server is None:
            self.notify("the server is not running")
            return
        self._start("stop server", wiring.stop_server, self.server)
