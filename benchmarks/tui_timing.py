"""TUI timing with ``App.run_test``: first and second visit to each area, and quit (idle and during a task).

A visit is timed from the area key to the screen mounted and painted (``pilot.pause()``; work the
screen hands to workers keeps running after that). The model is the bundled sample
(``digits_cnn.pt``); the app is started once per run, so every first visit is a real first one.
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


async def one_run(busy: bool) -> dict:
    from workbench.app import make_app
    from workbench.nav import available_areas
    from workbench.tasks import run_task

    app = make_app()
    first: dict[str, float] = {}
    second: dict[str, float] = {}
    release = threading.Event()
    t_quit = 0.0
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        areas = available_areas()
        for visits in (first, second):
            for area in areas[1:] + areas[:1]:
                t0 = time.perf_counter()
                await pilot.press(area.key)
                await pilot.pause()
                visits[area.id] = round(time.perf_counter() - t0, 4)
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
    return {"first_visit_s": first, "second_visit_s": second, "quit_s": round(quit_s, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("WORKBENCH_DETERMINISTIC", "0")
    runs = [asyncio.run(one_run(busy=False)) for _ in range(args.runs)]
    busy = [asyncio.run(one_run(busy=True)) for _ in range(max(1, args.runs // 2))]
    areas = list(runs[0]["first_visit_s"])
    med = lambda xs: round(statistics.median(xs), 4)  # noqa: E731
    result = {
        "command": "python benchmarks/tui_timing.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "runs": args.runs,
        "first_visit_s": {a: med([r["first_visit_s"][a] for r in runs]) for a in areas},
        "second_visit_s": {a: med([r["second_visit_s"][a] for r in runs]) for a in areas},
        "quit_idle_s": med([r["quit_s"] for r in runs]),
        "quit_during_task_s": med([r["quit_s"] for r in busy]),
        "targets": TARGETS,
    }
    result["first_visit_ok"] = all(v < TARGETS["first_visit_s"] for v in result["first_visit_s"].values())
    result["quit_ok"] = max(result["quit_idle_s"], result["quit_during_task_s"]) < TARGETS["quit_s"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(RESULTS)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
