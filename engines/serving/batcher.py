"""Dynamic batching: requests queue up briefly and run together as one batch.

A worker thread takes the oldest request, then keeps collecting until the
batch holds ``max_batch`` rows or ``max_delay_ms`` has passed since that
request arrived, concatenates the inputs along the batch axis, runs the model
once and hands each request its rows. Requests are never split; a request
whose rows do not fit the batch being built waits for the next one. With
``max_batch=1`` every request runs on its own (batching off).

The queue is bounded: :meth:`submit` raises :class:`QueueFull` (HTTP 429) when
it holds ``max_queue`` requests, and :class:`ShuttingDown` (HTTP 503) once
:meth:`close` began; requests already queued still run.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Feeds = dict[str, np.ndarray]
RunFn = Callable[[Feeds], list[np.ndarray]]


class QueueFull(Exception):
    """The request queue is full (answer 429)."""


class ShuttingDown(Exception):
    """The batcher is closing (answer 503)."""


@dataclass
class _Item:
    feeds: Feeds
    rows: int
    future: Future
    arrived: float = field(default_factory=time.perf_counter)

    @property
    def key(self) -> tuple:
        return tuple((k, v.shape[1:], v.dtype.str) for k, v in self.feeds.items())


class DynamicBatcher:
    def __init__(self, run: RunFn, *, max_batch: int = 32, max_delay_ms: float = 5.0, max_queue: int = 256,
                 name: str = "batcher") -> None:
        if max_batch < 1 or max_queue < 1 or max_delay_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and max_delay_ms >= 0")
        self._run = run
        self.max_batch = int(max_batch)
        self.max_delay_s = float(max_delay_ms) / 1000.0
        self.max_queue = int(max_queue)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=self.max_queue)
        self._held: _Item | None = None   # taken from the queue but did not fit the last batch
        self._closing = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.batch_sizes: Counter[int] = Counter()   # rows per model run -> count
        self.requests = 0
        self.rejected_full = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def batching(self) -> bool:
        return self.max_batch > 1

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closing.is_set()

    def submit(self, feeds: Feeds) -> Future:
        """Queue one request; the future resolves to its list of outputs."""
        if self._closing.is_set():
            raise ShuttingDown("the server is shutting down")
        first = next(iter(feeds.values()))
        item = _Item(feeds, int(first.shape[0]) if first.ndim else 1, Future())
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.rejected_full += 1
            raise QueueFull(f"the request queue is full ({self.max_queue} waiting): retry later") from None
        with self._lock:
            self.requests += 1
        return item.future

    def queue_depth(self) -> int:
        return self._queue.qsize() + (1 if self._held is not None else 0)

    def stats(self) -> dict:
        with self._lock:
            sizes = dict(sorted(self.batch_sizes.items()))
            runs = sum(sizes.values())
            rows = sum(k * v for k, v in sizes.items())
            return {"max_batch": self.max_batch, "max_delay_ms": self.max_delay_s * 1000.0,
                    "max_queue": self.max_queue, "requests": self.requests, "runs": runs,
                    "mean_batch": rows / runs if runs else 0.0, "batch_sizes": sizes,
                    "rejected_full": self.rejected_full, "failures": self.failures,
                    "queue_depth": self.queue_depth()}

    # -- worker ------------------------------------------------------------------
    def _next(self, timeout: float | None) -> _Item | None:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _collect(self) -> list[_Item]:
        first = self._next(0.05)
        if first is None:
            return []
        batch, rows = [first], first.rows
        deadline = first.arrived + self.max_delay_s
        while rows < self.max_batch:
            remaining = deadline - time.perf_counter()
            item = self._next(remaining if remaining > 0 else 0)
            if item is None:
                break
            if item.key != first.key or rows + item.rows > self.max_batch:
                self._held = item          # runs first in the next batch
                break
            batch.append(item)
            rows += item.rows
        return batch

    def _loop(self) -> None:
        while True:
            if self._closing.is_set() and self._held is None and self._queue.empty():
                break
            batch = self._collect()
            if batch:
                self._execute(batch)
        self._stopped.set()

    def _execute(self, batch: list[_Item]) -> None:
        live = [it for it in batch if it.future.set_running_or_notify_cancel()]
        if not live:
            return
        feeds = live[0].feeds if len(live) == 1 else {
            k: np.concatenate([it.feeds[k] for it in live]) for k in live[0].feeds}
        try:
            outs = self._run(feeds)
        except Exception as exc:
            if len(live) > 1:              # find the culprit: run each request alone
                for it in live:
                    self._execute_alone(it)
                return
            with self._lock:
                self.failures += 1
            live[0].future.set_exception(exc)
            return
        with self._lock:
            self.batch_sizes[sum(it.rows for it in live)] += 1
        start = 0
        for it in live:
            it.future.set_result([o[start:start + it.rows] for o in outs])
            start += it.rows

    def _execute_alone(self, item: _Item) -> None:
        try:
            outs = self._run(item.feeds)
        except Exception as exc:
            with self._lock:
                self.failures += 1
            item.future.set_exception(exc)
            return
        with self._lock:
            self.batch_sizes[item.rows] += 1
        item.future.set_result(outs)

    def begin_close(self) -> None:
        """Refuse new requests (503) from now on; queued ones still run."""
        self._closing.set()

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new requests (503), finish the queued ones, stop the worker."""
        self._closing.set()
        self._stopped.wait(timeout)
