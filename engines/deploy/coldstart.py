"""Cold start of the exact ``model.tar.gz``, measured locally, and provisioned-concurrency advice priced from it.

Each run starts a fresh Python process (``python -m engines.deploy.coldstart
ARCHIVE PORT``) that unpacks the archive, imports its ``code/inference.py``,
loads the model with ``model_fn`` and serves it under the container contract
(:class:`engines.deploy.local.LocalContainer`). The parent times, from just
before the process is spawned:

* ``ping_ms``: until ``GET /ping`` first answers 200 (polled every 5 ms);
* ``first_ms``: until the first ``POST /invocations`` answered 200;
* ``warm_ms``: the next invocation on its own (for comparison).

This is the part of a SageMaker cold start the package controls (interpreter,
imports, unpacking, model load, first run). SageMaker adds provisioning and the
image pull before it, which cannot be measured here; the report says so.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task

SCOPE = ("process start -> unpack -> import code/inference.py -> model_fn -> /ping 200 -> first inference, on "
         "this machine; SageMaker adds instance provisioning and the image pull before this")


@dataclass
class ColdStart:
    runs: int
    ping_ms: list[float]
    first_ms: list[float]
    warm_ms: list[float]
    scope: str = SCOPE
    measured_at: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ping_ms_median(self) -> float:
        return float(statistics.median(self.ping_ms))

    @property
    def first_ms_median(self) -> float:
        return float(statistics.median(self.first_ms))

    @property
    def warm_ms_median(self) -> float:
        return float(statistics.median(self.warm_ms))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ping_ms_median=self.ping_ms_median, first_ms_median=self.first_ms_median,
                 warm_ms_median=self.warm_ms_median)
        return d

    def line(self) -> str:
        return (f"cold start (local, median of {self.runs}): /ping 200 after {self.ping_ms_median:.0f} ms, first "
                f"inference after {self.first_ms_median:.0f} ms (warm request {self.warm_ms_median:.1f} ms)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_run(archive: Path, body: bytes, content_type: str, timeout_s: float) -> tuple[float, float, float]:
    import httpx

    import engines

    port = _free_port()
    env = dict(os.environ)
    root = str(Path(engines.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    headers = {"Content-Type": content_type, "Accept": content_type}
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engines.deploy.coldstart", str(archive), str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        with httpx.Client(timeout=timeout_s) as client:
            ping = None
            while ping is None:
                if proc.poll() is not None:
                    err = (proc.stderr.read() or b"").decode("utf-8", "replace").strip().splitlines()
                    raise WorkbenchError(f"the package's server exited with {proc.returncode} before /ping "
                                         f"answered: {err[-1] if err else 'no output'}")
                if time.perf_counter() - t0 > timeout_s:
                    raise WorkbenchError(f"no /ping 200 within {timeout_s:g} s")
                try:
                    if client.get(f"{url}/ping", timeout=1.0).status_code == 200:
                        ping = (time.perf_counter() - t0) * 1000.0
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
            resp = client.post(f"{url}/invocations", content=body, headers=headers)
            first = (time.perf_counter() - t0) * 1000.0
            if resp.status_code != 200:
                raise WorkbenchError(f"first inference answered HTTP {resp.status_code}: {resp.text[:120]}")
            t1 = time.perf_counter()
            client.post(f"{url}/invocations", content=body, headers=headers)
            warm = (time.perf_counter() - t1) * 1000.0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()
    return ping, first, warm


def measure_cold_start(archive: str | Path, body: bytes, content_type: str = "application/json", *, runs: int = 3,
                       timeout_s: float = 120.0, task: TaskContext | None = None) -> ColdStart:
    archive = Path(archive)
    if not archive.is_file():
        raise WorkbenchError(f"{archive} does not exist: build the package first")
    if runs < 1:
        raise WorkbenchError("cold-start runs must be >= 1")
    task = ensure_task(task)
    pings, firsts, warms = [], [], []
    for i in range(runs):
        task.check()
        task.report(i / runs, f"cold start run {i + 1}/{runs}: starting a fresh server process")
        p, f, w = _one_run(archive, body, content_type, timeout_s)
        pings.append(round(p, 2))
        firsts.append(round(f, 2))
        warms.append(round(w, 3))
    task.report(1.0, "cold start measured")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    notes = [f"1-minute load average {load:.2f} when measured" if load is not None else "load unknown"]
    return ColdStart(runs, pings, firsts, warms, measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     notes=notes)


def provisioned_advice(cold: dict[str, Any] | ColdStart, catalog: Any, *, memory_mb: int, peak_rps: float,
                       latency_ms: float, active_seconds: float, max_concurrency: int = 200) -> dict[str, Any]:
    """How much provisioned concurrency keeps the peak warm, and what it costs a month (catalog rate)."""
    c = cold.to_dict() if isinstance(cold, ColdStart) else cold
    first = float(c["first_ms_median"])
    warm = float(c["warm_ms_median"])
    needed = max(1, math.ceil(peak_rps * latency_ms / 1000.0))
    if needed > max_concurrency:
        needed = max_concurrency
    rate = catalog.provisioned_rate()
    monthly = needed * (memory_mb / 1024.0) * active_seconds * rate.usd
    penalty = first - warm
    text = (f"a cold request waits ~{first:.0f} ms locally vs {warm:.1f} ms warm (+{penalty:.0f} ms, before "
            f"SageMaker's own provisioning); provisioned concurrency {needed} (peak {peak_rps:g} req/s x "
            f"{latency_ms:.2f} ms) keeps that warm for {monthly:.2f} USD/month at {memory_mb} MB "
            f"({rate.label} rate {rate.usd} USD/GB-s)")
    return {"cold_first_ms": first, "warm_ms": warm, "cold_penalty_ms": penalty, "provisioned": needed,
            "memory_mb": memory_mb, "monthly": monthly, "rate": rate.to_dict(), "label": rate.label, "text": text}


def _serve(archive: str, port: int) -> None:  # the child process
    import signal
    import threading

    from engines.deploy.local import LocalContainer

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # unwind: the temp model folder is removed
    with LocalContainer(archive, port=port):
        threading.Event().wait()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))


def attach_cold_start(prepared: Any, target: Any, *, runs: int, profile: Any = None, catalog: Any = None,
                      task: TaskContext | None = None) -> dict[str, Any]:
    """Measure the prepared package's cold start, put it (with advice) on the plan and store it in the variant."""
    from engines.cost.prices import load_catalog

    spec = prepared.plan.spec
    cold = measure_cold_start(prepared.package.path, prepared.request_body, spec.content_type, runs=runs, task=task)
    doc = cold.to_dict()
    doc["line"] = cold.line()
    doc["package_sha256"] = getattr(prepared.package, "sha256", None)
    if spec.mode == "serverless" and prepared.measured is not None and profile is not None:
        doc["advice"] = provisioned_advice(cold, catalog or load_catalog(), memory_mb=spec.memory_mb,
                                           peak_rps=profile.peak_rps,
                                           latency_ms=prepared.measured.request_latency_ms,
                                           active_seconds=profile.active_seconds, max_concurrency=spec.max_concurrency)
    prepared.plan.cold_start = doc
    if target.variant is not None and target.workspace is not None:
        target.workspace.update_metrics(target.variant.id, cold_start={k: v for k, v in doc.items() if k != "advice"})
    return doc
