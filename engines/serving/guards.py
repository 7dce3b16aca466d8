"""What keeps a flood of sockets from starving real requests (used by :mod:`engines.serving.http`).

``guarded_protocol`` is uvicorn's h11 protocol with a request-head deadline and
a cap on open connections; ``limit_requests`` wraps the ASGI app with a cap on
requests running at once. uvicorn's own ``limit_concurrency`` counts open
connections too, so 1,000 idle sockets made every real request a 503; here
only requests count, and sockets that never send a request are closed.
"""

from __future__ import annotations

import json
from typing import Any


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type:
    """An ``H11Protocol`` subclass closing connections that send no whole request head in time."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        closed_slow = 0      # connections closed for not sending a request head in time
        evicted = 0          # connections closed to make room under max_connections

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            self._head_timer: Any = None
            super().connection_made(transport)
            self._start_waiting()
            if len(self.connections) > max_connections:
                self._make_room()

        def _in_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _start_waiting(self) -> None:
            """From now on the client has ``header_timeout_s`` to send a whole request head."""
            self.waiting_since = self.loop.time()
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_deadline)

        def _head_deadline(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self._in_request():
                return                      # a request is running: the body timeout and the app rule now
            type(self).closed_slow += 1
            self._close()

        def _close(self) -> None:
            import h11

            try:
                self.conn.send(h11.ConnectionClosed())
            except h11.LocalProtocolError:
                pass
            self.transport.close()

        def _make_room(self) -> None:
            waiting = [c for c in self.connections if isinstance(c, GuardedH11Protocol) and c is not self
                       and not c._in_request() and not c.transport.is_closing()]
            victim = min(waiting, key=lambda c: c.waiting_since) if waiting else self
            type(self).evicted += 1
            victim._close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self._in_request():
                self._start_waiting()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    return GuardedH11Protocol


def limit_requests(app: Any, limit: int) -> Any:
    """``app`` answering 503 (Retry-After: 1) while ``limit`` HTTP requests already run."""
    active = 0
    body = json.dumps({"error": f"the server is busy ({limit} requests running): retry later"}).encode()

    async def limited(scope: dict, receive: Any, send: Any) -> None:
        nonlocal active
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if active >= limit:
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        active += 1
        try:
            await app(scope, receive, send)
        finally:
            active -= 1

    limited.state = getattr(app, "state", None)  # type: ignore[attr-defined]
    return limited
