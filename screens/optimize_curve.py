"""Optimize's pruning-curve tab: accuracy and speedup against the amount pruned, stored or run here.

The curve shown is the one stored in the workspace for the Pruning form's schedule and recovery epochs (one
made with ``workbench curve`` shows too), else the newest stored one, said so. ``c`` opens the tab and, when no
curve matches, runs it as a cancellable worker with progress (the Run button always runs; a re-run reuses
every stored point). Mixed into :class:`screens.optimize.OptimizeScreen`.
"""

from __future__ import annotations

from typing import Any

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Label, Static, TabbedContent

from screens import optimize_form as form_ui
from screens.widgets.curve_chart import LEGEND as CURVE_LEGEND
from screens.widgets.curve_chart import SPEED_ONLY, CurveChart
from screens.widgets.fields import FieldErrors
from screens.widgets.task_panel import TaskPanel
from workbench.wiring import curve as curve_wiring

CURVE_TASK = "curve"


class CurveTab:
    curve: Any = None
    curve_matches = False

    def curve_tab_widgets(self) -> list[Widget]:
        """The tab's widgets, mounted the first time the tab opens (a first visit to Optimize stays fast)."""
        form = Horizontal(Label("amounts", classes="opt-label"),
                          form_ui.AmountsField(curve_wiring.DEFAULT_AMOUNTS, id="curve-amounts"),
                          Label(" %"), Button("Run curve", id="curve-run", compact=True),
                          id="curve-form", classes="opt-row")
        return [form, FieldErrors(id="curve-errors"), Static("", id="curve-info", markup=False),
                CurveChart(id="chart-curve"), Static(CURVE_LEGEND, classes="opt-legend", markup=False)]

    async def action_curve(self) -> None:
        """Show the curve tab; with no stored curve for these settings, run it (a second c re-runs)."""
        if self.session.model_info is None:
            return
        tabs = self.query_one(TabbedContent)
        if tabs.active != "tab-curve" or not self.curve_matches:
            await self.ensure_tab("tab-curve")
            tabs.active = "tab-curve"
            self.refresh_curve()
            if self.curve_matches:
                return
        if self._refused("curve") or self.query_one(TaskPanel).running:
            return
        max_drop = form_ui.number(self, "max-drop", None)
        self.query_one(TaskPanel).start(CURVE_TASK, curve_wiring.curve_in_session, self.session, self.form(),
                                        form_ui.number(self, "curve-amounts", curve_wiring.DEFAULT_AMOUNTS),
                                        None if max_drop is None else float(max_drop))

    async def _run_curve_now(self) -> None:
        self.curve_matches = True   # the button always runs (a re-run reuses the stored points)
        self.query_one(TabbedContent).active = "tab-curve"
        await self.action_curve()

    def refresh_curve(self) -> None:
        """The stored curve for the form's settings (else the newest, said), or how to make one."""
        if self.session.model_info is None or not self.query(CurveChart):
            return   # the tab has not been opened yet: it is filled as it mounts
        self.curve, self.curve_matches = curve_wiring.stored(self.session, self.form())
        self.query_one(CurveChart).set_curve(self.curve if self.curve_matches or self.curve is not None else None)
        self.query_one("#curve-info", Static).update(self._curve_info())

    def _curve_info(self) -> str:
        s = curve_wiring.settings_from_form(self.form())
        want = f"{s['schedule']}, +{s['recover_epochs']} recovery epochs"
        if self.curve is None:
            return (f"No stored curve. c runs one ({want}, from the Pruning form; amounts above), "
                    "every point measured like a variant and all timed side by side.")
        c = self.curve
        ok = [p for p in c.points if p.status == "ok"]
        lead = (f"Stored curve: {c.schedule}, +{c.recover_epochs} recovery epochs, {len(ok)} points" if
                self.curve_matches else f"Shown: the newest stored curve ({c.schedule}, +{c.recover_epochs} "
                                        f"recovery epochs); none for {want}: c runs it")
        parts = [lead]
        if c.quality_key != "accuracy":
            parts.append(SPEED_ONLY)
        if c.max_drop is not None:
            parts.append(f"largest amount within {c.max_drop:g} pts: "
                         + ("none" if c.chosen is None else f"{c.chosen:.0%}"))
        failed = [f"{p.amount:.0%}: {p.error}" for p in c.points if p.status != "ok"]
        if failed:
            parts.append("failed " + "; ".join(failed))
        return " · ".join(parts)

