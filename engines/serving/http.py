"""Run an ASGI app on a real HTTP server (uvicorn) in a background thread.

``serve_in_thread(app)`` binds 127.0.0.1 on a free port by default and
returns once the server accepts connections. ``RunningServer.stop()`` shuts
down gracefully: uvicorn stops accepting, lets requests in flight finish (up to
``graceful_s``), then runs the app's lifespan shutdown. Each connection is
served by the event loop independently, so a slow client holds only its own
connection; idle keep-alive connections are closed after ``keep_alive_s``, and
the app bounds how long a request body may take to arrive.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from engines.errors import WorkbenchError


@dataclass
class RunningServer:
    url: str
    port: int
    host: str
    _server: Any = field(repr=False, default=None)
    _thread: threading.Thread | None = field(repr=False, default=None)
    _before_stop: list[Callable[[], None]] = field(repr=False, default_factory=list)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, finish requests in flight, shut the app down; idempotent."""
        for hook in self._before_stop:
            hook()
        self._before_stop.clear()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(5)
            self._thread = None

    def wait(self) -> None:
        """Block until the server stops (Ctrl+C stops it gracefully)."""
        try:
            while self.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            self.stop()

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only for that proto; without it
    # Nagle + delayed ACK adds ~40 ms to every keep-alive request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WorkbenchError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): "
                             "pick another --port or stop what uses it") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_in_thread(asgi_app: Any, host: str = "127.0.0.1", port: int = 0, *, keep_alive_s: int = 5,
                    graceful_s: int = 30, limit_concurrency: int | None = 1000, log_level: str = "warning",
                    access_log: bool = False, start_timeout_s: float = 15.0,
                    before_stop: Callable[[], None] | None = None) -> RunningServer:
    """Start ``asgi_app`` under uvicorn in a daemon thread and return when it is listening."""
    import uvicorn

    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(asgi_app, host=host, port=bound_port, log_config=None, log_level=log_level,
                            access_log=access_log, timeout_keep_alive=keep_alive_s,
                            timeout_graceful_shutdown=graceful_s, limit_concurrency=limit_concurrency,
                            lifespan="auto", server_header=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the caller below if startup fails
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"workbench-http-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if errors or not thread.is_alive():
            detail = f": {errors[0]}" if errors else ""
            raise WorkbenchError(f"the HTTP server on {host}:{bound_port} failed to start{detail}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise WorkbenchError(f"the HTTP server on {host}:{bound_port} did not start within {start_timeout_s:.0f} s")
        time.sleep(0.01)
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(url=f"http://{shown}:{bound_port}", port=bound_port, host=host, _server=server,
                         _thread=thread, _before_stop=[before_stop] if before_stop else [])
