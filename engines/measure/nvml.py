"""NVIDIA GPU readings through NVML (nvidia-ml-py), wrapped so nothing ever raises.

Every NVML call goes through :func:`nv_call`, which returns the :data:`NA`
sentinel when the driver says "not supported", when the GPU is lost, or when
NVML fails in any other way. ``pynvml`` is imported lazily in
:meth:`NvmlProbe.open`; without it (or without a driver) the probe reports
no GPU and a one-line reason. Slow, constant fields (name, UUID, total memory,
power limit) are read once per device and cached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable


class _NotAvailable:
    """A reading the driver cannot give; shows as ``n/a``, is falsy, compares equal only to itself."""

    _instance: "_NotAvailable | None" = None

    def __new__(cls) -> "_NotAvailable":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "n/a"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "n/a"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NA"


NA: Any = _NotAvailable()


def is_na(value: Any) -> bool:
    return value is NA or value is None


def jsonable(value: Any) -> Any:
    """NA -> None, recursively through dicts, lists and tuples."""
    if value is NA:
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    used_bytes: Any          # int or NA


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: Any = NA
    uuid: Any = NA
    util_pct: Any = NA            # SM busy %, 0..100
    mem_util_pct: Any = NA        # memory controller busy %
    mem_used: Any = NA            # bytes
    mem_total: Any = NA           # bytes
    power_w: Any = NA
    power_limit_w: Any = NA
    temp_c: Any = NA
    sm_clock_mhz: Any = NA
    mem_clock_mhz: Any = NA
    processes: tuple[GpuProcess, ...] = ()
    this_process_mem: Any = NA    # bytes used by this process on this GPU
    lost: bool = False            # the device stopped answering (fell off the bus, driver gone)


def nv_call(fn: Callable[..., Any], *args: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    """Call an NVML function; any failure becomes :data:`NA`."""
    try:
        value = fn(*args)
    except Exception:  # pynvml.NVMLError and anything a broken binding raises
        return NA
    if value is None:
        return NA
    if convert is not None:
        try:
            return convert(value)
        except Exception:
            return NA
    return value


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _Device:
    index: int
    handle: Any
    static: dict[str, Any] = field(default_factory=dict)
    lost: bool = False


class NvmlProbe:
    """Reads every NVIDIA GPU once per :meth:`sample`; never raises."""

    def __init__(self, module: Any = None) -> None:
        self._nv = module            # injected for tests; else pynvml, imported in open()
        self._devices: list[_Device] = []
        self._opened = False
        self.status = "not started"  # one line for the UI
        self.available = False

    def open(self) -> None:
        if self._opened:
            return
        self._opened = True
        nv = self._nv
        if nv is None:
            try:
                import pynvml as nv  # nvidia-ml-py
            except ImportError:
                self.status = "no NVIDIA GPU: nvidia-ml-py is not installed"
                return
            self._nv = nv
        try:
            nv.nvmlInit()
            count = int(nv.nvmlDeviceGetCount())
        except Exception as exc:
            self.status = f"no NVIDIA GPU detected ({_first_line(exc) or 'NVML unavailable'})"
            return
        for i in range(count):
            handle = nv_call(nv.nvmlDeviceGetHandleByIndex, i)
            dev = _Device(i, handle, lost=handle is NA)
            if not dev.lost:
                dev.static = {
                    "name": nv_call(nv.nvmlDeviceGetName, handle, convert=_decode),
                    "uuid": nv_call(nv.nvmlDeviceGetUUID, handle, convert=_decode),
                    "power_limit_w": nv_call(nv.nvmlDeviceGetEnforcedPowerLimit, handle,
                                             convert=lambda mw: mw / 1000.0),
                }
            self._devices.append(dev)
        self.available = count > 0
        self.status = f"{count} NVIDIA GPU(s)" if count else "no NVIDIA GPU detected"

    def close(self) -> None:
        if self._opened and self.available and self._nv is not None:
            nv_call(self._nv.nvmlShutdown)
        self._devices = []
        self.available = False
        self._opened = False

    def sample(self) -> tuple[GpuSample, ...]:
        if not self._opened:
            self.open()
        if not self.available:
            return ()
        out = []
        lost = 0
        for dev in self._devices:
            if not dev.lost:
                sample = self._read(dev)
                dev.lost = sample.lost
            else:
                sample = GpuSample(dev.index, name=dev.static.get("name", NA), uuid=dev.static.get("uuid", NA),
                                   lost=True)
            lost += dev.lost
            out.append(sample)
        if lost:
            self.status = f"{lost} of {len(self._devices)} NVIDIA GPU(s) stopped answering: readings n/a"
        return tuple(out)

    def _read(self, dev: _Device) -> GpuSample:
        nv, h = self._nv, dev.handle
        util = nv_call(nv.nvmlDeviceGetUtilizationRates, h)
        mem = nv_call(nv.nvmlDeviceGetMemoryInfo, h)
        if util is NA and mem is NA and _gpu_is_lost(nv, h):
            return GpuSample(dev.index, name=dev.static.get("name", NA), uuid=dev.static.get("uuid", NA), lost=True)
        procs = _processes(nv, h)
        me = os.getpid()
        mine = [p.used_bytes for p in procs if p.pid == me]
        return GpuSample(
            index=dev.index,
            name=dev.static.get("name", NA),
            uuid=dev.static.get("uuid", NA),
            util_pct=NA if util is NA else nv_call(lambda: float(util.gpu)),
            mem_util_pct=NA if util is NA else nv_call(lambda: float(util.memory)),
            mem_used=NA if mem is NA else nv_call(lambda: int(mem.used)),
            mem_total=NA if mem is NA else nv_call(lambda: int(mem.total)),
            power_w=nv_call(nv.nvmlDeviceGetPowerUsage, h, convert=lambda mw: mw / 1000.0),
            power_limit_w=dev.static.get("power_limit_w", NA),
            temp_c=nv_call(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU, convert=float),
            sm_clock_mhz=nv_call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM, convert=int),
            mem_clock_mhz=nv_call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM, convert=int),
            processes=procs,
            this_process_mem=(sum(m for m in mine if m is not NA) if mine and all(m is not NA for m in mine)
                              else (NA if mine else 0)),
        )


def _processes(nv: Any, handle: Any) -> tuple[GpuProcess, ...]:
    seen: dict[int, Any] = {}
    for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        fn = getattr(nv, getter, None)
        rows = nv_call(fn, handle) if fn is not None else NA
        if rows is NA:
            continue
        for p in rows:
            used = getattr(p, "usedGpuMemory", None)
            pid = nv_call(lambda: int(p.pid))
            if pid is NA:
                continue
            # NVML reports "not available" as None (or a huge sentinel under some drivers)
            seen[pid] = NA if used is None or used >= (1 << 62) else int(used)
    return tuple(GpuProcess(pid, used) for pid, used in sorted(seen.items()))


def _gpu_is_lost(nv: Any, handle: Any) -> bool:
    """True when NVML says the device is gone (or NVML itself has gone away)."""
    try:
        nv.nvmlDeviceGetUtilizationRates(handle)
    except Exception as exc:
        code = getattr(exc, "value", None)
        gone = {getattr(nv, n, object()) for n in ("NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_UNINITIALIZED",
                                                   "NVML_ERROR_DRIVER_NOT_LOADED", "NVML_ERROR_NOT_FOUND")}
        return code in gone or code is None
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
