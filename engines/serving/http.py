"""Run an ASGI app on a real HTTP server (uvicorn) in a background thread.

``serve_in_thread(app)`` binds 127.0.0.1 on a free port by default and
returns once the server accepts connections. ``RunningServer.stop()`` shuts
down gracefully: uvicorn stops accepting, lets requests in flight finish (up to
``graceful_s``), then runs the app's lifespan shutdown; :meth:`RunningServer.wait`
does that on Ctrl+C and on SIGTERM (how SageMaker and Docker stop a container).

Each connection is served by the event loop independently, so a slow client
holds only its own connection. What a client may hold:

- a connection that has not sent a whole request head within ``header_timeout_s``
  (counted from when it opened or got its last answer) is closed, whether it
  sends nothing or trickles a byte at a time (slowloris); idle keep-alive
  connections are closed after ``keep_alive_s``; a request head is at most
  ``max_header_bytes`` (larger: 400);
- at most ``max_connections`` are open: one more closes the connection that has
  waited longest without a request in progress (or the new one when all are busy);
- at most ``max_requests`` requests run at once (more: 503 with Retry-After).
  Open connections do not count against that, so idle or slow sockets cannot
  starve real requests;
- the app bounds how long a request body may take to arrive.
"""

from __future__ import annotations

import signal
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
        """Block until the server stops; Ctrl+C or SIGTERM stops it gracefully (requests in flight finish).

        On the main thread both signals only set a flag (no KeyboardInterrupt is raised into the middle of a
        thread join or lock); a second one while draining makes uvicorn stop at once.
        """
        asked = threading.Event()
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            if asked.is_set() and self._server is not None:
                self._server.force_exit = True
            asked.set()

        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self.running and not asked.wait(0.2):
                pass
        except KeyboardInterrupt:          # off the main thread the caller's handler may still raise
            pass
        try:
            self.stop()
        except KeyboardInterrupt:
            if self._server is not None:
                self._server.force_exit = True
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

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


def _default_max_connections() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1000
    return 4096 if soft == resource.RLIM_INFINITY else max(64, min(4096, soft - 128))


def serve_in_thread(asgi_app: Any, host: str = "127.0.0.1", port: int = 0, *, keep_alive_s: int = 5,
                    header_timeout_s: float = 10.0, max_header_bytes: int = 16 * 1024,
                    max_connections: int | None = None, max_requests: int = 1000, graceful_s: int = 30,
                    log_level: str = "warning", access_log: bool = False, start_timeout_s: float = 15.0,
                    before_stop: Callable[[], None] | None = None) -> RunningServer:
    """Start ``asgi_app`` under uvicorn in a daemon thread and return when it is listening."""
    import uvicorn

    from engines.serving.guards import guarded_protocol, limit_requests

    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    protocol = guarded_protocol(header_timeout_s, max_connections or _default_max_connections())
    config = uvicorn.Config(limit_requests(asgi_app, max_requests), host=host, port=bound_port, log_config=None,
                            log_level=log_level, access_log=access_log, http=protocol,
                            timeout_keep_alive=keep_alive_s, h11_max_incomplete_event_size=max_header_bytes,
                            timeout_graceful_shutdown=graceful_s, limit_concurrency=None,
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
