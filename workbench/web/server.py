"""Serve the workbench to browsers with textual-serve: one app process per connection.

Each browser tab that connects gets its own ``python -m workbench ...`` process (textual-serve's
``AppService``), driven over a websocket; closing the tab sends the app a quit, its workers are cancelled
(variants are only ever published atomically) and the process ends. The page is our own template: it
loads nothing from other hosts (the terminal font ships with textual-serve), and the websocket address is
taken from the address the browser used, so a reverse proxy in front needs no extra setting.
"""

from __future__ import annotations

import errno
import ipaddress
import shlex
import socket
import sys
from pathlib import Path
from typing import Any, Sequence

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
FONT_SIZES = (8, 64)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def child_command(tui_args: Sequence[str]) -> str:
    """The shell line textual-serve runs per connection (``exec``: the app is the process it watches)."""
    return "exec " + shlex.join([sys.executable, "-m", "workbench", *tui_args])


def tui_args(model: str | None = None, *, data: str | None = None, trust_pickle: bool = False,
             workspace: str | None = None, presenter: bool = False, replay: str | None = None) -> list[str]:
    """The TUI's own arguments, with paths made absolute (the child may start in another folder)."""
    out: list[str] = []
    if model:
        out.append(str(Path(model).expanduser().resolve()))
    if data:
        out += ["--data", str(Path(data).expanduser().resolve())]
    if trust_pickle:
        out.append("--trust-pickle")
    if workspace:
        out += ["--workspace", str(Path(workspace).expanduser().resolve())]
    if presenter:
        out.append("--presenter")
    if replay:
        out += ["--replay", str(Path(replay).expanduser().resolve())]
    return out


def check_port(host: str, port: int) -> None:
    """Bind once to find a taken port or a bad address before the server starts (one-line errors)."""
    from engines.errors import WorkbenchError

    if not 0 < port < 65536:
        raise WorkbenchError(f"--port {port} is not a TCP port (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WorkbenchError(f"--host {host!r} is not an address of this machine ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as aiohttp binds: TIME_WAIT is no clash
        try:
            s.bind(address)
        except OSError as exc:
            raise bind_error(host, port, exc) from None


def bind_error(host: str, port: int, exc: OSError) -> Exception:
    from engines.errors import WorkbenchError

    if exc.errno == errno.EADDRINUSE:
        return WorkbenchError(f"port {port} on {host} is taken (another server is listening): "
                              "choose another with --port")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return WorkbenchError(f"port {port} on {host} needs privileges: choose a port above 1023 with --port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return WorkbenchError(f"--host {host} is not an address of this machine")
    return WorkbenchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _origin(request: web.Request) -> str:
    """scheme://host[:port] as the browser sees it (a reverse proxy's X-Forwarded-* headers win)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}"


class WorkbenchServer(Server):
    """textual-serve's server with the workbench's page and start-up lines."""

    def __init__(self, command: str, *, host: str, port: int, title: str = "workbench",
                 public_url: str | None = None, font_size: int = 16, max_sessions: int = 0) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url,
                         templates_path=TEMPLATES)
        self.fixed_url = public_url.rstrip("/") if public_url else None
        self.font_size = font_size
        self.sessions = 0          # connected browser tabs (one app process each)
        self.max_sessions = max_sessions   # 0: no limit
        self.sessions_total = 0

    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return self.fixed_url or f"http://{shown}:{self.port}"

    async def on_startup(self, app: web.Application) -> None:
        reach = ("this machine only (--host 0.0.0.0 lets others connect)" if is_loopback(self.host)
                 else "every machine that can reach this address")
        self.console.print(f"workbench web: serving on {self.url()} for {reach}", highlight=False)
        cap = f"at most {self.max_sessions}" if self.max_sessions else "no limit on the number"
        self.console.print(f"one app process per browser tab ({cap}); Ctrl+C stops the server and every session",
                           highlight=False)

    def full(self) -> bool:
        return 0 < self.max_sessions <= self.sessions

    def full_text(self) -> str:
        return (f"workbench: this server is full ({self.sessions} of {self.max_sessions} sessions): "
                "try again when a session ends")

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        if self.full():
            raise web.HTTPServiceUnavailable(text=self.full_text())
        base = self.fixed_url or _origin(request)
        ws_base = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1]
        try:
            size = int(request.query.get("fontsize", self.font_size))
        except ValueError:
            size = self.font_size
        return {
            "font_size": min(max(size, FONT_SIZES[0]), FONT_SIZES[1]),
            "app_websocket_url": f"{ws_base}{request.app.router['websocket'].url_for()}",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.full():   # no app process: the tab is told why and closed ("try again later")
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close(code=1013, message=self.full_text().encode()[:120])
            return ws
        self.sessions += 1
        self.sessions_total += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions -= 1


def serve(command: str, *, host: str, port: int, public_url: str | None = None, font_size: int = 16,
          title: str = "workbench", max_sessions: int = 0) -> None:
    """Run until Ctrl+C or SIGTERM; a port taken meanwhile is a one-line :class:`WorkbenchError`."""
    check_port(host, port)
    server = WorkbenchServer(command, host=host, port=port, public_url=public_url, font_size=font_size,
                             title=title, max_sessions=max_sessions)
    try:
        server.serve()
    except OSError as exc:
        raise bind_error(host, port, exc) from None
