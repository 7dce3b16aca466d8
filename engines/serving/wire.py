"""A lean HTTP/1.1 keep-alive client for the closed-loop load generator (plain ``http://`` only).

The load generator shares the CPU with the server it measures, so every
microsecond it spends per request is taken from the server. This client sends
one pre-built request (head and body joined once) with a single ``sendall``,
reads the answer head with a couple of ``recv`` calls and the body by its
``Content-Length`` (or chunked), and keeps the connection open for the next
request: no header objects, no per-request allocation beyond the answer.

Failures raise exceptions named as httpx names them (``ConnectError``,
``ConnectTimeout``, ``ReadTimeout``, ``WriteError``, ``ReadError``,
``RemoteProtocolError``), so the load generator counts errors under the same
names whichever client sent the request.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024


class WireError(Exception):
    """Base of the errors below (the load generator counts them by class name)."""


class ConnectError(WireError):
    pass


class ConnectTimeout(WireError):
    pass


class ReadTimeout(WireError):
    pass


class WriteError(WireError):
    pass


class ReadError(WireError):
    pass


class RemoteProtocolError(WireError):
    pass


class _Stale(Exception):
    """A reused connection was closed by the server before it answered (resent once on a new one)."""


def request_bytes(url: str, body: bytes, content_type: str) -> tuple[str, int, bytes]:
    """(host, port, the whole POST request) for ``url``; the request is built once and sent many times."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the lean client speaks plain http:// only, not {url!r}")
    host, port = parts.hostname, parts.port or 80
    shown = f"[{host}]" if ":" in host else host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {path} HTTP/1.1\r\nHost: {shown}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nAccept: */*\r\n\r\n").encode("latin-1")
    return host, port, head + body


class Connection:
    """One keep-alive connection; :meth:`send` returns (status, answer body) or raises a :class:`WireError`."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except socket.timeout:
            raise ConnectTimeout(f"connecting to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise ConnectError(str(exc)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, request: bytes) -> tuple[int, bytes]:
        if self.sock is not None:
            try:
                return self._exchange(self.sock, request, reused=True)
            except _Stale:                  # the server closed the idle keep-alive connection: a new one
                self.close()
        return self._exchange(self._connect(), request, reused=False)

    def _exchange(self, sock: socket.socket, request: bytes, reused: bool) -> tuple[int, bytes]:
        try:
            sock.sendall(request)
        except socket.timeout:
            self.close()
            raise WriteError("sending the request timed out") from None
        except OSError as exc:
            if reused:
                raise _Stale() from None
            self.close()
            raise WriteError(str(exc)) from None
        try:
            return self._answer(sock, reused)
        except _Stale:
            raise
        except socket.timeout:
            self.close()
            raise ReadTimeout("the answer did not arrive in time") from None
        except OSError as exc:
            if reused and not self.buf and isinstance(exc, ConnectionResetError):
                raise _Stale() from None
            self.close()
            raise ReadError(str(exc)) from None
        except (WireError, ValueError) as exc:
            self.close()
            if isinstance(exc, WireError):
                raise
            raise RemoteProtocolError(f"malformed answer: {exc}") from None

    def _recv(self, sock: socket.socket) -> bytes:
        chunk = sock.recv(262144)
        if not chunk:
            raise RemoteProtocolError("the server closed the connection mid-answer")
        return chunk

    def _answer(self, sock: socket.socket, reused: bool) -> tuple[int, bytes]:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            chunk = sock.recv(262144)
            if not chunk:
                if not buf and reused:
                    raise _Stale()
                raise RemoteProtocolError("the server closed the connection without answering")
            buf += chunk
            if len(buf) > MAX_HEAD and buf.find(b"\r\n\r\n") < 0:
                raise RemoteProtocolError("the answer head is too large")
            end = buf.find(b"\r\n\r\n")
        lines = buf[:end].split(b"\r\n")
        try:
            status = int(lines[0].split(None, 2)[1])
        except (IndexError, ValueError):
            raise RemoteProtocolError(f"malformed status line {lines[0][:80]!r}") from None
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        rest = buf[end + 4:]
        if chunked:
            body, rest = self._chunked(sock, rest)
        elif length is not None:
            if len(rest) < length:
                acc = bytearray(rest)
                while len(acc) < length:
                    acc += self._recv(sock)
                rest = bytes(acc)
            body, rest = rest[:length], rest[length:]
        else:                               # no length: the body runs to the end of the connection
            close = True
            parts = [rest]
            while chunk := sock.recv(262144):
                parts.append(chunk)
            body, rest = b"".join(parts), b""
        self.buf = rest
        if close:
            self.close()
        return status, body

    def _chunked(self, sock: socket.socket, rest: bytes) -> tuple[bytes, bytes]:
        parts = []
        while True:
            while (eol := rest.find(b"\r\n")) < 0:
                rest += self._recv(sock)
            size = int(rest[:eol].split(b";")[0], 16)
            rest = rest[eol + 2:]
            while len(rest) < size + 2:
                rest += self._recv(sock)
            if size == 0:                   # no trailers expected from our servers
                return b"".join(parts), rest[2:]
            parts.append(rest[:size])
            rest = rest[size + 2:]
