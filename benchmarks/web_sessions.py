"""Memory per connected `workbench web` session, and how many sessions fit on this machine.

Starts `python -m workbench web` on a free loopback port, then opens sessions one after another over the
same websocket a browser uses (textual-serve starts one app process per connection; browsers themselves
run on the students' machines, so none is started here). Each session waits until its app shows the
opened model, then every app process is read: RSS (counts shared libraries in every process), PSS (shared
pages split between the processes that map them: what the sessions add up to) and USS (pages only that
process has: what closing it frees). The system's available memory is read before and after, too.
Optionally the first session runs a real step (Optimize, Apply: int8 static quantization, measured) and
its memory is read again.

    .venv/bin/python benchmarks/web_sessions.py [--sessions 5] [--step]

Writes ``benchmarks/results/web_sessions.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "web_sessions.json"
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMc])")
GIB = 1024 ** 3
MACHINE_GIB = 24              # the class machine this answers for (this machine's size)
RESERVE_GIB = 2.0             # left for the OS, the server and page cache
LOADED = "TorchScript"        # the header shows "digits_cnn · TorchScript · cpu" once the sample is open


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """One websocket connection: what a browser tab does (size, keys), reading what the app draws."""

    def __init__(self, http, url: str) -> None:
        self.http, self.url, self.text, self.ws = http, url, "", None
        self.reader: asyncio.Task | None = None
        self.decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")

    async def open(self) -> None:
        self.ws = await self.http.ws_connect(self.url)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import aiohttp

        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.text = (self.text + ANSI.sub("", self.decoder.decode(msg.data)))[-500_000:]

    async def wait_for(self, words: str, timeout: float, since: int = 0) -> float:
        t0 = time.perf_counter()
        while words not in self.text[since:]:
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"no {words!r} after {timeout:.0f} s")
            await asyncio.sleep(0.2)
        return time.perf_counter() - t0

    async def keys(self, keys: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", keys]))

    async def close(self) -> None:
        await self.ws.close()
        if self.reader:
            await asyncio.wait([self.reader], timeout=10)


def app_processes(server: subprocess.Popen) -> list[psutil.Process]:
    out = []
    for p in psutil.Process(server.pid).children(recursive=True):
        try:
            if "workbench" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def memory(procs: list[psutil.Process]) -> list[dict[str, float]]:
    out = []
    for p in procs:
        m = p.memory_full_info()
        out.append({"pid": p.pid, "rss_mib": m.rss / 2**20, "pss_mib": m.pss / 2**20, "uss_mib": m.uss / 2**20})
    return out


async def run(n: int, step: bool, load_timeout: float) -> dict:
    import aiohttp

    home = tempfile.mkdtemp(prefix="wb-web-bench-")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "workbench", "web", "--port", str(port)], cwd=ROOT,
                              env={**os.environ, "WORKBENCH_HOME": home}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    rounds, step_figures = [], None
    avail0 = psutil.virtual_memory().available
    sessions: list[Session] = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                await asyncio.sleep(0.2)
        server_rss = psutil.Process(server.pid).memory_info().rss / 2**20
        async with aiohttp.ClientSession() as http:
            for i in range(n):
                s = Session(http, f"ws://127.0.0.1:{port}/ws?width=120&height=40")
                await s.open()
                load_s = await s.wait_for(LOADED, load_timeout)   # the header once the model is open
                sessions.append(s)
                await asyncio.sleep(2.0)   # let the overview settle (metrics sampler, first frames)
                mem = memory(app_processes(server))
                rounds.append({"sessions": i + 1, "open_s": round(load_s, 2), "processes": mem,
                               "available_drop_mib": (avail0 - psutil.virtual_memory().available) / 2**20})
                print(f"{i + 1} session(s): opened in {load_s:.1f} s; RSS "
                      f"{', '.join(format(m['rss_mib'], '.0f') for m in mem)} MiB", flush=True)
            if step:
                s = sessions[0]
                mark = len(s.text)
                await s.keys("2")
                await s.wait_for("Quantization", 60, mark)
                mark = len(s.text)
                t0 = time.perf_counter()
                await s.keys("a")
                await s.wait_for("optimize: done", 600, mark)
                await asyncio.sleep(1.0)
                first = min(app_processes(server), key=lambda p: p.create_time())
                step_figures = {"step": "Optimize > Apply (int8 static, measured)",
                                "step_s": round(time.perf_counter() - t0, 1), **memory([first])[0]}
                print(f"after the step: {step_figures}", flush=True)
            for s in sessions:
                await s.close()
            t0 = time.perf_counter()
            while app_processes(server) and time.perf_counter() - t0 < 30:
                await asyncio.sleep(0.2)
            left = len(app_processes(server))
    finally:
        server.terminate()
        server.wait(30)
        import shutil

        shutil.rmtree(home, ignore_errors=True)   # the temp home this run made
    last = rounds[-1]["processes"]
    pss = sum(m["pss_mib"] for m in last) / len(last)
    rss = sum(m["rss_mib"] for m in last) / len(last)
    uss = sum(m["uss_mib"] for m in last) / len(last)
    per_session_drop = rounds[-1]["available_drop_mib"] / n   # noisy where other work shares the machine
    budget_mib = (MACHINE_GIB - RESERVE_GIB) * 1024
    fit = math.floor(budget_mib / pss)
    fit_active = math.floor(budget_mib / step_figures["pss_mib"]) if step_figures else None
    return {"sessions": n, "rounds": rounds, "server_rss_mib": round(server_rss, 1),
            "mean_rss_mib": round(rss, 1), "mean_pss_mib": round(pss, 1), "mean_uss_mib": round(uss, 1),
            "available_drop_per_session_mib": round(per_session_drop, 1), "after_step": step_figures,
            "fit_in_24_gib": fit, "fit_in_24_gib_after_a_step": fit_active,
            "fit_basis": f"({MACHINE_GIB} GiB - {RESERVE_GIB} GiB reserve) / PSS per session (idle: mean of "
                         f"{n}; after a step: the first session's)",
            "app_processes_left_after_closing": left}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--step", action="store_true", help="run Optimize > Apply in the first session, then measure it")
    ap.add_argument("--load-timeout", type=float, default=240)
    args = ap.parse_args()
    load_before = os.getloadavg()
    t0 = time.time()
    result = asyncio.run(run(args.sessions, args.step, args.load_timeout))
    result.update({"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0)),
                   "command": " ".join([Path(sys.executable).name, *sys.argv]),
                   "load_before": [round(x, 2) for x in load_before],
                   "load_after": [round(x, 2) for x in os.getloadavg()],
                   "machine": {"cpu_count": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
                               "python": platform.python_version()},
                   "elapsed_s": round(time.time() - t0, 1)})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=1))


if __name__ == "__main__":
    main()
