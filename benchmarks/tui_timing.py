"""TUI timing with ``App.run_test``: first and second visit to each area, and quit (idle and during a task).

Two figures per visit, from the area key: *painted*, when the first whole frame of the area (a full update,
not a partial one) is composed and handed to the terminal driver (what the user sees; hooked at
``App._display``), and *settled*, when the pilot finds
the app idle (``pilot.pause()``, which adds its own waits; work handed to workers keeps running after it).
Two ways to arrive: **at once**, the first key pressed the moment the model has opened (nothing built
ahead: the idle-time build is off for these runs, so it cannot run between their visits either), and
**after idle**, the user on the first screen until the idle-time build of the unvisited areas
(``workbench/prebuild.py``) is done (its duration recorded). The model is the bundled sample
(``digits_cnn.pt``); the app is started afresh for each run, so every first visit is a real first one.
Quit is timed from ``q`` (and, during a task, the confirm ``y``) to the app having exited.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/tui_timing.py [--runs 3]

Writes ``benchmarks/results/tui_timing.json``. Targets: first visit < 0.3 s, quit < 1 s.
The process exit after the app (interpreter teardown) is measured by ``benchmarks/startup.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "tui_timing.json"
TARGETS = {"first_visit_s": 0.3, "quit_s": 1.0}


async def one_run(busy: bool, idle: bool = False) -> dict:
    from workbench import prebuild
    from workbench.app import make_app
    from workbench.nav import available_areas
    from workbench.tasks import run_task

    # at once: nothing built ahead (the idle-time build off, as if the key came before it could run); after
    # idle: the build on, and the visits start when it is done
    os.environ["WORKBENCH_PREBUILD"] = "1" if idle else "0"
    app = make_app()
    frames: list[tuple[float, str]] = []
    display = app._display

    def record(screen, renderable):   # the frames Textual hands to the driver (headless: writes nothing)
        display(screen, renderable)
        if type(renderable).__name__ == "LayoutUpdate":   # a whole frame, not a partial update
            frames.append((time.perf_counter(), getattr(screen, "AREA", "")))

    app._display = record
    first: dict[str, float] = {}
    second: dict[str, float] = {}
    painted: dict[str, float] = {}
    release = threading.Event()
    t_quit = 0.0
    build_s = None
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if idle:
            t0 = time.perf_counter()
            while prebuild.wanted(app) and time.perf_counter() - t0 < 30:
                await asyncio.sleep(0.05)
            build_s = round(time.perf_counter() - t0, 3)
            await pilot.pause()
        areas = available_areas()
        for visits in (first, second):
            for area in areas[1:] + areas[:1]:
                frames.clear()
                t0 = time.perf_counter()
                await pilot.press(area.key)
                await pilot.pause()
                visits[area.id] = round(time.perf_counter() - t0, 4)
                if visits is first:
                    shown = [t for t, a in frames if a == area.id]
                    painted[area.id] = round(shown[0] - t0, 4) if shown else visits[area.id]
                await app.workers.wait_for_complete()   # its background work ends before the next visit
                await pilot.pause()
        if busy:
            def waits(task):
                while not release.wait(0.02):
                    task.check()
            run_task(app.screen, "benchmark task", waits)
            await pilot.pause()
        t_quit = time.perf_counter()
        await pilot.press("q")
        if busy:
            await pilot.pause()
            await pilot.press("y")
        while app.is_running:
            await asyncio.sleep(0.005)
    quit_s = time.perf_counter() - t_quit
    release.set()
    return {"first_visit_s": first, "first_painted_s": painted, "second_visit_s": second,
            "quit_s": round(quit_s, 4), "prebuild_s": build_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("WORKBENCH_DETERMINISTIC", "0")
    from engines.measure.cpu_features import cpu_features

    load_before = [round(x, 2) for x in os.getloadavg()]
    runs, idle = [], []
    for _ in range(args.runs):   # the two ways to arrive alternate, so load changes hit both alike
        runs.append(asyncio.run(one_run(busy=False)))
        idle.append(asyncio.run(one_run(busy=False, idle=True)))
    busy = [asyncio.run(one_run(busy=True)) for _ in range(max(1, args.runs // 2))]
    areas = list(runs[0]["first_visit_s"])
    med = lambda xs: round(statistics.median(xs), 4)  # noqa: E731
    per_area = lambda rs, key: {a: med([r[key][a] for r in rs]) for a in areas}  # noqa: E731
    result = {
        "command": "python benchmarks/tui_timing.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg_before": load_before, "load_avg": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu_features().model,
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "runs": args.runs,
        "at_once": {"first_painted_s": per_area(runs, "first_painted_s"),
                    "first_settled_s": per_area(runs, "first_visit_s")},
        "after_idle": {"first_painted_s": per_area(idle, "first_painted_s"),
                       "first_settled_s": per_area(idle, "first_visit_s"),
                       "prebuild_s": med([r["prebuild_s"] for r in idle])},
        "second_visit_s": per_area(runs, "second_visit_s"),
        "quit_idle_s": med([r["quit_s"] for r in runs]),
        "quit_during_task_s": med([r["quit_s"] for r in busy]),
        "targets": TARGETS,
    }
    result["first_visit_ok"] = {
        way: {fig: all(v < TARGETS["first_visit_s"] for v in result[way][fig].values())
              for fig in ("first_painted_s", "first_settled_s")} for way in ("at_once", "after_idle")}
    result["quit_ok"] = max(result["quit_idle_s"], result["quit_during_task_s"]) < TARGETS["quit_s"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(RESULTS)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
