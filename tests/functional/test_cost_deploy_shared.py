"""Cost and Deploy share the traffic inputs and the variant; Deploy's autoscaling min/max/target are validated
inline and used by the deployment (against moto's server)."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from screens.cost import CostScreen
from screens.deploy import DeployScreen
from tests.functional.test_cost_screen import open_cost, wait_until as wait_cost
from tests.functional.test_deploy_screen import open_deploy, result, run_action, wait_until
from tests.functional.tiny_models import tiny_onnx
from tests.unit.deploy_helpers import BUCKET, ROLE, MotoServer, fake_credentials, leftovers, nothing_left
from workbench.app import make_app

pytestmark = pytest.mark.asyncio


@pytest.fixture
def tiny(tmp_path):
    return tiny_onnx(tmp_path / "tiny.onnx")


async def test_traffic_changed_in_cost_shows_in_deploy_and_back(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        cost = await open_cost(pilot)
        cost.query_one("#cost-rps", Input).value = "12"
        cost.query_one("#cost-peak", Input).value = "120"
        cost.query_one("#cost-hours", Input).value = "8"
        cost.query_one("#cost-payload", Select).value = "application/x-npy"
        await pilot.pause()
        t = app.session.traffic
        assert (t.avg_rps, t.peak_rps, t.hours_per_day, t.content_type) == (12, 120, 8, "application/x-npy")
        deploy = await open_deploy(pilot)
        assert isinstance(deploy, DeployScreen)
        assert [deploy.query_one(f"#dp-{k}", Input).value for k in ("rps", "peak", "hours")] == ["12", "120", "8"]
        assert deploy.query_one("#dp-payload", Select).value == "application/x-npy"
        # the plan's estimate uses the shared traffic
        for key, value in (("role_arn", ROLE), ("bucket", BUCKET), ("name", "wb-shared")):
            deploy.query_one(f"#dp-{key}", Input).value = value
        await run_action(pilot, deploy, "plan", lambda: deploy.state.get("prepared") is not None)
        assert "at 12 req/s avg, 8 h/day" in deploy.state["plan_text"]
        assert deploy.state["prepared"].plan.spec.content_type == "application/x-npy"
        # changed here, it shows in Cost, which prices it again
        deploy.query_one("#dp-rps", Input).value = "3"
        await pilot.pause()
        app.action_switch_area("cost")
        await pilot.pause()
        assert isinstance(app.screen, CostScreen) and app.screen.query_one("#cost-rps", Input).value == "3"
        await wait_cost(pilot, lambda: app.session.model_state.cost_report["profile"]["avg_rps"] == 3)
        # the current variant is one for both areas: the picker on each shows the session's variant
        assert app.screen.query_one("VariantPicker").variant_id == deploy.query_one("VariantPicker").variant_id


async def test_autoscaling_fields_validated_inline(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(pilot, mode="realtime")
        await pilot.pause()
        errors = screen.query_one("#dp-errors")
        low = screen.query_one("#dp-min_capacity", Input)
        low.focus()
        low.value = ""
        await pilot.press("x", "3")            # letters are refused while typing
        assert low.value == "3"
        screen.query_one("#dp-max_capacity", Input).value = "2"
        await pilot.pause()
        assert "autoscaling min 3 is above max 2" in str(errors.render()) and errors.display
        screen.query_one("#dp-max_capacity", Input).value = "5"
        screen.query_one("#dp-initial_count", Input).value = "1"
        await pilot.pause()
        assert "count 1 is outside autoscaling min-max 3-5" in str(errors.render())
        screen.query_one("#dp-initial_count", Input).value = "3"
        screen.query_one("#dp-target_safety", Input).value = "1.5"
        await pilot.pause()
        assert "margin must be at most 1" in str(errors.render())
        await pilot.click("#dp-plan-btn")
        await pilot.pause()
        assert "Fix the form first: margin must be at most 1" in result(screen)
        screen.query_one("#dp-target_safety", Input).value = "0.5"
        await pilot.pause()
        assert not screen.check_fields()


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


async def test_deploy_uses_min_max_and_the_target_override(tiny, moto, monkeypatch):
    moto.reset()
    fake_credentials(monkeypatch)
    from engines.deploy.aws import make_clients

    clients = make_clients("us-east-1", moto.url)
    clients.s3.create_bucket(Bucket=BUCKET)
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(pilot, role_arn=ROLE, bucket=BUCKET, name="wb-scale", endpoint_url=moto.url,
                                   mode="realtime", min_capacity="2", max_capacity="6", initial_count="2")
        await run_action(pilot, screen, "plan", lambda: screen.state.get("prepared") is not None)
        plan = screen.state["plan_text"]
        assert "Autoscaling target" in plan and "req/s measured" in plan and "x 60 x 0.7 margin" in plan
        assert screen.state["prepared"].plan.autoscaling["value"] > 0
        screen.query_one("#dp-target_invocations", Input).value = "750"
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        assert "Plan first" in result(screen)             # the override changed the form: plan again
        await run_action(pilot, screen, "plan", lambda: "750 inv/min/instance (yours" in
                         screen.state.get("plan_text", ""))
        assert "measured would be " in screen.state["plan_text"]   # a plain file is benchmarked again: no fixed number
        screen.state["prepared"].plan.spec.poll_interval_s = 0.01
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await wait_until(pilot, lambda: "InService" in result(screen) or "failed" in result(screen))
        assert screen.query_one("#dp-plan").border_title == "Result: deployed, InService"
        shown = screen.state["plan_text"]
        assert shown.startswith("Deployed: endpoint wb-scale is InService") and "Created:" in shown
        assert "  endpoint wb-scale" in shown and "Plan (dry run" not in shown
        targets = clients.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(2, 6)]
        pol = clients.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
        assert pol["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 750.0
        await pilot.click("#dp-teardown-btn")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: "Teardown of" in result(screen))
    assert nothing_left(clients), leftovers(clients)


async def test_cost_prices_the_sessions_server_run_beside_the_model_figure(tiny):
    from tests.functional.test_cost_screen import rows

    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        cost = await open_cost(pilot)
        assert [r[2] for r in rows(cost)] == ["measured", "measured"]      # host row + serverless
        level = {"level": 8, "ok": 400, "throughput_rps": 900.0, "rows_per_request": 1, "errors": {},
                 "latency_ms": {"p50": 8.0, "p99": 20.0}}
        app.session.model_state.batching_comparison = {"model": str(cost._target.path), "threads": 2,
                                                       "on": [level], "off": [dict(level, throughput_rps=400.0)]}
        await pilot.click("#cost-go")
        await wait_cost(pilot, lambda: app.session.model_state.cost_report.get("served"))
        labels = [(r[0], r[2]) for r in rows(cost)]
        assert labels[:3] == [("c7i.xlarge", "measured"), ("c7i.xlarge", "served"), ("c7i.xlarge", "served")]
        report = app.session.model_state.cost_report
        assert {r["ips"] for r in report["instances"] if r["basis"] == "served"} == {900.0, 400.0}
        # the break-even is drawn for what the server reached (batching off first: the smaller rate)
        assert report["break_even"]["instance"][0] in {r["monthly_always_on"] for r in report["instances"]
                                                       if r["basis"] == "served"}
