"""The load generator's lean HTTP/1.1 client: keep-alive, lengths, chunked, closed connections, errors by name."""

from __future__ import annotations

import socket
import threading

import pytest

from engines.serving import wire


class Scripted:
    """A TCP server on 127.0.0.1 answering each request with the next scripted reply (None: close at once)."""

    def __init__(self, replies: list[bytes | None], per_connection: int = 100) -> None:
        self.replies = list(replies)
        self.per_connection = per_connection
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[bytes, bytes] | None:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = next(int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length"))
        while len(rest) < length:
            rest += conn.recv(65536)
        return head + b"\r\n\r\n" + rest[:length], rest[length:]

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            buf = b""
            with conn:
                for _ in range(self.per_connection):
                    got = self._read_request(conn, buf)
                    if got is None or not self.replies:
                        break
                    req, buf = got
                    reply = self.replies.pop(0)
                    if reply is None:
                        break
                    self.requests.append(req)
                    conn.sendall(reply)

    def close(self) -> None:
        self.sock.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_request_is_built_once_with_length_and_type():
    host, port, req = wire.request_bytes("http://127.0.0.1:8080/invocations", b"abc", "application/x-npy")
    assert (host, port) == ("127.0.0.1", 8080)
    assert req.startswith(b"POST /invocations HTTP/1.1\r\n") and req.endswith(b"\r\n\r\nabc")
    assert b"Content-Length: 3\r\n" in req and b"Content-Type: application/x-npy\r\n" in req
    with pytest.raises(ValueError):
        wire.request_bytes("https://example.com/invocations", b"", "application/json")


def test_keep_alive_reuses_one_connection_and_reads_by_length():
    srv = Scripted([ok(b"one"), ok(b"two"), b"HTTP/1.1 429 Too Many\r\nContent-Length: 2\r\n\r\n{}"])
    _, _, req = wire.request_bytes(f"http://127.0.0.1:{srv.port}/invocations", b"x" * 300_000, "application/json")
    conn = wire.Connection("127.0.0.1", srv.port, 5)
    assert conn.send(req) == (200, b"one")
    assert conn.send(req) == (200, b"two")
    assert conn.send(req) == (429, b"{}")
    assert srv.connections == 1 and all(r.endswith(b"x" * 300_000) for r in srv.requests)
    conn.close()
    srv.close()


def test_chunked_answer_and_connection_close():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    srv = Scripted([chunked, ok(b"bye", b"Connection: close\r\n"), ok(b"again")])
    _, _, req = wire.request_bytes(f"http://127.0.0.1:{srv.port}/", b"{}", "application/json")
    conn = wire.Connection("127.0.0.1", srv.port, 5)
    assert conn.send(req) == (200, b"abcde")
    assert conn.send(req) == (200, b"bye")
    assert conn.sock is None                        # the server said close: the next request reconnects
    assert conn.send(req) == (200, b"again")
    assert srv.connections == 2
    conn.close()
    srv.close()


def test_idle_connection_closed_by_the_server_is_reopened_once():
    srv = Scripted([ok(b"first"), ok(b"second")], per_connection=1)   # closes after each answer
    _, _, req = wire.request_bytes(f"http://127.0.0.1:{srv.port}/", b"{}", "application/json")
    conn = wire.Connection("127.0.0.1", srv.port, 5)
    assert conn.send(req) == (200, b"first")
    assert conn.send(req) == (200, b"second")
    assert srv.connections == 2
    conn.close()
    srv.close()


def test_errors_carry_httpx_names():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]                    # bound, not listening: connection refused
        with pytest.raises(wire.ConnectError):
            wire.Connection("127.0.0.1", dead, 1).send(b"x")
    srv = Scripted([None])                           # closes a fresh connection without answering
    with pytest.raises(wire.RemoteProtocolError):
        wire.Connection("127.0.0.1", srv.port, 5).send(wire.request_bytes(f"http://127.0.0.1:{srv.port}/", b"1",
                                                                          "application/json")[2])
    srv.close()
    srv = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], per_connection=1)
    with pytest.raises(wire.RemoteProtocolError):    # closed mid-body
        wire.Connection("127.0.0.1", srv.port, 5).send(wire.request_bytes(f"http://127.0.0.1:{srv.port}/", b"1",
                                                                          "application/json")[2])
    srv.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)                                 # accepts (backlog) but never answers
    with pytest.raises(wire.ReadTimeout):
        wire.Connection("127.0.0.1", silent.getsockname()[1], 0.2).send(b"POST / HTTP/1.1\r\n\r\n")
    silent.close()
    srv = Scripted([b"garbage\r\n\r\n"])
    with pytest.raises(wire.RemoteProtocolError):
        wire.Connection("127.0.0.1", srv.port, 5).send(wire.request_bytes(f"http://127.0.0.1:{srv.port}/", b"1",
                                                                          "application/json")[2])
    srv.close()
