"""Live CPU/GPU metrics: a background sampler, one immutable snapshot per tick.

:class:`Sampler` polls psutil (per-core CPU load, RAM, this process's RSS) and
NVML (:mod:`engines.measure.nvml`) in ONE thread: the next poll is scheduled
after the previous one finished, so polls never overlap. Each tick makes one
frozen :class:`Snapshot`, appends it to a rolling window (a deque) and hands it
to subscribers. Readings a driver cannot give are :data:`NA` (shown ``n/a``);
NVML missing, failing mid-run or a GPU vanishing never raises.

:class:`MetricsRecorder` is the ``recorder`` of :func:`engines.measure.harness.benchmark`:
it keeps the samples taken while a benchmark ran and summarises them;
:func:`right_sizing_hint` turns that summary into one sentence.

``WORKBENCH_DETERMINISTIC=1`` swaps in fixed readings (no thread, no GPU) so
screenshots and tests are stable.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from engines.measure.nvml import NA, GpuSample, NvmlProbe, is_na, jsonable

__all__ = ["NA", "CpuSample", "GpuSample", "Snapshot", "Sampler", "MetricsRecorder", "right_sizing_hint",
           "deterministic_mode", "fmt_bytes", "fmt_num", "fmt_pct", "is_na", "jsonable"]

DEFAULT_HZ = 2.0


def deterministic_mode() -> bool:
    from engines.settings import deterministic

    return deterministic()


@dataclass(frozen=True)
class CpuSample:
    per_core_pct: tuple[float, ...]
    total_pct: float
    ram_used: int
    ram_total: int
    rss: int                      # this process, bytes

    @property
    def ram_pct(self) -> float:
        return 100.0 * self.ram_used / self.ram_total if self.ram_total else 0.0


@dataclass(frozen=True)
class Snapshot:
    seq: int                      # tick number, from 0
    t: float                      # seconds since the sampler started
    cpu: CpuSample
    gpus: tuple[GpuSample, ...] = ()
    gpu_status: str = ""          # "1 NVIDIA GPU(s)" or why there is none
    poll_ms: float = 0.0          # how long this poll took

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return jsonable(asdict(self))


class PsutilSource:
    """Per-core CPU load from ``cpu_times`` deltas (its own baseline, so samplers never disturb each other)."""

    def __init__(self) -> None:
        import psutil

        self._ps = psutil
        self._proc = psutil.Process()
        self._last = self._times()

    def _times(self) -> list[tuple[float, float]]:
        out = []
        for t in self._ps.cpu_times(percpu=True):
            idle = t.idle + getattr(t, "iowait", 0.0)
            out.append((sum(t), idle))
        return out

    def read(self) -> CpuSample:
        now = self._times()
        per_core = []
        for (tot0, idle0), (tot1, idle1) in zip(self._last, now):
            dt = tot1 - tot0
            per_core.append(round(max(0.0, min(100.0, 100.0 * (1 - (idle1 - idle0) / dt))), 1) if dt > 0 else 0.0)
        self._last = now
        vm = self._ps.virtual_memory()
        try:
            rss = int(self._proc.memory_info().rss)
        except Exception:
            rss = 0
        total = round(sum(per_core) / len(per_core), 1) if per_core else 0.0
        return CpuSample(tuple(per_core), total, int(vm.total - vm.available), int(vm.total), rss)


class FixedSource:
    """Deterministic readings: a fixed repeating pattern indexed by tick, never the host's."""

    CORES = 4

    def __init__(self) -> None:
        self._i = 0

    def read(self) -> CpuSample:
        i = self._i
        self._i += 1
        per_core = tuple(float((20 + 15 * c + 7 * ((i + 3 * c) % 6)) % 100) for c in range(self.CORES))
        return CpuSample(per_core, round(sum(per_core) / self.CORES, 1), 6 * 2**30, 16 * 2**30, 300 * 2**20)


class _NoGpu:
    status = "no NVIDIA GPU detected"
    available = False

    def sample(self) -> tuple[GpuSample, ...]:
        return ()

    def close(self) -> None:
        pass


class Sampler:
    """Polls CPU and GPU at ``hz`` in a background thread; never overlaps polls, never raises."""

    def __init__(self, hz: float = DEFAULT_HZ, window: int = 120, *, cpu_source: Any = None,
                 gpu_probe: Any = None, deterministic: bool | None = None) -> None:
        if hz <= 0:
            raise ValueError("hz must be positive")
        self.interval = 1.0 / hz
        self.deterministic = deterministic_mode() if deterministic is None else deterministic
        if self.deterministic:
            cpu_source = cpu_source or FixedSource()
            gpu_probe = gpu_probe or _NoGpu()
        self._cpu = cpu_source
        self._gpu = gpu_probe if gpu_probe is not None else NvmlProbe()
        self.window: deque[Snapshot] = deque(maxlen=window)
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._lock = threading.Lock()        # guards window and subscribers
        self._poll_lock = threading.Lock()   # one poll at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._t0 = time.monotonic()
        self.active_polls = 0
        self.max_active_polls = 0            # stays 1 if polls never overlap
        self.poll_errors = 0
        self.cpu_time_s = 0.0                # CPU time spent polling (this thread)

    @property
    def hz(self) -> float:
        return 1.0 / self.interval

    def set_hz(self, hz: float) -> None:
        """Change the rate; the running loop picks it up at its next wait."""
        if hz <= 0:
            raise ValueError("hz must be positive")
        self.interval = 1.0 / hz

    # -- reading ----------------------------------------------------------
    @property
    def gpu_status(self) -> str:
        return getattr(self._gpu, "status", "")

    @property
    def latest(self) -> Snapshot | None:
        with self._lock:
            return self.window[-1] if self.window else None

    def history(self) -> list[Snapshot]:
        with self._lock:
            return list(self.window)

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def poll(self) -> Snapshot:
        """Take one snapshot now (waits for a poll in progress rather than overlapping it)."""
        with self._poll_lock:
            self.active_polls += 1
            self.max_active_polls = max(self.max_active_polls, self.active_polls)
            c0, t0 = time.thread_time(), time.perf_counter()
            try:
                snap = self._take(t0)
            finally:
                self.active_polls -= 1
                self.cpu_time_s += time.thread_time() - c0
        with self._lock:
            self.window.append(snap)
            subscribers = list(self._subscribers)
        for cb in subscribers:
            try:
                cb(snap)
            except Exception:
                self.poll_errors += 1
        return snap

    def _take(self, t0: float) -> Snapshot:
        if self._cpu is None:
            self._cpu = PsutilSource()
        try:
            cpu = self._cpu.read()
        except Exception:
            self.poll_errors += 1
            cpu = CpuSample((), 0.0, 0, 0, 0)
        try:
            gpus = tuple(self._gpu.sample())
        except Exception:  # a probe must not raise; if one does, show no readings and go on
            self.poll_errors += 1
            gpus = ()
        seq = self._seq
        self._seq += 1
        t = seq * self.interval if self.deterministic else time.monotonic() - self._t0
        poll_ms = 0.0 if self.deterministic else (time.perf_counter() - t0) * 1000.0
        return Snapshot(seq, round(t, 3), cpu, gpus, self.gpu_status, poll_ms)

    # -- background thread ---------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "Sampler":
        """Start polling. In deterministic mode the window is filled once with fixed readings instead."""
        if self.running:
            return self
        if self.deterministic:
            while len(self.window) < (self.window.maxlen or 0):
                self.poll()
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="workbench-metrics", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.poll()
            # next poll scheduled from when this one finished: a slow poll delays, never overlaps
            elapsed = time.monotonic() - started
            self._stop.wait(max(self.interval - elapsed, self.interval * 0.1))

    def stop(self, close: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if close:
            try:
                self._gpu.close()
            except Exception:
                pass


class MetricsRecorder:
    """Keeps the snapshots taken between ``start()`` and ``stop()`` and summarises them.

    With ``sampler`` (e.g. the app's), it listens to that sampler's ticks;
    otherwise it runs its own at ``hz``. One poll is taken at start and at stop,
    so even a very short run has readings.
    """

    def __init__(self, sampler: Sampler | None = None, hz: float = 4.0) -> None:
        self._shared = sampler
        self._hz = hz
        self._own: Sampler | None = None
        self._samples: list[Snapshot] = []
        self._unsub: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def _add(self, snap: Snapshot) -> None:
        with self._lock:
            self._samples.append(snap)

    def start(self) -> None:
        self._samples = []
        sampler = self._shared
        if sampler is None:
            self._own = sampler = Sampler(hz=self._hz, window=8, deterministic=False)
            sampler.poll()                     # baseline for CPU deltas, not kept
        self._unsub = sampler.subscribe(self._add)
        if self._own is not None:
            self._own.start()

    def stop(self) -> dict[str, Any]:
        sampler = self._own or self._shared
        if sampler is not None:
            sampler.poll()
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        if self._own is not None:
            self._own.stop()
            self._own = None
        with self._lock:
            return summarize(self._samples)


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 2) if xs else None


def summarize(samples: list[Snapshot]) -> dict[str, Any]:
    """JSON-ready summary of snapshots; GPU figures are None when no GPU gave them."""
    cpu = [s.cpu.total_pct for s in samples if s.cpu.per_core_pct]
    rss = [s.cpu.rss for s in samples if s.cpu.rss]
    util = [g.util_pct for s in samples for g in s.gpus if not is_na(g.util_pct)]
    mem = [g.mem_used for s in samples for g in s.gpus if not is_na(g.mem_used)]
    mine = [g.this_process_mem for s in samples for g in s.gpus if not is_na(g.this_process_mem)]
    totals = [g.mem_total for s in samples for g in s.gpus if not is_na(g.mem_total)]
    names = sorted({str(g.name) for s in samples for g in s.gpus if not is_na(g.name)})
    return {
        "samples": len(samples),
        "cores": len(samples[-1].cpu.per_core_pct) if samples else None,
        "cpu_mean": _mean(cpu),
        "cpu_peak": max(cpu) if cpu else None,
        "rss_peak": max(rss) if rss else None,
        "gpu": ", ".join(names) or None,
        "gpu_util_mean": _mean(util),
        "gpu_util_peak": max(util) if util else None,
        "gpu_mem_peak": max(mem) if mem else None,
        "gpu_mem_total": max(totals) if totals else None,
        "gpu_proc_mem_peak": max(mine) if mine else None,
    }


def right_sizing_hint(run_metrics: dict[str, Any] | None, batch: int = 1) -> str:
    """One sentence on whether the hardware was well used during a run."""
    m = run_metrics or {}
    if not m.get("samples"):
        return "no metrics were recorded for this run"
    util = m.get("gpu_util_mean")
    if util is not None:
        text = f"GPU busy {util:.0f}% at batch {batch}"
        if util < 30:
            text += ": batch more or pick a smaller instance"
        elif util > 85:
            text += ": the GPU is the limit; more replicas or a larger GPU would scale"
        else:
            text += ": reasonably used"
        peak, total = m.get("gpu_mem_peak"), m.get("gpu_mem_total")
        if peak and total and peak < 0.25 * total:
            text += f"; {fmt_bytes(peak)} of {fmt_bytes(total)} GPU memory used: a smaller GPU would fit"
        return text
    cpu = m.get("cpu_mean")
    if cpu is None:
        return "no CPU readings were recorded for this run"
    cores = m.get("cores") or "?"
    text = f"CPU busy {cpu:.0f}% of {cores} cores at batch {batch} (no NVIDIA GPU)"
    if cpu < 30:
        return text + ": batch more, use more threads, or pick a smaller instance"
    if cpu > 85:
        return text + ": CPU-bound; more vCPUs or a GPU instance would help"
    return text + ": reasonably used"


def fmt_bytes(n: Any) -> str:
    if is_na(n):
        return "n/a"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB", "MiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def fmt_num(x: Any, spec: str = ".0f", unit: str = "") -> str:
    """``x`` formatted with ``spec`` and a unit, or ``n/a``."""
    return "n/a" if is_na(x) else f"{float(x):{spec}}{' ' + unit if unit else ''}"


def fmt_pct(x: Any) -> str:
    return "n/a" if is_na(x) else f"{float(x):.0f}%"
