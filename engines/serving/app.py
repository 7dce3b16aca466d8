"""The inference server's ASGI app, following SageMaker's container contract.

``GET /ping`` answers 200 while the model is loaded and the batcher runs (503
once shutting down); ``POST /invocations`` takes a JSON or NPY body and
answers predictions (JSON by default, NPY on ``Accept: application/x-npy``).
``GET /stats`` shows the batcher's counters (batch sizes actually run) and the
recent requests' p50/p99 latency, and
``GET /metadata`` the model's inputs and outputs.

Limits, each answered with a status and a one-line JSON ``{"error": ...}``:
body over ``payload_limit`` bytes -> 413 (checked from Content-Length before
reading, and again while streaming); no body -> 400; a body that takes longer
than ``body_timeout_s`` to arrive -> 408; unknown content type -> 415; bad data
-> 400/422; more rows than ``max_batch`` for a model whose outputs have no batch
axis -> 413; queue full -> 429; shutting down -> 503; the model failed -> 500
with the reason (the server goes on serving).

JSON bodies over ``inline_limit`` bytes are decoded in a child process
(:class:`~engines.serving.offload.Offload`), and at most ``large_slots`` of them
are read and held at once (the others wait, unread, in TCP), so a flood of
large JSON neither stalls the event loop nor grows this process's memory.
Once stopping began ``/ping`` answers 503 while requests already received finish.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from engines.errors import WorkbenchError
from engines.serving.batcher import DynamicBatcher, QueueFull, ShuttingDown, TooManyRows, check_options
from engines.serving.latency import RecentLatencies
from engines.serving.codecs import ACCEPTED_TYPES, JSON, NPY, RequestError, decode, encode, media_type
from engines.serving.offload import Offload

DEFAULT_PAYLOAD_LIMIT = 4 * 1024 * 1024
INLINE_LIMIT = 64 * 1024          # JSON bodies (and answers) above this go to the decoding process


class ServingState:
    """What the routes share: the runner's specs, the batcher and the limits."""

    def __init__(self, runner: Any, *, max_batch: int, max_delay_ms: float, max_queue: int, batching: bool,
                 payload_limit: int, body_timeout_s: float, model_name: str, large_slots: int = 4) -> None:
        try:
            check_options(max_batch, max_delay_ms, max_queue)
        except ValueError as exc:
            raise WorkbenchError(str(exc)) from None
        if not isinstance(payload_limit, int) or payload_limit < 1:
            raise WorkbenchError(f"payload_limit must be a whole number of bytes >= 1, not {payload_limit!r}")
        self.runner = runner
        self.inputs = list(runner.inputs)
        self.output_names = [o.name for o in runner.outputs]
        first = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None
        if isinstance(first, int) and first > 0:   # the model's batch axis is fixed: no merging possible
            max_batch = min(max_batch, first)
        self.batcher = DynamicBatcher(runner.run, max_batch=max_batch if batching else 1,
                                      max_delay_ms=max_delay_ms if batching else 0.0, max_rows=max_batch,
                                      max_queue=max_queue, name=f"batcher-{model_name}")
        self.payload_limit = payload_limit
        self.body_timeout_s = body_timeout_s
        self.model_name = model_name
        self.started = time.time()
        self.draining = False
        self.offload = Offload()
        self.large = asyncio.Semaphore(large_slots)   # large bodies read and held at once
        self.latency = RecentLatencies()               # answered requests, arrival to answer

    def stats(self) -> dict:
        """The batcher's counters and the recent requests' latency (``latency_ms``: p50, p99, window)."""
        return {**self.batcher.stats(), "latency_ms": self.latency.summary()}

    def drain(self) -> None:
        """Stopping: /ping answers 503 from now on; requests already received still run."""
        self.draining = True


def _error(status: int, message: str) -> Any:
    from starlette.responses import JSONResponse

    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _declared_length(headers: dict[bytes, str], limit: int) -> int | None:
    length = headers.get(b"content-length")
    if length is None:
        return None
    try:
        declared = int(length)
    except ValueError:
        raise RequestError(400, "invalid Content-Length header") from None
    if declared > limit:
        raise RequestError(413, f"payload of {declared} bytes is over the {limit} byte limit")
    return declared


async def _read_body(receive: Any, limit: int, timeout_s: float) -> bytearray:
    """The whole body from the ASGI ``receive``, joined once into a writable buffer (an NPY body is then used
    in place)."""
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise RequestError(413, f"payload is over the {limit} byte limit")
                chunks.append(chunk)
            if not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(read(), timeout_s)
    except asyncio.TimeoutError:
        raise RequestError(408, f"the request body did not arrive within {timeout_s:g} s") from None
    return bytearray().join(chunks)


def _headers(scope: dict) -> dict[bytes, str]:
    """The request's headers by lower-case name (the first of repeated ones, as Starlette's ``get``)."""
    out: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name not in out:
            out[name] = value.decode("latin-1")
    return out


async def _feeds(state: "ServingState", headers: dict[bytes, str], receive: Any) -> dict:
    ctype = headers.get(b"content-type")
    kind = media_type(ctype)
    if kind and kind not in ACCEPTED_TYPES:   # say so before reading a body we cannot use
        raise RequestError(415, f"content type {kind} is not supported: use {JSON} or {NPY}")
    declared = _declared_length(headers, state.payload_limit)
    if kind != JSON or (declared is not None and declared <= INLINE_LIMIT):
        body = await _read_body(receive, state.payload_limit, state.body_timeout_s)
        return decode(body, ctype, state.inputs)
    async with state.large:                  # bounded: the others wait with their bodies unread
        body = await _read_body(receive, state.payload_limit, state.body_timeout_s)
        if len(body) <= INLINE_LIMIT:
            return decode(body, ctype, state.inputs)
        return await state.offload.run("decode", body, ctype, state.inputs)


async def _answer(state: "ServingState", outputs: list, accept: str | None) -> tuple[bytes, str]:
    if sum(getattr(o, "size", 1) for o in outputs) * 12 <= INLINE_LIMIT or NPY in (accept or ""):
        return encode(outputs, state.output_names, accept)
    async with state.large:
        return await state.offload.run("encode", outputs, state.output_names, accept)


def create_app(runner: Any, *, max_batch: int = 32, max_delay_ms: float = 5.0, max_queue: int = 256,
               batching: bool = True, payload_limit: int = DEFAULT_PAYLOAD_LIMIT, body_timeout_s: float = 30.0,
               model_name: str = "model", large_slots: int = 4) -> Any:
    """A Starlette app serving ``runner`` (anything with ``inputs``, ``outputs`` and ``run(feeds)``)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state = ServingState(runner, max_batch=max_batch, max_delay_ms=max_delay_ms, batching=batching,
                         max_queue=max_queue, payload_limit=payload_limit,
                         body_timeout_s=body_timeout_s, model_name=model_name, large_slots=large_slots)

    async def ping(request: Any) -> Any:
        if state.draining or not state.batcher.alive:
            return _error(503, "shutting down")
        return JSONResponse({"status": "ok", "model": state.model_name})

    async def invocations(scope: dict, receive: Any, send: Any) -> None:
        """POST /invocations as a bare ASGI app: the hot path skips Starlette's request and routing layers."""
        arrived = time.perf_counter()
        state.batcher.trimmer.touch()   # bodies that never reach the model (malformed, too large) count too
        headers = _headers(scope)
        try:
            feeds = await _feeds(state, headers, receive)
            future = state.batcher.submit(feeds)
            del feeds
            outputs = await asyncio.wrap_future(future)
            payload, ctype = await _answer(state, outputs, headers.get(b"accept"))
        except RequestError as exc:
            return await _error(exc.status, exc.message)(scope, receive, send)
        except TooManyRows as exc:
            return await _error(413, str(exc))(scope, receive, send)
        except QueueFull as exc:
            return await _error(429, str(exc))(scope, receive, send)
        except ShuttingDown as exc:
            return await _error(503, str(exc))(scope, receive, send)
        except Exception as exc:  # the model failed on valid-looking input: say so, stay up
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            return await _error(500, f"inference failed: {first}")(scope, receive, send)
        state.latency.add((time.perf_counter() - arrived) * 1000.0)
        # the headers Starlette's Response(payload, media_type=ctype) sends, in its order
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode("latin-1")),
                                (b"content-type", ctype.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": payload})

    async def stats(request: Any) -> Any:
        return JSONResponse({"model": state.model_name, "uptime_s": round(time.time() - state.started, 1),
                             **state.stats()})

    async def metadata(request: Any) -> Any:
        def spec(s: Any) -> dict:
            return {"name": s.name, "shape": list(s.shape), "dtype": s.dtype}
        return JSONResponse({"model": state.model_name, "inputs": [spec(s) for s in state.inputs],
                             "outputs": [spec(s) for s in runner.outputs]})

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(state.batcher.close)
        state.offload.close()

    app = Starlette(routes=[Route("/ping", ping, methods=["GET"]),
                           Route("/invocations", _AsgiEndpoint(invocations), methods=["POST"]),
                           Route("/stats", stats, methods=["GET"]),
                           Route("/metadata", metadata, methods=["GET"])],
                    lifespan=lifespan)
    app.state.serving = state
    return _FastInvocations(app, invocations)


class _AsgiEndpoint:
    """Makes Starlette's Route treat a bare ASGI function as an ASGI app (a plain function it would call with a
    Request)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.handler(scope, receive, send)


class _FastInvocations:
    """The Starlette app, with ``POST /invocations`` (the request every client sends) handed straight to its
    ASGI handler; everything else (other paths and methods, lifespan) goes through Starlette as before."""

    def __init__(self, app: Any, invocations: Any) -> None:
        self.app, self.invocations, self.state = app, invocations, app.state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/invocations" and scope["method"] == "POST":
            await self.invocations(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:   # routes, middleware, url_path_for, ... of the Starlette app
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)


def start_server(runner: Any, host: str = "127.0.0.1", port: int = 0, *, server_kw: dict | None = None,
                 **app_kw: Any) -> Any:
    """Build the app for ``runner`` and serve it in a thread; returns a RunningServer.

    Stopping first turns /ping to 503 while uvicorn stops accepting and lets the
    requests in flight finish; then the batcher runs what is queued and stops.
    ``server_kw`` goes to :func:`~engines.serving.http.serve_in_thread` (timeouts, limits).
    """
    from engines.serving.http import serve_in_thread

    app = create_app(runner, **app_kw)
    state: ServingState = app.state.serving
    server = serve_in_thread(app, host=host, port=port, before_stop=state.drain, **(server_kw or {}))
    server.app = app  # type: ignore[attr-defined]
    return server


def open_and_serve(model: str, fmt: str = "onnx", host: str = "127.0.0.1", port: int = 0, *,
                   threads: int | None = None, task: Any = None, **app_kw: Any) -> Any:
    """Open a runner for ``model`` and serve it (for UI workers: takes ``task``)."""
    from engines.measure.runners import open_runner

    if task is not None:
        task.report(0.1, "opening the model")
    runner = open_runner(model, fmt, threads=threads)
    if task is not None:
        task.check()
        task.report(0.6, "starting the HTTP server")
    return start_server(runner, host=host, port=port, **app_kw)


def stop_server(server: Any, task: Any = None) -> str:
    """Stop gracefully (requests in flight finish); returns the URL it served."""
    if task is not None:
        task.report(0.2, "finishing requests in flight")
    server.stop()
    return server.url
