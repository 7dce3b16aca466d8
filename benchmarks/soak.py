"""Soak: the inference server under abuse, on loopback, bounded in time.

``workbench serve`` runs a tiny ONNX model (16 -> 4) in its own process. First
normal traffic alone (2 keep-alive clients, one small JSON request every 10 ms
each) gives the idle latency; then, for ``--duration`` seconds, the same normal
traffic runs beside

- ``--malformed`` malformed requests (bad JSON, wrong shapes, bad NPY, wrong
  content types, 2,000-deep JSON, oversize Content-Length, invalid HTTP),
  spread evenly over the run;
- ``--slow`` slow sockets sending a request head one byte a second (reopened
  when the server closes them);
- ``--large`` clients posting 3.8 MiB JSON bodies back to back.

Each load runs in its own process so the clients do not slow each other. After
the run the server is left idle ``--settle`` seconds and its memory read again.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/soak.py [--duration 20]

Writes ``benchmarks/results/soak.json``. Targets: normal p99 during the run under
3x the idle p99, no 5xx for valid requests, server RSS back within 10 % of its start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
SMALL = json.dumps([[0.25] * 16]).encode()


async def _request(reader, writer, method: str, path: str, body: bytes = b"", ctype: str = "application/json",
                   raw: bytes | None = None) -> tuple[int, bool]:
    head = raw if raw is not None else (f"{method} {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: {ctype}\r\n"
                                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    writer.write(head)
    await writer.drain()
    answer = await reader.readuntil(b"\r\n\r\n")
    status = int(answer.split(b" ", 2)[1])
    lower = answer.lower()
    length = 0
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status, b"connection: close" in lower


class _Conn:
    def __init__(self, port: int) -> None:
        self.port, self.reader, self.writer = port, None, None

    async def call(self, *a, **kw) -> int:
        for attempt in (0, 1):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                status, close = await _request(self.reader, self.writer, *a, **kw)
                if close:
                    self.close()
                return status
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                self.close()
                if attempt:
                    return -1             # the connection failed twice: counted as an error
        return -1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _counts(codes: list[int]) -> dict:
    out: dict[str, int] = {}
    for c in codes:
        key = "error" if c < 0 else f"{c // 100}xx"
        out[key] = out.get(key, 0) + 1
    return out


async def _normal(port: int, duration: float, clients: int = 2, gap_s: float = 0.01) -> dict:
    lat: list[float] = []
    codes: list[int] = []

    async def one() -> None:
        conn = _Conn(port)
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            codes.append(await conn.call("POST", "/invocations", SMALL))
            lat.append(time.perf_counter() - t0)
            await asyncio.sleep(gap_s)
        conn.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    lat.sort()
    pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3)) if lat else (lambda q: None)
    return {"requests": len(codes), "codes": _counts(codes), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 3) if lat else None}


def _malformed_cases() -> list[dict]:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.zeros((1, 3), np.float32))
    deep = b"[" * 2000 + b"1" + b"]" * 2000
    return [{"body": b"{not json"}, {"body": buf.getvalue(), "ctype": "application/x-npy"}, {"body": b""},
            {"body": b"x" * 64, "ctype": "text/plain"}, {"body": b"\x93NUMPY\x01\x00garbage",
                                                         "ctype": "application/x-npy"},
            {"body": deep}, {"body": b'[["a", "b"]]'},
            {"raw": b"POST /invocations HTTP/1.1\r\nHost: soak\r\nContent-Length: 104857600\r\n"
                    b"Content-Type: application/json\r\n\r\n"},
            {"raw": b"GARBAGE / NOT-HTTP\r\n\r\n"}]


async def _malformed(port: int, duration: float, total: int, conns: int = 4) -> dict:
    cases = _malformed_cases()
    codes: list[int] = []
    per_conn = total // conns
    gap = duration / max(per_conn, 1)

    async def one(k: int) -> None:
        conn = _Conn(port)
        start = time.perf_counter()
        for i in range(per_conn):
            case = cases[(i * conns + k) % len(cases)]
            codes.append(await conn.call("POST", "/invocations", case.get("body", b""),
                                         ctype=case.get("ctype", "application/json"), raw=case.get("raw")))
            delay = start + (i + 1) * gap - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        conn.close()

    await asyncio.gather(*(one(k) for k in range(conns)))
    return {"requests": len(codes), "codes": _counts(codes)}


async def _slow(port: int, duration: float, n: int) -> dict:
    loop = asyncio.get_running_loop()
    stats = {"opened": 0, "closed_by_server": 0, "open_failed": 0}

    class Slow(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport, self.closed = transport, False
            transport.write(b"POST /invocations HTTP/1.1\r\nHost: soak\r\nX-Slow: ")

        def connection_lost(self, exc) -> None:
            self.closed = True

    async def open_one():
        try:
            _, proto = await loop.create_connection(Slow, "127.0.0.1", port)
            stats["opened"] += 1
            return proto
        except OSError:
            stats["open_failed"] += 1
            return None

    socks = list(await asyncio.gather(*(open_one() for _ in range(n))))
    end = time.perf_counter() + duration
    while time.perf_counter() < end:
        for i, s in enumerate(socks):
            if s is None or s.closed:
                if s is not None:
                    stats["closed_by_server"] += 1
                socks[i] = await open_one()
            else:
                s.transport.write(b"a")
        await asyncio.sleep(1.0)
    for s in socks:
        if s is not None and not s.closed:
            s.transport.close()
    return stats


async def _large(port: int, duration: float, clients: int) -> dict:
    import numpy as np

    rows = int(3.8 * 2**20 / (16 * 21))
    body = json.dumps({"instances": np.random.default_rng(0).standard_normal((rows, 16))
                      .astype(np.float32).tolist()}).encode()
    codes: list[int] = []
    lat: list[float] = []

    async def one() -> None:
        conn = _Conn(port)
        end = time.perf_counter() + duration
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            codes.append(await conn.call("POST", "/invocations", body))
            lat.append(time.perf_counter() - t0)
        conn.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return {"body_mib": round(len(body) / 2**20, 2), "requests": len(codes), "codes": _counts(codes),
            "median_s": round(sorted(lat)[len(lat) // 2], 3) if lat else None}


def _role(name: str, port: int, duration: float, n: int, out: multiprocessing.Queue) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * n + 256)), hard))
    fn = {"normal": lambda: _normal(port, duration), "malformed": lambda: _malformed(port, duration, n),
          "slow": lambda: _slow(port, duration, n), "large": lambda: _large(port, duration, n)}[name]
    out.put((name, asyncio.run(fn())))


def _run_roles(port: int, duration: float, roles: dict[str, int], sample) -> dict:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_role, args=(name, port, duration, n, q)) for name, n in roles.items()]
    for p in procs:
        p.start()
    results: dict = {}
    deadline = time.monotonic() + duration + 180
    while len(results) < len(procs) and time.monotonic() < deadline:
        sample()
        try:
            name, res = q.get(timeout=0.25)
            results[name] = res
        except Exception:
            pass
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    return results


def _rss(proc) -> tuple[int, int]:
    import psutil

    main = proc.memory_info().rss
    kids = 0
    for c in proc.children(recursive=True):
        try:
            kids += c.memory_info().rss
        except psutil.Error:
            pass
    return main, kids


def main() -> int:
    import psutil

    from tests.perf_fixtures import tiny_onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--idle", type=float, default=8.0, help="seconds of normal traffic alone")
    ap.add_argument("--malformed", type=int, default=10_000)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--large", type=int, default=16)
    ap.add_argument("--settle", type=float, default=15.0, help="idle seconds before memory is read again")
    ap.add_argument("--no-warm-paths", dest="warm_paths", action="store_false",
                    help="read the start memory before any malformed/slow/large request was served")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    model = tiny_onnx(tmp / "tiny.onnx")
    server = subprocess.Popen([sys.executable, "-m", "workbench", "serve", str(model), "--port", "0",
                               "--max-batch", "32"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0]
        port = int(url.rsplit(":", 1)[1])
        proc = psutil.Process(server.pid)
        load = os.getloadavg()
        asyncio.run(_normal(port, 3.0))                                  # warm-up
        # every code path once (malformed bodies, a slow socket, a large JSON body and its decoding child), then
        # settle: the start figure then holds the server's one-time imports, so the end figure shows retention
        if args.warm_paths:
            _run_roles(port, 3.0, {"malformed": 200, "slow": 10, "large": 1}, lambda: None)
            time.sleep(args.settle)
        idle = _run_roles(port, args.idle, {"normal": 0}, lambda: None)["normal"]
        rss_start = _rss(proc)
        peak = [0]

        def sample() -> None:
            peak[0] = max(peak[0], sum(_rss(proc)))

        soak = _run_roles(port, args.duration, {"normal": 0, "malformed": args.malformed, "slow": args.slow,
                                                "large": args.large}, sample)
        time.sleep(args.settle)
        rss_end = _rss(proc)
        after = asyncio.run(_normal(port, 2.0))
    finally:
        server.terminate()
        code = server.wait(60)
    mib = lambda b: round(b / 2**20, 1)  # noqa: E731
    normal = soak.get("normal", {})
    five_xx = normal.get("codes", {}).get("5xx", 0) + soak.get("large", {}).get("codes", {}).get("5xx", 0)
    errors = normal.get("codes", {}).get("error", 0) + soak.get("large", {}).get("codes", {}).get("error", 0)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load], "args": vars(args),
        "idle": idle, "soak": soak, "after": after,
        "warm_paths_before_start": args.warm_paths,
        "rss_mib": {"start_main": mib(rss_start[0]), "start_children": mib(rss_start[1]),
                    "peak_total": mib(peak[0]), "end_main": mib(rss_end[0]), "end_children": mib(rss_end[1])},
        "server_exit_code_on_sigterm": code,
        "targets": {
            "p99_ratio": round(normal["p99_ms"] / idle["p99_ms"], 2) if normal.get("p99_ms") else None,
            "p99_under_3x": bool(normal.get("p99_ms")) and normal["p99_ms"] < 3 * idle["p99_ms"],
            "valid_5xx": five_xx, "valid_errors": errors,
            "rss_within_10pct": abs(sum(rss_end) - sum(rss_start)) <= 0.10 * sum(rss_start)}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    part = RESULTS.with_suffix(".json.part")
    part.write_text(json.dumps(result, indent=2))
    part.replace(RESULTS)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
