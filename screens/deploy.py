"""Deploy: package the variant, preview every API call, check it locally, deploy to SageMaker, tear down.

Plan (p) builds ``model.tar.gz`` and shows each call with its parameters and
the monthly estimate; Local (l) serves the exact package on 127.0.0.1 under
the container contract and invokes it; Deploy (d) asks for confirmation, then
runs the plan with progress (rolled back entirely on any failure); Teardown
(t) removes the endpoint and what was created with it. Credentials come from
boto3's default chain and are never shown. The form is in :mod:`screens.deploy_form`.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Select, Static

from screens import deploy_form as form_ui
from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from screens.confirm_dialog import ConfirmDialog
from screens.widgets.traffic_inputs import TrafficInputs
from screens.widgets.task_panel import TaskPanel
from screens.widgets.cold_start_view import ColdStartView
from screens.widgets.monitor_view import MonitorView
from screens.widgets.variant_picker import VariantPicker
from workbench.events import TaskDone, VariantSelected, VariantsChanged

PLAN, LOCAL, DEPLOY, TEARDOWN, MONITOR = "plan", "local check", "deploy", "teardown", "monitor"
DEPLOY_FORMATS = ("onnx",)   # the SageMaker package serves ONNX


class DeployScreen(WorkbenchScreen):
    AREA = "deploy"
    CSS_PATH = "deploy.tcss"
    BINDINGS = [Binding("p", "plan", "Plan", tooltip="plan the deployment: a dry run, nothing created"), Binding("l", "local", "Local check"),
                Binding("d", "deploy", "Deploy"), Binding("t", "teardown", "Teardown", tooltip="tear down the endpoint and what was created with it"),
                Binding("w", "watch", "Watch", tooltip="watch the endpoint's CloudWatch metrics and cost so far; w again stops")]

    def compose_body(self) -> ComposeResult:
        from workbench.wiring.variants import area_target

        s = self.session
        self._target = area_target(s, DEPLOY_FORMATS)
        state = s.model_state.deploy_form
        form = state.get("form", {})
        with AreaScroll(id="deploy"):
            yield VariantPicker(DEPLOY_FORMATS, label="Deploying")
            yield TrafficInputs(s.traffic, prefix="dp")
            yield from form_ui.compose_form(form)
            yield TaskPanel("Idle: plan first (p)", id="dp-task")
            plan = Static(state.get("plan_text", "No plan yet: press p for the dry run (nothing is created)."),
                          id="dp-plan", markup=False)
            plan.border_title = state.get("plan_title", "Plan")
            yield plan
            yield Static(state.get("result_text", ""), id="dp-result", markup=False)
            yield ColdStartView(id="dp-cold")   # hidden until a local check measured the cold start
            yield MonitorView(id="dp-monitor")  # hidden until w: the deployed endpoint, live

    def _same_target(self) -> bool:
        from workbench.wiring.variants import area_target

        new = area_target(self.session, DEPLOY_FORMATS)
        return new is not None and self._target is not None and str(new.path) == str(self._target.path)

    # -- form ----------------------------------------------------------------------
    def form(self) -> dict[str, str]:
        return form_ui.read_form(self)

    @property
    def state(self) -> dict[str, Any]:
        return self.session.model_state.deploy_form

    def _start(self, name: str, fn: Any, *args: Any, **kw: Any) -> None:
        panel = self.query_one(TaskPanel)
        if panel.running:
            self.notify("another deployment task is running", severity="warning")
            return
        panel.start(name, fn, *args, **kw)

    def _show(self, ident: str, text: str, title: str | None = None) -> None:
        self.state[f"{ident}_text"] = text
        widget = self.query_one(f"#dp-{ident}", Static)
        widget.update(text)
        if title is not None:
            self.state[f"{ident}_title"] = widget.border_title = title

    def on_mount(self) -> None:
        self._relevant_fields()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "dp-mode":
            self._relevant_fields()

    def _relevant_fields(self) -> None:
        """Only the chosen mode's fields are editable and checked."""
        if not self.query("#dp-mode"):
            return
        form_ui.enable_mode_fields(self)
        self.check_fields()

    async def refresh_body(self) -> None:
        await super().refresh_body()
        self._relevant_fields()

    def on_screen_resume(self) -> None:
        """Traffic changed on the Cost screen shows here (and the plan then needs redoing: d says so)."""
        if self.query(TrafficInputs):
            self.query_one(TrafficInputs).sync()

    def _form_ok(self) -> bool:
        problems = self.check_fields()
        if problems:
            self._show("result", f"Fix the form first: {problems[0]}.")
        return not problems

    # -- actions -------------------------------------------------------------------
    def action_plan(self) -> None:
        from workbench.wiring.deploy import plan_deploy

        if not self._form_ok():
            return
        self.state["form"] = form = self.form()
        self._start(PLAN, plan_deploy, self._target, form, served=self._served())

    def _served(self) -> Any:
        """What the Batching area's server run reached for this variant (held in the session), if any."""
        from workbench.wiring.cost import served_for

        return served_for(self._target, self.session.model_state.batching_comparison)

    def action_local(self) -> None:
        from workbench.wiring.deploy import local_flow

        if not self._form_ok():
            return
        self.state["form"] = form = self.form()
        self._start(LOCAL, local_flow, self._target, form)

    def action_deploy(self) -> None:
        prepared = self.state.get("prepared")
        if prepared is None or self.state.get("planned_form") != self.form():
            self._show("result", "Plan first (p): deploy runs exactly the plan you reviewed.")
            return
        from workbench.wiring.deploy import preview_lines

        body = "\n".join(preview_lines(prepared))
        spec = prepared.plan.spec
        self.app.push_screen(ConfirmDialog(f"Create these resources in {spec.region}? They cost money until torn "
                                           "down.", body, yes="Deploy"), self._confirmed_deploy)

    def _confirmed_deploy(self, yes: bool | None) -> None:
        if not yes:
            self._show("result", "Deploy cancelled: nothing was created.")
            return
        from workbench.wiring.deploy import run_deploy

        self._start(DEPLOY, run_deploy, self.state["prepared"])

    def action_teardown(self) -> None:
        form = self.form()
        name = form["name"].strip() or self.state.get("last_endpoint", "")
        if not name:
            self._show("result", "Give the endpoint name to tear down (name field).")
            return
        self.app.push_screen(ConfirmDialog(f"Tear down endpoint {name} in {form['region']}?",
                                           "Removes the endpoint, its config, model, autoscaling and the "
                                           "uploaded model.tar.gz.", yes="Tear down"),
                             lambda yes: self._confirmed_teardown(yes, name, form))

    def _confirmed_teardown(self, yes: bool | None, name: str, form: dict[str, str]) -> None:
        if yes:
            from workbench.wiring.deploy import run_teardown

            self._start(TEARDOWN, run_teardown, name, form["region"], form["endpoint_url"].strip() or None)

    def action_watch(self) -> None:
        view = self.query_one(MonitorView)
        if view.watching:
            view.stop()
            return
        name = self.form()["name"].strip() or self.state.get("last_endpoint", "")
        if not name:
            self._show("result", "Give the endpoint name to watch (name field), or deploy first.")
            return
        view.start(name)
        self._poll()

    def _poll(self) -> None:
        """One CloudWatch read; the next is scheduled when it finishes (reads never overlap)."""
        from workbench.wiring.deploy import monitor_deployed

        view = self.query_one(MonitorView)
        if not view.watching:
            return
        if self.query_one(TaskPanel).running:   # a plan/deploy/teardown is running: try again later
            view.schedule(self._poll)
            return
        form = self.form()
        self._start(MONITOR, monitor_deployed, view.endpoint, form["region"], form["endpoint_url"].strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"dp-plan-btn": self.action_plan, "dp-local-btn": self.action_local,
                   "dp-deploy-btn": self.action_deploy, "dp-teardown-btn": self.action_teardown}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    # -- results -------------------------------------------------------------------------
    def on_task_done(self, message: TaskDone) -> None:
        if message.task == MONITOR:
            from workbench.wiring.deploy import monitor_lines

            view = self.query_one(MonitorView)
            if message.cancelled:
                view.stop()
                return
            view.show(None if message.error else monitor_lines(message.result), message.error)
            view.schedule(self._poll)
            return
        if message.task not in (PLAN, LOCAL, DEPLOY, TEARDOWN):
            return
        if message.cancelled:
            self._show("result", f"{message.task} cancelled.")
            return
        if message.error:
            self._show("result", f"{message.task} failed: {message.error}")
            return
        r = message.result
        if message.task == PLAN:
            from workbench.wiring.deploy import preview_lines

            self.state.update(prepared=r, planned_form=self.state.get("form"))
            self._show("plan", "\n".join(preview_lines(r)),
                       title="Plan: dry run, nothing created")
            self._show("result", f"Package {r.package.path.name}: {r.package.size_bytes:,} bytes, sha256 "
                                 f"{r.package.sha256[:12]}; press d to deploy or l to check it locally.")
        elif message.task == LOCAL:
            self._show("result", f"Local check passed: GET /ping {r.ping_status}, POST /invocations "
                                 f"{r.invoke_status} in {r.latency_ms:.1f} ms (model load {r.model_load_ms:.1f} ms); "
                                 f"outputs {r.output_shapes}")
            self.query_one(ColdStartView).show(getattr(r, "cold_start", None))
        elif message.task == DEPLOY:
            self.state["last_endpoint"] = r.endpoint_name
            self._show("plan", "\n".join(deployed_lines(r, self.state.get("prepared"))),
                       title=f"Result: deployed, {r.status}")
            latency = f"{r.invoke_latency_ms:.1f} ms" if r.invoke_latency_ms is not None else "n/a"
            self._show("result", f"Endpoint {r.endpoint_name} is {r.status} ({r.mode}, {r.region}); test "
                                 f"invocation {latency}: {r.response_preview[:80]}\nCreated: "
                                 f"{', '.join(r.created)}\nTear down with t when done.")
        elif message.task == TEARDOWN:
            text = f"Teardown of {r['endpoint']}: removed {', '.join(r['removed']) or 'nothing'}"
            self._show("plan", f"Torn down: endpoint {r['endpoint']} and what was created with it. "
                               "Press p for a new plan.", title="Result: torn down")
            if r["errors"]:
                text += f"; errors: {'; '.join(r['errors'])}"
            self._show("result", text)

    async def on_variants_changed(self, message: VariantsChanged) -> None:
        await self._variant_update()

    async def on_variant_selected(self, message: VariantSelected) -> None:
        await self._variant_update()

    async def _variant_update(self) -> None:
        """Another variant: the plan no longer applies; the form is kept."""
        if self.query(VariantPicker) and self._target is not None and self.query_one(VariantPicker).variant_id \
                and self._same_target():
            self.query_one(VariantPicker).sync()
            return
        if self.query("#dp-mode"):
            self.state["form"] = self.form()
        self.state.pop("prepared", None)
        self.state.pop("plan_text", None)
        await self.refresh_body()


def deployed_lines(r: Any, prepared: Any = None) -> list[str]:
    """The result view after a deploy: the endpoint, its status, what was created, how to remove it."""
    lines = [f"Deployed: endpoint {r.endpoint_name} is {r.status} ({r.mode}, {r.region}); it costs money until "
             "torn down (t).", "Created:", *(f"  {c}" for c in r.created)]
    if getattr(r, "replaced", None):
        lines.append(f"Replaced first: {', '.join(r.replaced)}")
    plan = getattr(prepared, "plan", None)
    if plan is not None and plan.autoscaling:
        line = plan.autoscaling["line"]
        lines.append(line[:1].upper() + line[1:])
    if getattr(r, "record_path", None):
        lines.append(f"Record: {r.record_path}")
    return lines
