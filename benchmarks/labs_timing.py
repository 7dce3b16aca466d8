"""Each lab's guided tour driven end to end through the TUI with Pilot, timed; JSON to benchmarks/results/labs_timing.json.

Every lab starts from a fresh workspace on the lab sample (digits32_resnet.pt), so each one pays for its own
baseline export; the tour is driven as a student would: the Labs area (8), ] to the lab, then n (next step)
until every step is checked. Lab 3 runs its CPU path (OpenVINO, AOTInductor); labs 4-6 use the practice cloud.
Measurement settings are the Labs area's defaults (engines.labs.actions.LabSettings).

Run: .venv/bin/python benchmarks/labs_timing.py [--labs 1 2 3 4 5 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def drive(number: int, workspace: Path) -> dict:
    from screens.widgets.task_panel import TaskPanel
    from workbench.app import make_app
    from workbench.wiring import labs as wiring

    app = make_app(wiring.sample_path(), workspace=workspace)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    steps = []
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("8")
        await pilot.pause()
        for _ in range(number - 1):
            await pilot.press("right_square_bracket")
        await pilot.pause()
        screen = app.screen
        for _ in range(len(wiring.view(app.session, number).rows) + 1):
            view = wiring.view(app.session, number)
            if view.next_key is None:
                break
            s0 = time.perf_counter()
            await pilot.press("n")
            await pilot.pause()
            while screen.query(TaskPanel) and screen.query(TaskPanel).first().running:
                await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            await pilot.pause()
            steps.append({"key": view.next_key, "seconds": round(time.perf_counter() - s0, 2),
                          "status": screen._status[0]})
        view = wiring.view(app.session, number)
    from engines.deploy import practice

    practice.stop()
    return {"lab": number, "title": view.title, "all_done": all(r.done for r in view.rows),
            "wall_s": round(time.perf_counter() - t0, 1), "process_cpu_s": round(time.process_time() - cpu0, 1),
            "steps": steps, "why": view.why}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labs", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6])
    args = ap.parse_args()
    os.environ.setdefault("WORKBENCH_DETERMINISTIC", "1")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_HOME"] = str(Path(tmp) / "home")
        for n in args.labs:
            load0 = os.getloadavg()[0]
            r = asyncio.run(drive(n, Path(tmp) / f"ws{n}"))
            r["load_before"], r["load_after"] = round(load0, 2), round(os.getloadavg()[0], 2)
            print(f"lab {n}: {r['wall_s']} s wall, {r['process_cpu_s']} s CPU, all done: {r['all_done']}", flush=True)
            results.append(r)
    out = ROOT / "benchmarks" / "results" / "labs_timing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": len(os.sched_getaffinity(0)),
           "labs": results}
    tmpf = out.with_suffix(".json.part")
    tmpf.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmpf, out)
    print(f"wrote {out}")
    return 0 if all(r["all_done"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
