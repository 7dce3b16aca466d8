"""``workbench lab [N]``: open the TUI on lab N's guided tour; ``--list`` the labs; ``--check`` step states headless."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lab", help="the course labs as guided tours (opens the TUI on lab N)",
                              description="Open the terminal UI on lab N's guided tour (default lab 1, on the "
                                          "lab sample digits32_resnet.pt), list the labs, or print which steps "
                                          "of a lab are done, read from the model's workspace.")
    p.add_argument("number", nargs="?", type=int, help="lab number, 1 to 6 (default 1)")
    p.add_argument("--model", help="model to do the lab on (default: the lab sample, digits32_resnet.pt)")
    p.add_argument("--data", help="NPZ file with x (and labels y) for calibration and accuracy")
    p.add_argument("--workspace", help="folder for variants (default: ~/.workbench/workspaces/<model>)")
    p.add_argument("--list", action="store_true", help="list the labs and their steps, then exit")
    p.add_argument("--check", action="store_true",
                   help="print which steps are done (from the workspace and lab record), without the TUI")
    p.add_argument("--save", metavar="FILE_OR_DIR",
                   help="with --check: save the lab's Markdown summary there (default folder: the workspace)")
    p.add_argument("--json", action="store_true", help="with --list/--check: print JSON")
    p.set_defaults(handler=run)


def _model(args: argparse.Namespace) -> Path:
    from engines.errors import WorkbenchError
    from workbench.wiring.labs import sample_path

    path = Path(args.model).expanduser() if args.model else sample_path()
    if not path.exists():
        raise WorkbenchError(f"no such file or folder: {path}" + ("" if args.model else
                             " (build it with: workbench samples build --lab)"))
    return path


def run(args: argparse.Namespace) -> int:
    from engines.labs.tours import LABS, lab

    if args.number is not None:
        lab(args.number)   # an unknown number is refused before anything opens
    if args.list:
        return _list(args, LABS)
    if args.check:
        return _check(args)
    if args.save:
        from engines.errors import WorkbenchError

        raise WorkbenchError("--save goes with --check (in the TUI, press s on the Labs screen)")
    from workbench.app import make_app

    app = make_app(_model(args), data=args.data, workspace=args.workspace)
    app.exit_on_hangup = True
    app.start_area = "labs"
    app.lab_start = args.number or 1
    app.run()
    return int(app.return_code or 0)


def _list(args: argparse.Namespace, labs: Any) -> int:
    from engines.labs.tours import STEP_KEYS

    if args.json:
        print(json.dumps([{"number": x.number, "title": x.title, "goal": x.goal,
                           "steps": [{"key": k, "id": s.id, "title": s.title} for k, s in zip(STEP_KEYS, x.steps)]}
                          for x in labs], indent=2))
        return 0
    for x in labs:
        print(f"Lab {x.number}: {x.title}")
        for k, s in zip(STEP_KEYS, x.steps):
            print(f"  {k}. {s.title}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from engines.deploy import practice
    from engines.errors import WorkbenchError
    from engines.labs import state, summary
    from engines.labs.actions import model_problem
    from engines.labs.tours import LABS, STEP_KEYS, lab
    from engines.models.loader import detect_format
    from engines.workspace import Workspace

    path = _model(args)
    fmt = detect_format(path)
    ws = Workspace(Path(args.workspace).expanduser()) if args.workspace else Workspace.for_model(path)
    numbers = [args.number] if args.number else [x.number for x in LABS]
    if args.save and len(numbers) != 1:
        raise WorkbenchError("--save needs one lab number: workbench lab N --check --save FILE")
    facts = state.gather(path, fmt, ws, cloud=practice.current())
    out = []
    for n in numbers:
        tour = lab(n)
        sts = state.states(tour, facts)
        out.append({"number": n, "title": tour.title, "problem": model_problem(tour, fmt),
                    "steps": [{"key": k, "id": s.step.id, "done": s.done, "detail": s.detail,
                               "after": tour.key_of(s.blocked_by) if s.blocked_by else None}
                              for k, s in zip(STEP_KEYS, sts)]})
    if args.save:
        saved = summary.save(summary.markdown(lab(numbers[0]), facts, ws), lab(numbers[0]), ws, args.save)
        out[0]["saved"] = str(saved)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"model {path.name}, workspace {ws.root}")
    for entry in out:
        done = sum(s["done"] for s in entry["steps"])
        print(f"Lab {entry['number']}: {entry['title']} — {done} of {len(entry['steps'])} steps done")
        if entry["problem"]:
            print(f"  ⚠ {entry['problem']}")
        for s in entry["steps"]:
            mark = "✓" if s["done"] else "·"
            after = f" (after step {s['after']})" if s["after"] and not s["done"] else ""
            print(f"  {mark} {s['key']}. {s['detail']}{after}")
        if entry.get("saved"):
            print(f"summary saved to {entry['saved']}")
    return 0
