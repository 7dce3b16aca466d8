"""Quit cleanly when the terminal goes away.

An SSH drop or a closed tmux pane sends SIGHUP; a process manager sends
SIGTERM. A process that is not the terminal's session leader (``make run``
starts the app under make) may get no signal at all when the terminal goes.
Without a guard a TUI then outlives its terminal and spins on the dead tty,
burning a core (seen here). So both signals ask the app to exit, and once a
second the terminal is probed (``tcgetattr`` fails with EIO on a hung-up tty).
Workers are cancelled and variants are only ever published atomically, so
nothing the user made is lost; if the app has not finished within a few
seconds, the process ends anyway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import termios
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

    try:
        fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else -1
    except (OSError, ValueError):
        fd = -1
    if fd >= 0 and os.isatty(fd):
        def probe() -> None:
            try:
                termios.tcgetattr(fd)
            except termios.error:
                on_signal(signal.SIGHUP)

        app.set_interval(1.0, probe, name="terminal-probe")
