"""A lab's summary as Markdown (steps, the figures, the why, what to try next), saved atomically.

Saved to the path the student chooses (a file, or a folder to put it in) or,
by default, to ``<workspace>/labs/``; never to the current directory unless
the student names it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.labs import state, why
from engines.labs.tours import STEP_KEYS, Lab


def markdown(lab: Lab, facts: state.Facts, workspace: Any, *, now: float | None = None) -> str:
    from engines.deploy import practice
    from engines.measure.cpu_features import cpu_features
    from engines.measure.paired import available_cores

    cpu = cpu_features()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now if now is not None else time.time()))
    sts = state.states(lab, facts)
    done = sum(s.done for s in sts)
    lines = [f"# Lab {lab.number}: {lab.title}", "",
             f"- Model: `{facts.model_path.name if facts.model_path else '—'}`",
             f"- Machine: {cpu.model}, {available_cores()} cores available (measured here)",
             f"- Date: {stamp}",
             f"- Steps done: {done} of {len(sts)}"]
    if lab.number == 4:
        lines.append(f"- Cloud: **{practice.LABEL}** (moto on 127.0.0.1; nothing was created on AWS)")
    lines += ["", f"**Goal.** {lab.goal}", "", "## Steps", "", "| | step | result |", "|---|---|---|"]
    for key, s in zip(STEP_KEYS, sts):
        mark = "✓" if s.done else "·"
        lines.append(f"| {mark} | {key}. {s.step.title} | {_cell(s.detail)} |")
    lines += ["", "## Figures", ""]
    rows = [v for v in facts.ok() if v.kind in ("baseline", "quantized", "pruned", "engine")]
    if rows:
        lines += ["| variant | p50 ms | p99 ms | throughput /s | accuracy | size KB |", "|---|---|---|---|---|---|"]
        for v in rows:
            m = v.metrics or {}
            lat = m.get("latency_ms") or {}
            ips = (m.get("throughput") or {}).get("ips")
            acc = m.get("accuracy")
            lines.append(f"| {_cell(v.name)} | {_num(lat.get('p50'))} | {_num(lat.get('p99'))} | "
                         f"{_num(ips, 0)} | {f'{100 * acc:.2f} %' if acc is not None else '—'} | "
                         f"{_num((m.get('size_bytes') or 0) / 1024, 0)} |")
    else:
        lines.append("No variant measured yet.")
    lines += ["", "## Why", ""] + [f"- {line.strip()}" for line in why.explain(lab, facts, workspace)]
    lines += ["", "## Try next", ""] + [f"- {t}" for t in lab.try_next]
    lines += ["", "Figures measured on this machine unless labelled *published*; timings of compared variants were "
              "taken interleaved in the same run.", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(x: Any, digits: int = 3) -> str:
    return f"{x:,.{digits}f}" if isinstance(x, (int, float)) else "—"


def default_path(lab: Lab, workspace: Any, now: float | None = None) -> Path:
    if workspace is None:
        raise WorkbenchError("no workspace to save into: open a model first, or give a file path")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return Path(workspace.root) / "labs" / f"lab{lab.number}-summary-{stamp}.md"


def save(text: str, lab: Lab, workspace: Any, dest: str | os.PathLike | None = None) -> Path:
    """Write ``text`` to ``dest`` (a .md file, or an existing folder) or the workspace; temp file, then rename."""
    from engines.fsutil import write_text_atomic

    if dest is None or not str(dest).strip():
        path = default_path(lab, workspace)
    else:
        path = Path(dest).expanduser()
        if path.is_dir():
            path = path / default_path(lab, workspace).name if workspace is not None else \
                path / f"lab{lab.number}-summary.md"
        elif path.suffix.lower() not in (".md", ".markdown", ".txt"):
            raise WorkbenchError(f"{path.name}: a summary is Markdown: give a .md file name or a folder")
        ours = workspace is not None and path.parent.resolve() == (Path(workspace.root) / "labs").resolve()
        if not path.parent.is_dir() and not ours:
            raise WorkbenchError(f"no such folder: {path.parent}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path
