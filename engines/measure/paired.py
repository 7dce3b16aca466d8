"""Paired timing: the compared models are timed interleaved, in the same rounds, on the same feeds.

One function, :func:`time_paired`, is what the variant pipeline, the auto-tuner
and the engine builder use for every ratio they show. Each round times every
model for a few calls, in an order that rotates from round to round, so a
neighbour's burst of work or a frequency change slows all of them alike. The
ratio of two models is the median over rounds of their per-round ratio, and
its interval is a bootstrap (95 %) of that median over the rounds: when the
interval contains 1.0 the difference is *within noise*.

Before timing, :func:`check_load` looks at the load average, the CPU steal
time (``/proc/stat``) and other busy processes; a busy machine gets a warning
and more rounds. Every result keeps where and when it was measured
(:func:`provenance`), so :func:`is_stale` can tell figures taken on another
machine (or long ago) from fresh ones.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from engines.tasks import TaskContext, ensure_task

DEFAULT_ROUNDS = 7
BUSY_EXTRA_ROUNDS = 2.0          # a busy machine gets this many times the rounds
MAX_ROUNDS = 31
BOOTSTRAP = 2000
CONFIDENCE = 0.95
STALE_AFTER_S = 30 * 24 * 3600.0  # figures older than this are re-timed too


# -- load ---------------------------------------------------------------
@dataclass
class LoadCheck:
    load1: float                    # 1-minute load average
    cores: int                      # cores this process may run on
    steal_pct: float                # CPU time stolen by the hypervisor while sampling
    busy_processes: list[str] = field(default_factory=list)   # "name (pid) 97%"
    busy: bool = False
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def available_cores() -> int:
    """Cores this process may run on (CPU affinity), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _proc_stat() -> tuple[float, float] | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            parts = f.readline().split()
    except OSError:
        return None
    vals = [float(v) for v in parts[1:]]
    steal = vals[7] if len(vals) > 7 else 0.0
    return sum(vals[:8]), steal


def _busy_processes(sample_s: float, min_pct: float) -> list[str]:
    try:
        import psutil
    except ImportError:
        return []
    mine = {os.getpid()}   # children count: nothing of ours runs beside a timing, so a busy child is a neighbour
    procs = []
    for p in psutil.process_iter(["name"]):
        if p.pid in mine:
            continue
        try:
            p.cpu_percent(None)
            procs.append(p)
        except Exception:  # noqa: BLE001 - gone or not ours to read
            continue
    time.sleep(sample_s)
    busy = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except Exception:  # noqa: BLE001
            continue
        if pct >= min_pct:
            busy.append((pct, f"{p.info.get('name') or '?'} ({p.pid}) {pct:.0f}%"))
    return [text for _, text in sorted(busy, reverse=True)[:5]]


def check_load(sample_s: float = 0.3, *, busy_pct: float = 50.0) -> LoadCheck:
    """How busy the machine is right now (load average, steal, other processes using a core)."""
    cores = available_cores()
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    before = _proc_stat()
    others = _busy_processes(sample_s, busy_pct)
    after = _proc_stat()
    steal = 0.0
    if before and after and after[0] > before[0]:
        steal = 100.0 * (after[1] - before[1]) / (after[0] - before[0])
    reasons = []
    if others:
        reasons.append(f"{len(others)} other process(es) busy: {', '.join(others[:3])}")
    if load1 > 0.75 * cores:
        reasons.append(f"load average {load1:.2f} on {cores} core(s)")
    if steal > 5.0:
        reasons.append(f"{steal:.0f}% CPU steal (the hypervisor gives the cores to others)")
    busy = bool(reasons)
    msg = ("the machine is busy (" + "; ".join(reasons) + "): timing with more rounds, and ratios carry "
           "wider intervals") if busy else None
    return LoadCheck(load1=round(load1, 2), cores=cores, steal_pct=round(steal, 1), busy_processes=others,
                     busy=busy, message=msg)


# -- where and when -------------------------------------------------------
def machine_id() -> str:
    """A short, non-identifying fingerprint of this machine (host name, CPU model, core count)."""
    from engines.measure.cpu_features import cpu_features

    text = f"{platform.node()}|{cpu_features().model}|{os.cpu_count()}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def provenance(threads: int | None, device: str = "cpu", load: LoadCheck | None = None) -> dict[str, Any]:
    """When and where a figure was measured."""
    from engines.measure.cpu_features import cpu_features

    now = time.time()
    d: dict[str, Any] = {"at": round(now, 1), "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now)),
                         "machine": machine_id(), "cpu": cpu_features().model, "cores": os.cpu_count(),
                         "available_cores": available_cores(), "threads": threads, "device": device}
    if load is not None:
        d.update(load1=load.load1, steal_pct=load.steal_pct, busy=load.busy)
    return d


def _prov_of(figure: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not figure:
        return None
    if "machine" in figure:
        return figure
    for key in ("measured", "paired"):
        sub = figure.get(key)
        if isinstance(sub, Mapping):
            found = _prov_of(sub)
            if found is not None:
                return found
    return None


def stale_reason(figure: Mapping[str, Any] | None, *, max_age_s: float | None = STALE_AFTER_S,
                 now: float | None = None) -> str | None:
    """Why a stored figure (a variant's metrics, or its ``measured`` record) should be re-timed, or None."""
    prov = _prov_of(figure)
    if prov is None:
        return "no record of where or when it was measured"
    if prov.get("machine") != machine_id():
        return f"measured on another machine ({prov.get('cpu') or 'unknown CPU'}, {prov.get('when') or '?'})"
    at = prov.get("at")
    if max_age_s is not None and isinstance(at, (int, float)) and (now or time.time()) - at > max_age_s:
        return f"measured {((now or time.time()) - at) / 86400:.0f} days ago ({prov.get('when')})"
    return None


def is_stale(figure: Mapping[str, Any] | None, **kw: Any) -> bool:
    """True when ``figure`` was measured on another machine, too long ago, or nobody knows where."""
    return stale_reason(figure, **kw) is not None


# -- ratios ----------------------------------------------------------------
@dataclass
class Ratio:
    """``value`` = reference time / candidate time (a speedup when > 1), with its interval over rounds."""
    value: float
    low: float
    high: float
    rounds: int

    @property
    def within_noise(self) -> bool:
        return self.low <= 1.0 <= self.high

    def separated_from(self, other: "Ratio") -> bool:
        return self.low > other.high or other.low > self.high

    def to_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 4), "interval": [round(self.low, 4), round(self.high, 4)],
                "rounds": self.rounds, "within_noise": self.within_noise}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Ratio | None":
        if not d or d.get("value") is None:
            return None
        lo, hi = (d.get("interval") or [d["value"], d["value"]])[:2]
        return cls(float(d["value"]), float(lo), float(hi), int(d.get("rounds") or 0))


def ratio_interval(per_round: np.ndarray | list[float], *, seed: int = 0) -> Ratio:
    """Median of per-round ratios with a bootstrap interval of that median."""
    r = np.asarray(per_round, dtype=np.float64)
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        return Ratio(float("nan"), float("nan"), float("nan"), 0)
    med = float(np.median(r))
    if r.size < 3:
        return Ratio(med, float(r.min()), float(r.max()), int(r.size))
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(r, size=(BOOTSTRAP, r.size), replace=True), axis=1)
    tail = (1.0 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return Ratio(med, float(lo), float(hi), int(r.size))


# -- timing ---------------------------------------------------------------
@dataclass
class PairedTiming:
    """Per model: the per-round medians and pooled percentiles; ratios against ``reference``."""
    reference: str
    rounds: int
    iterations: int                                  # timed calls per model per round
    round_ms: dict[str, list[float]]                 # per model, its median of each round
    latency_ms: dict[str, dict[str, float]]          # per model, percentiles over all its samples
    ratios: dict[str, Ratio]                         # per model (not the reference): ref / model
    load: LoadCheck | None = None
    measured: dict[str, Any] = field(default_factory=dict)

    def ratio(self, name: str) -> Ratio:
        return self.ratios[name]

    def record(self, name: str, reference_id: str | None = None) -> dict[str, Any]:
        """What a variant stores about this timing: its ratio vs the reference, both p50s, where/when."""
        d: dict[str, Any] = {"reference": reference_id or self.reference, "rounds": self.rounds,
                             "iterations": self.iterations, "p50_ms": self.latency_ms[name]["p50"],
                             "reference_p50_ms": self.latency_ms[self.reference]["p50"],
                             "measured": dict(self.measured)}
        if name in self.ratios:
            d["speedup"] = self.ratios[name].to_dict()
        if self.load is not None and self.load.message:
            d["load_warning"] = self.load.message
        return d


Call = Callable[[], Any]


def rounds_for(load: LoadCheck | None, rounds: int = DEFAULT_ROUNDS) -> int:
    if load is not None and load.busy:
        return min(MAX_ROUNDS, int(round(rounds * BUSY_EXTRA_ROUNDS)))
    return rounds


def time_paired(calls: Mapping[str, Call], reference: str, *, rounds: int = DEFAULT_ROUNDS, iterations: int = 10,
                warmup: int = 3, round_budget_s: float | None = None, threads: int | None = None,
                device: str = "cpu", load: LoadCheck | None | bool = True, settle_s: float = 0.0,
                task: TaskContext | None = None, sync: Callable[[], None] | None = None) -> PairedTiming:
    """Time ``calls`` interleaved: ``rounds`` rounds, each model ``iterations`` calls per round, rotating order.

    ``load=True`` checks the machine first (a busy one gets more rounds); pass a :class:`LoadCheck` to reuse
    one, or ``False``/``None`` to skip. ``round_budget_s`` caps one model's share of a round.
    """
    from engines.measure.harness import percentiles, time_calls

    task = ensure_task(task)
    if reference not in calls:
        raise ValueError(f"reference {reference!r} is not among the timed models")
    check = check_load() if load is True else (load or None)
    n_rounds = rounds_for(check, rounds)
    if check is not None and check.message:
        task.report(None, check.message)
    names = list(calls)
    for k in names:   # warm every model before any timing
        time_calls(calls[k], warmup=warmup, iterations=1, budget_s=None, min_iterations=1, sync=sync)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for r in range(n_rounds):
        task.check()
        task.report(r / n_rounds, f"paired timing, round {r + 1}/{n_rounds}")
        for k in names[r % len(names):] + names[:r % len(names)]:
            if settle_s:
                time.sleep(settle_s)
            samples[k].append(time_calls(calls[k], warmup=1, iterations=iterations, budget_s=round_budget_s,
                                         min_iterations=1, sync=sync))
    round_ms = {k: [float(np.median(a)) for a in s] for k, s in samples.items()}
    lat = {k: percentiles(np.concatenate(s)) for k, s in samples.items()}
    for k in names:   # p50: median of the per-round medians (robust to one disturbed round)
        lat[k]["p50"] = float(np.median(round_ms[k]))
    ref = np.asarray(round_ms[reference])
    ratios = {k: ratio_interval(ref / np.asarray(round_ms[k])) for k in names if k != reference}
    task.report(1.0, "timed")
    return PairedTiming(reference=reference, rounds=n_rounds, iterations=iterations, round_ms=round_ms,
                        latency_ms=lat, ratios=ratios, load=check, measured=provenance(threads, device, check))


def runner_calls(runners: Mapping[str, Any], feeds: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Call]:
    """``name -> call`` for runners and their feeds (bound now, so the loop adds no lookups)."""
    return {k: (lambda run=r.run, f=feeds[k]: run(f)) for k, r in runners.items()}
