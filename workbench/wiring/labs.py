"""Labs area wiring: the tour's view (steps checked from real state, why, try next), step workers, summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.session import Session

# measuring settings of the steps (engines.labs.actions.LabSettings fields); tests shorten them
SETTINGS: dict[str, Any] = {}
PRACTICE_PORT = 0


@dataclass(frozen=True)
class StepRow:
    key: str
    step_id: str
    title: str
    does: str
    done: bool
    detail: str
    blocked_by: str | None          # key of the step to do first


@dataclass(frozen=True)
class LabView:
    number: int
    count: int
    title: str
    goal: str
    problem: str | None              # why the open model cannot do this lab
    rows: list[StepRow] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    try_next: list[str] = field(default_factory=list)
    cloud: str | None = None         # the practice cloud's label, when it runs
    next_key: str | None = None


def lab_count() -> int:
    from engines.labs.tours import LABS

    return len(LABS)


def lab_list() -> list[tuple[int, str]]:
    from engines.labs.tours import LABS

    return [(lab.number, lab.title) for lab in LABS]


def sample_path() -> Path:
    from engines.models.lab_sample import STEM
    from engines.models.samples import SAMPLES_DIR

    return Path(SAMPLES_DIR) / f"{STEM}.pt"


def env_for(session: "Session") -> Any:
    from engines.labs.actions import LabEnv, LabSettings

    return LabEnv(session.model_path, workspace=session.workspace, data_path=session.data_path,
                  trust_pickle=session.trust_pickle, settings=LabSettings(**SETTINGS), practice_port=PRACTICE_PORT)


def view(session: "Session", number: int) -> LabView:
    from engines.deploy import practice
    from engines.labs import state, why
    from engines.labs.actions import model_problem
    from engines.labs.tours import LABS, STEP_KEYS, lab

    tour = lab(number)
    fmt = session.model_info.format if session.model_info is not None else None
    problem = model_problem(tour, fmt)
    cloud = practice.current()
    base = LabView(tour.number, len(LABS), tour.title, tour.goal, problem, try_next=list(tour.try_next),
                   cloud=cloud.label if cloud is not None else None)
    facts = state.gather(session.model_path, fmt, session.workspace, cloud=cloud)
    sts = state.states(tour, facts)
    rows = [StepRow(key, s.step.id, s.step.title, s.step.does, s.done, s.detail,
                    tour.key_of(s.blocked_by) if s.blocked_by else None) for key, s in zip(STEP_KEYS, sts)]
    nxt = next((r.key for r in rows if not r.done), None)
    lines = why.explain(tour, facts, session.workspace) if problem is None else []
    return LabView(base.number, base.count, base.title, base.goal, problem, rows, lines, base.try_next, base.cloud,
                   nxt)


def step_id_for(number: int, key: str) -> str | None:
    from engines.labs.tours import STEP_KEYS, lab

    i = STEP_KEYS.find(key)
    steps = lab(number).steps
    return steps[i].id if 0 <= i < len(steps) else None


def run_step(session: "Session", number: int, step_id: str, task: Any = None) -> Any:
    """Worker body: run one step (refused with the step to do first when its inputs are missing)."""
    from engines.labs.actions import run_step as run

    env = env_for(session)
    done = run(env, number, step_id, task=task)
    if session.workspace is None and env.workspace is not None:
        session.workspace = env.workspace
    return done


def summary_text(session: "Session", number: int) -> str:
    from engines.deploy import practice
    from engines.labs import state, summary
    from engines.labs.tours import lab

    fmt = session.model_info.format if session.model_info is not None else None
    facts = state.gather(session.model_path, fmt, session.workspace, cloud=practice.current())
    return summary.markdown(lab(number), facts, session.workspace)


def default_summary_path(session: "Session", number: int) -> str:
    from engines.labs import summary
    from engines.labs.tours import lab

    if session.workspace is None:
        return ""
    return str(summary.default_path(lab(number), session.workspace))


def save_summary(session: "Session", number: int, dest: str | None, task: Any = None) -> Path:
    from engines.labs import summary
    from engines.labs.tours import lab

    return summary.save(summary_text(session, number), lab(number), session.workspace, dest or None)
