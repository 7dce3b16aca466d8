"""Dynamic batching: requests queue up briefly and run together as one batch.

A worker thread takes the oldest request, then keeps collecting until the
batch holds ``max_batch`` rows or ``max_delay_ms`` has passed since that
request arrived, concatenates the inputs along the batch axis, runs the model
once and hands each request its rows. A request whose rows do not fit the
batch being built waits for the next one. With ``max_batch=1`` every request
runs on its own (batching off).

A request with more rows than ``max_rows`` (``max_batch`` unless given) is run
in chunks of ``max_rows`` rows, one chunk between two ordinary batches (so it never holds the model for
long), and its outputs are joined. When the model's outputs have no batch axis
(a scalar, a reduction over the batch) requests are never merged, and one over
``max_rows`` rows is refused with :class:`TooManyRows`.

The worker is supervised: whatever goes wrong in one batch (the model raises,
its outputs cannot be split) fails that batch's requests with the reason and
the worker goes on with the next one.

The queue is bounded: :meth:`submit` raises :class:`QueueFull` (HTTP 429) when
it holds ``max_queue`` requests, and :class:`ShuttingDown` (HTTP 503) once
:meth:`close` began; requests already queued still run.
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engines.serving.heap import IdleTrimmer

Feeds = dict[str, np.ndarray]
RunFn = Callable[[Feeds], list[np.ndarray]]
MAX_DELAY_MS = 60_000.0
log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The request queue is full (answer 429)."""


class ShuttingDown(Exception):
    """The batcher is closing (answer 503)."""


class TooManyRows(Exception):
    """A request over ``max_batch`` rows for a model whose outputs cannot be joined (answer 413)."""


@dataclass
class _Item:
    feeds: Feeds
    rows: int
    future: Future
    arrived: float = field(default_factory=time.perf_counter)
    done_rows: int = 0                                   # chunked requests: rows already run
    parts: list[list[np.ndarray]] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return tuple((k, v.shape[1:], v.dtype.str) for k, v in self.feeds.items())


def check_options(max_batch: int, max_delay_ms: float, max_queue: int) -> None:
    """Raise ValueError naming the first option out of range (non-finite numbers included)."""
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be a whole number >= 1, not {max_batch!r}")
    if not isinstance(max_queue, int) or max_queue < 1:
        raise ValueError(f"max_queue must be a whole number >= 1, not {max_queue!r}")
    if not (isinstance(max_delay_ms, (int, float)) and math.isfinite(max_delay_ms)
            and 0 <= max_delay_ms <= MAX_DELAY_MS):
        raise ValueError(f"max_delay_ms must be between 0 and {MAX_DELAY_MS:g}, not {max_delay_ms!r}")


def _splits(outs: list[np.ndarray], rows: int) -> bool:
    """Whether every output has the batch axis first (so rows can be handed back or joined)."""
    return all(isinstance(o, np.ndarray) and o.ndim >= 1 and o.shape[0] == rows for o in outs)


class DynamicBatcher:
    def __init__(self, run: RunFn, *, max_batch: int = 32, max_delay_ms: float = 5.0, max_queue: int = 256,
                 max_rows: int | None = None, name: str = "batcher") -> None:
        check_options(max_batch, max_delay_ms, max_queue)
        self._run = run
        self.max_batch = int(max_batch)                    # rows merged from several requests
        self.max_rows = max(int(max_rows or max_batch), self.max_batch)   # rows in one model run
        self.max_delay_s = float(max_delay_ms) / 1000.0
        self.max_queue = int(max_queue)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=self.max_queue)
        self._held: _Item | None = None   # taken from the queue but did not fit the last batch
        self._big: collections.deque[_Item] = collections.deque()   # over max_batch rows: run in chunks
        self._big_turn = False
        self.merge = True                 # False once the outputs turned out to have no batch axis
        self._closing = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.batch_sizes: Counter[int] = Counter()   # rows per model run -> count
        self.requests = 0
        self.rejected_full = 0
        self.failures = 0
        self.worker_errors = 0
        self.trimmer = IdleTrimmer()      # freed request memory goes back to the OS when quiet
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
        if not self._thread.is_alive():
            raise ShuttingDown("the batcher stopped")
        first = next(iter(feeds.values()))
        rows = int(first.shape[0]) if first.ndim else 1
        if rows > self.max_rows and not self.merge:
            raise self._too_many(rows)
        item = _Item(feeds, rows, Future())
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.rejected_full += 1
            raise QueueFull(f"the request queue is full ({self.max_queue} waiting): retry later") from None
        with self._lock:
            self.requests += 1
        return item.future

    def _too_many(self, rows: int) -> TooManyRows:
        return TooManyRows(f"the request has {rows} rows, over the max batch of {self.max_rows}, and the "
                           f"model's outputs have no batch axis to join chunks on: send at most "
                           f"{self.max_rows} rows")

    def queue_depth(self) -> int:
        return self._queue.qsize() + (1 if self._held is not None else 0) + len(self._big)

    def stats(self) -> dict:
        with self._lock:
            sizes = dict(sorted(self.batch_sizes.items()))
            runs = sum(sizes.values())
            rows = sum(k * v for k, v in sizes.items())
            return {"max_batch": self.max_batch, "max_delay_ms": self.max_delay_s * 1000.0,
                    "max_rows": self.max_rows, "max_queue": self.max_queue, "requests": self.requests, "runs": runs,
                    "mean_batch": rows / runs if runs else 0.0, "batch_sizes": sizes,
                    "rejected_full": self.rejected_full, "failures": self.failures,
                    "worker_errors": self.worker_errors, "queue_depth": self.queue_depth()}

    # -- worker ------------------------------------------------------------------
    def _next(self, timeout: float | None) -> _Item | None:
        while True:
            if self._held is not None:
                item, self._held = self._held, None
            else:
                try:
                    item = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 \
                        else self._queue.get_nowait()
                except queue.Empty:
                    return None
            if item.rows <= self.max_rows:
                return item
            if item.future.set_running_or_notify_cancel():
                self._big.append(item)             # run a chunk at a time between ordinary batches
            timeout = 0

    def _collect(self) -> list[_Item]:
        if self._big and (self._big_turn or (self._held is None and self._queue.empty())):
            self._big_turn = False
            return [self._big[0]]
        self._big_turn = True
        first = self._next(0 if self._big else 0.05)
        if first is None:
            return [self._big[0]] if self._big else []
        batch, rows = [first], first.rows
        deadline = first.arrived + self.max_delay_s
        while rows < self.max_batch and self.merge:
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
            if self._closing.is_set() and self._held is None and self._queue.empty() and not self._big:
                break
            batch: list[_Item] = []
            try:
                batch = self._collect()
                if batch and batch[0].rows > self.max_rows:
                    self._chunk(batch[0])
                elif batch:
                    self._execute(batch)
                if batch:
                    self.trimmer.touch()
                else:
                    self.trimmer.idle()
            except Exception as exc:       # supervise: fail this batch, keep serving the next ones
                log.exception("batcher: a batch failed outside the model run")
                with self._lock:
                    self.worker_errors += 1
                for it in batch:
                    self._fail(it, exc)
        self._stopped.set()

    def _fail(self, item: _Item, exc: BaseException) -> None:
        if item in self._big:
            self._big.remove(item)
        if not item.future.done():
            with self._lock:
                self.failures += 1
            item.future.set_exception(exc)

    def _execute(self, batch: list[_Item]) -> None:
        live = [it for it in batch if it.future.set_running_or_notify_cancel()]
        if not live:
            return
        if len(live) == 1:
            self._execute_alone(live[0])
            return
        feeds = {k: np.concatenate([it.feeds[k] for it in live]) for k in live[0].feeds}
        total = sum(it.rows for it in live)
        try:
            outs = self._run(feeds)
        except Exception:
            outs = None
        if outs is None or not _splits(outs, total):
            if outs is not None:           # no batch axis in the outputs: never merge again
                self.merge = False
            for it in live:                # find the culprit / give each its own answer
                self._execute_alone(it)
            return
        with self._lock:
            self.batch_sizes[total] += 1
        start = 0
        for it in live:
            it.future.set_result([o[start:start + it.rows] for o in outs])
            start += it.rows

    def _execute_alone(self, item: _Item) -> None:
        try:
            outs = self._run(item.feeds)
        except Exception as exc:
            self._fail(item, exc)
            return
        if not _splits(outs, item.rows):
            self.merge = False
        with self._lock:
            self.batch_sizes[item.rows] += 1
        item.future.set_result(outs)

    def _chunk(self, item: _Item) -> None:
        """Run the next ``max_batch`` rows of a request larger than ``max_batch``."""
        if item.future.cancelled():
            self._big.remove(item)
            return
        lo, hi = item.done_rows, min(item.done_rows + self.max_rows, item.rows)
        try:
            outs = self._run({k: v[lo:hi] for k, v in item.feeds.items()})
        except Exception as exc:
            self._fail(item, exc)
            return
        if not _splits(outs, hi - lo):
            self.merge = False
            self._fail(item, self._too_many(item.rows))
            return
        with self._lock:
            self.batch_sizes[hi - lo] += 1
        item.parts.append(outs)
        item.done_rows = hi
        if hi == item.rows:
            self._big.remove(item)
            joined = [np.concatenate([p[i] for p in item.parts]) for i in range(len(outs))]
            item.parts.clear()
            item.future.set_result(joined)

    def begin_close(self) -> None:
        """Refuse new requests (503) from now on; queued ones still run."""
        self._closing.set()

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new requests (503), finish the queued ones, stop the worker."""
        self._closing.set()
        self._stopped.wait(timeout)
