"""Quit cleanly when the terminal goes away.

An SSH drop or a closed tmux pane sends SIGHUP; a process manager sends
SIGTERM. Without a handler a TUI can outlive its terminal and spin on the
dead tty, burning a core. Here both signals ask the app to exit (workers are
cancelled, variants are only ever published atomically, so nothing the user
made is lost); if the app has not finished within a few seconds, the process
ends anyway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

HANGUP_EXIT_CODE = 129
GRACE_S = 5.0


def install(app: Any) -> None:
    """Call from the app's event loop (e.g. ``on_mount``) of a real terminal run."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        timer = threading.Timer(GRACE_S, os._exit, args=(HANGUP_EXIT_CODE,))
        timer.daemon = True
        timer.start()
        app.exit(return_code=128 + signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
