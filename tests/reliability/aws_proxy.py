"""An HTTP proxy on 127.0.0.1 in front of moto's server that cuts, holds or denies chosen AWS calls.

The clients under test talk to the proxy exactly as to AWS (``--endpoint-url``),
so what they see is real: a connection closed before the request reached the
service (nothing created), one closed after the service handled it (created,
answer lost), a call held until a signal arrives, a bucket answering 403.
Operations are named as in AWS's API (``CreateEndpoint``, ``PutObject``, ...).
"""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade", "expect"}
_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied'
           b'</Message></Error>')


def operation(method: str, path: str, headers) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    url = urlsplit(path)
    if url.path.startswith("/endpoints/") and url.path.endswith("/invocations"):
        return "InvokeEndpoint"
    parts = [p for p in url.path.split("/") if p]
    has_key, q = len(parts) > 1, url.query
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        return ("UploadPart" if "partNumber=" in q else "PutObject") if has_key else "CreateBucket"
    if method == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId=" in q:
        return "CompleteMultipartUpload"
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId=" in q else "DeleteObject") if has_key else "DeleteBucket"
    return "GetObject" if has_key else "ListObjects"


@dataclass
class Rule:
    op: str                      # operation name, or "*" for every call
    action: str                  # cut_request | cut_response | deny | hold_response | down_before | down_after
    times: int | None = None     # None: every time
    bucket: str | None = None    # only calls to this bucket
    after: int = 0               # let this many matching calls through first
    hits: int = 0


@dataclass
class AwsProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    down: bool = False           # every call is cut (the connection is gone)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "AwsProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def clear(self) -> None:
        self.rules.clear()
        self.down = False

    # -- one request ----------------------------------------------------------------
    def _rule(self, op: str, path: str) -> Rule | None:
        for rule in self.rules:
            if rule.op not in ("*", op) or (rule.bucket and not urlsplit(path).path.startswith(f"/{rule.bucket}")):
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            if rule.times is not None and rule.hits >= rule.times:
                continue
            rule.hits += 1
            return rule
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        op = operation(h.command, h.path, h.headers)
        self.seen.append(op)
        rule = None if self.down else self._rule(op, h.path)
        if rule and rule.action == "down_before":
            self.down = True
        if self.down or (rule and rule.action == "cut_request"):
            return _cut(h)
        if rule and rule.action == "deny":
            return _send(h, 403, [("Content-Type", "application/xml")], b"" if h.command == "HEAD" else _DENIED)
        status, headers, data = self._forward(h, body)
        if rule and rule.action == "down_after":
            self.down = True
        if rule and rule.action in ("cut_response", "down_after"):
            return _cut(h)
        if rule and rule.action == "hold_response":
            self.held.set()
            self.release.wait(120)
        try:
            _send(h, status, headers, data)
        except OSError:  # the client gave up while the answer was held
            h.close_connection = True

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list, bytes]:
        up = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP and k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
        conn.close()
        return resp.status, out, data


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        out = b""
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += h.rfile.read(size)
            h.rfile.readline()
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n else b""


def _send(h: BaseHTTPRequestHandler, status: int, headers: list, data: bytes) -> None:
    h.send_response_only(status)
    length_sent = False
    for k, v in headers:
        if k.lower() in ("server", "date"):
            continue
        if k.lower() == "content-length":
            if h.command != "HEAD":
                continue
            length_sent = True
        h.send_header(k, v)
    if not length_sent:
        h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(data)
    h.wfile.flush()


def _cut(h: BaseHTTPRequestHandler) -> None:
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
