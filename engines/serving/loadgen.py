"""HTTP load generator for an inference server: closed-loop concurrency and open-loop fixed rate.

Closed loop: ``concurrency`` threads each send a request, wait for the answer,
send the next. Open loop: requests are started on a fixed schedule (``rate``
per second) whatever the server does, and latency is counted from the moment a
request was *due*, so a slow server cannot hide its queueing (no coordinated
omission). ``url`` may be one URL, a list (round-robin) or an
:class:`engines.serving.balance.Targets` (round-robin or weighted); with
several targets the result's ``extra["targets"]`` reports each one. Every run is bounded by a request count AND a duration, and reports
throughput, p50/p95/p99 latency of the successful requests and the errors by
status code or exception name.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from engines.measure.harness import percentiles
from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task


@dataclass
class LoadResult:
    mode: str                      # "concurrency" | "rate"
    level: float                   # concurrency, or offered requests per second
    sent: int
    ok: int
    errors: dict[str, int]
    duration_s: float
    throughput_rps: float          # successful requests per second
    rows_per_request: int
    latency_ms: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput_ips(self) -> float:
        return self.throughput_rps * self.rows_per_request

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["throughput_ips"] = self.throughput_ips
        return d


def invocations_url(url: str) -> str:
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise WorkbenchError(f"{url!r} is not an http(s) URL: give e.g. http://127.0.0.1:8080")
    return url if url.endswith("/invocations") else url + "/invocations"


def example_payload(url: str, batch: int = 1, content_type: str = "application/x-npy", seed: int = 0,
                    timeout_s: float = 10.0) -> tuple[bytes, str]:
    """A random request body shaped for the server's model (read from its ``/metadata``)."""
    import json

    import httpx

    from engines.models.model_info import TensorSpec
    from engines.measure.runners import example_feeds
    from engines.serving.codecs import encode_npy

    base = invocations_url(url)[: -len("/invocations")]
    try:
        meta = httpx.get(base + "/metadata", timeout=timeout_s).json()
        specs = [TensorSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in meta["inputs"]]
    except Exception as exc:
        raise WorkbenchError(f"cannot read {base}/metadata to build a request ({type(exc).__name__}): "
                             "pass a body file with --body") from None
    feeds = example_feeds(specs, batch=batch, seed=seed)
    if content_type == "application/json" or len(feeds) > 1:
        doc = {"inputs": {k: v.tolist() for k, v in feeds.items()}}
        return json.dumps(doc).encode(), "application/json"
    return encode_npy(next(iter(feeds.values()))), "application/x-npy"


class _Recorder:
    def __init__(self, n_targets: int = 1) -> None:
        self.lock = threading.Lock()
        self.lat_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.sent = 0
        self.per: list[dict[str, Any]] = [{"sent": 0, "lat_ms": [], "errors": Counter()} for _ in range(n_targets)]

    def add(self, ms: float, outcome: str | None, target: int = 0) -> None:
        with self.lock:
            per = self.per[target]
            per["sent"] += 1
            if outcome is None:
                self.lat_ms.append(ms)
                per["lat_ms"].append(ms)
            else:
                self.errors[outcome] += 1
                per["errors"][outcome] += 1

    def per_target(self, targets: Any, duration: float) -> list[dict[str, Any]]:
        shares = targets.shares()
        return [{"url": url, "weight": targets.weights[i], "share": shares[i], "sent": p["sent"],
                 "ok": len(p["lat_ms"]), "errors": dict(sorted(p["errors"].items())),
                 "throughput_rps": len(p["lat_ms"]) / duration, "latency_ms": percentiles(p["lat_ms"])}
                for i, (url, p) in enumerate(zip(targets.urls, self.per))]


def _targets(url: Any) -> Any:
    from engines.serving.balance import Targets

    targets = url if isinstance(url, Targets) else Targets([url] if isinstance(url, str) else list(url))
    return targets, [invocations_url(u) for u in targets.urls]


def _send(client: Any, url: str, body: bytes, headers: dict[str, str]) -> str | None:
    try:
        resp = client.post(url, content=body, headers=headers)
    except Exception as exc:  # timeouts, resets: counted, never raised
        return type(exc).__name__
    return None if resp.status_code == 200 else str(resp.status_code)


def _prepared(urls: list[str], body: bytes, content_type: str) -> list[tuple[str, int, bytes]] | None:
    """Each target's whole request, built once; None when a URL is not plain http (then httpx sends)."""
    from engines.serving import wire

    try:
        return [wire.request_bytes(u, body, content_type) for u in urls]
    except ValueError:
        return None


def _lean_sender(prepared: list[tuple[str, int, bytes]], timeout_s: float) -> Any:
    """``send(k)`` -> None or the error name, over keep-alive connections of :mod:`engines.serving.wire`;
    ``send(None)`` closes them."""
    from engines.serving import wire

    conns = [wire.Connection(host, port, timeout_s) for host, port, _ in prepared]

    def send(k: int | None) -> str | None:
        if k is None:
            for c in conns:
                c.close()
            return None
        try:
            status, _ = conns[k].send(prepared[k][2])
        except Exception as exc:  # timeouts, resets: counted, never raised
            return type(exc).__name__
        return None if status == 200 else str(status)

    return send


def _httpx_sender(urls: list[str], body: bytes, content_type: str, timeout_s: float) -> Any:
    import httpx

    client = httpx.Client(timeout=timeout_s, verify=not urls[0].startswith("http://"))
    headers = {"content-type": content_type}

    def send(k: int | None) -> str | None:
        if k is None:
            client.close()
            return None
        return _send(client, urls[k], body, headers)

    return send


def _result(mode: str, level: float, rec: _Recorder, started: float, rows: int, targets: Any = None,
            **extra: Any) -> LoadResult:
    duration = max(time.perf_counter() - started, 1e-9)
    lat = percentiles(rec.lat_ms)
    if targets is not None and len(targets.urls) > 1:
        extra = {**extra, "policy": targets.policy, "targets": rec.per_target(targets, duration)}
    return LoadResult(mode, level, rec.sent, len(rec.lat_ms), dict(sorted(rec.errors.items())), round(duration, 4),
                      len(rec.lat_ms) / duration, rows, lat, extra)


def run_concurrency(url: Any, body: bytes, content_type: str, concurrency: int, *, requests: int = 1000,
                    duration_s: float = 10.0, rows_per_request: int = 1, timeout_s: float = 30.0,
                    task: TaskContext | None = None) -> LoadResult:
    """Closed loop: ``concurrency`` clients back to back, until ``requests`` sent or ``duration_s`` passed."""
    if concurrency < 1 or requests < 1 or duration_s <= 0:
        raise WorkbenchError("concurrency and requests must be >= 1 and the duration positive")
    task = ensure_task(task)
    targets, urls = _targets(url)
    rec = _Recorder(len(urls))
    claim = threading.Lock()
    stop = threading.Event()
    # a client per virtual user (one keep-alive connection per target), made before the clock starts; plain
    # http goes through the lean client of engines.serving.wire (the load generator shares the CPU with the
    # server it measures), https through httpx
    prepared = _prepared(urls, body, content_type)
    senders = [_lean_sender(prepared, timeout_s) if prepared else _httpx_sender(urls, body, content_type, timeout_s)
               for _ in range(concurrency)]
    started = time.perf_counter()
    deadline = started + duration_s

    def worker(send: Any) -> None:
        try:
            while not stop.is_set():
                with claim:
                    if rec.sent >= requests or time.perf_counter() >= deadline or task.cancelled:
                        return
                    rec.sent += 1
                    k = targets.pick()
                t0 = time.perf_counter()
                outcome = send(k)
                rec.add((time.perf_counter() - t0) * 1000.0, outcome, k)
        finally:
            send(None)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True, name=f"loadgen-{i}")
               for i, c in enumerate(senders)]
    for t in threads:
        t.start()
    try:
        while (alive := [t for t in threads if t.is_alive()]):
            alive[0].join(0.1)
            if task.cancelled:
                stop.set()
            else:
                task.report(rec.sent / requests, f"concurrency {concurrency}: {rec.sent} requests")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout_s + 1)
    task.check()
    return _result("concurrency", concurrency, rec, started, rows_per_request, targets)


def run_rate(url: Any, body: bytes, content_type: str, rate: float, *, requests: int = 1000,
             duration_s: float = 10.0, rows_per_request: int = 1, timeout_s: float = 30.0,
             max_inflight: int = 256, task: TaskContext | None = None) -> LoadResult:
    """Open loop: start a request every ``1/rate`` s (up to ``max_inflight`` at once)."""
    import httpx

    if rate <= 0 or requests < 1 or duration_s <= 0:
        raise WorkbenchError("rate must be positive, requests >= 1 and the duration positive")
    task = ensure_task(task)
    targets, urls = _targets(url)
    headers = {"content-type": content_type}
    rec = _Recorder(len(urls))
    limits = httpx.Limits(max_connections=max_inflight, max_keepalive_connections=max_inflight)
    client = httpx.Client(timeout=timeout_s, limits=limits, verify=not urls[0].startswith("http://"))

    def fire(due: float, k: int) -> None:
        outcome = _send(client, urls[k], body, headers)
        rec.add((time.perf_counter() - due) * 1000.0, outcome, k)

    started = time.perf_counter()
    end = started + duration_s
    late = 0
    with ThreadPoolExecutor(max_workers=max_inflight, thread_name_prefix="loadgen") as pool:
        for i in range(requests):
            due = started + i / rate
            if due >= end or task.cancelled:
                break
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.001:
                late += 1
            rec.sent += 1
            pool.submit(fire, due, targets.pick())
            if i % 50 == 0:
                task.report(i / requests, f"rate {rate:g}/s: {i} requests")
    client.close()
    task.check()
    return _result("rate", rate, rec, started, rows_per_request, targets, started_late=late)


def concurrency_sweep(url: Any, body: bytes, content_type: str, levels: Sequence[int], *,
                      requests_per_level: int = 500, duration_s_per_level: float = 10.0,
                      rows_per_request: int = 1, timeout_s: float = 30.0,
                      task: TaskContext | None = None) -> list[LoadResult]:
    from engines.serving.balance import Targets

    task = ensure_task(task)
    targets = url if isinstance(url, Targets) else None
    out = []
    for i, level in enumerate(levels):
        if targets is not None:  # each level starts its own rotation
            url = Targets(targets.urls, targets.weights, targets.policy)
        sub = task.sub(i / len(levels), (i + 1) / len(levels))
        out.append(run_concurrency(url, body, content_type, int(level), requests=requests_per_level,
                                   duration_s=duration_s_per_level, rows_per_request=rows_per_request,
                                   timeout_s=timeout_s, task=sub))
    return out
