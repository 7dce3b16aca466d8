"""The Deploy screen driven with Pilot: validation, plan preview, local check, confirm, deploy to moto, teardown."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from screens.deploy import ConfirmDialog, DeployScreen
from tests.functional.tiny_models import tiny_onnx
from tests.unit.deploy_helpers import BUCKET, FAKE_SECRET, ROLE, MotoServer, fake_credentials, leftovers, nothing_left
from workbench.app import make_app

pytestmark = pytest.mark.asyncio


async def wait_until(pilot, predicate, tries: int = 300) -> None:
    for _ in range(tries):
        await pilot.pause(0.05)
        if predicate():
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            return
    raise AssertionError(f"condition not reached; result: {pilot.app.screen.state.get('result_text')!r}")


async def open_deploy(pilot, **fields) -> DeployScreen:
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.action_switch_area("deploy")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, DeployScreen)
    for key, value in fields.items():
        widget = screen.query_one(f"#dp-{key}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            widget.value = value
    await pilot.pause()
    return screen


def result(screen: DeployScreen) -> str:
    return screen.state.get("result_text", "")


async def run_action(pilot, screen, button: str, until) -> None:
    await pilot.click(f"#dp-{button}-btn")
    await wait_until(pilot, until)


@pytest.fixture
def tiny(tmp_path):
    return tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


async def test_bad_inputs_refused_with_every_reason(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(pilot, role_arn="not-an-arn", bucket="Bad_Bucket", max_concurrency="500",
                                   provisioned="600", name="wb-ui")
        await run_action(pilot, screen, "plan", lambda: "failed" in result(screen))
        text = result(screen)
        for part in ("plan failed: cannot deploy", "max concurrency 500 is out of range 1-200",
                     "provisioned concurrency 600 is out of range", "IAM role ARN", "bucket name 'Bad_Bucket'"):
            assert part in text
        assert screen.state.get("prepared") is None
        screen.query_one("#dp-max_concurrency", Input).value = "five"
        await run_action(pilot, screen, "plan", lambda: "whole number" in result(screen))
        assert "max concurrency must be a whole number, not 'five'" in result(screen)


async def test_plan_preview_local_check_and_confirm_cancel(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(pilot, role_arn=ROLE, bucket=BUCKET, name="wb-ui", memory_mb="3072")
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        assert "Plan first" in result(screen)
        await run_action(pilot, screen, "plan", lambda: screen.state.get("prepared") is not None)
        plan = screen.state["plan_text"]
        assert "s3.upload_file(model.tar.gz" in plan and "ServerlessConfig={MemorySizeInMB=3072, MaxConcurrency=5}" in plan
        assert "sagemaker.create_endpoint(EndpointName='wb-ui'" in plan and "Estimated:" in plan
        assert "USD/month serverless 3072 MB" in plan
        await run_action(pilot, screen, "local", lambda: "Local check" in result(screen))
        assert "GET /ping 200, POST /invocations 200" in result(screen) and "'y': [1, 10]" in result(screen)
        cold = screen.query_one("#dp-cold")
        assert cold.display and "cold start (local, median of 3)" in str(cold.render())
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.click("#confirm-no")
        await pilot.pause()
        assert isinstance(app.screen, DeployScreen) and "nothing was created" in result(screen)
        # a changed form needs a new plan before deploying
        screen.query_one("#dp-bucket", Input).value = "another-bucket"
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        assert "Plan first" in result(screen)


async def test_deploy_to_moto_then_teardown(tiny, moto, monkeypatch):
    moto.reset()
    fake_credentials(monkeypatch)
    from engines.deploy.aws import make_clients

    clients = make_clients("us-east-1", moto.url)
    clients.s3.create_bucket(Bucket=BUCKET)
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(pilot, role_arn=ROLE, bucket=BUCKET, name="wb-ui-moto", endpoint_url=moto.url,
                                   mode="realtime")
        screen.state["form"] = None
        await run_action(pilot, screen, "plan", lambda: screen.state.get("prepared") is not None)
        assert "put_scaling_policy" in screen.state["plan_text"]
        screen.state["prepared"].plan.spec.poll_interval_s = 0.01
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await wait_until(pilot, lambda: "InService" in result(screen) or "failed" in result(screen))
        assert "Endpoint wb-ui-moto is InService (realtime, us-east-1)" in result(screen)
        assert clients.sagemaker.describe_endpoint(EndpointName="wb-ui-moto")["EndpointStatus"] == "InService"
        plan_box = screen.state["plan_text"]   # the box now shows what was deployed, not the dry-run title
        assert plan_box.startswith("Deployed: endpoint wb-ui-moto is InService") and "Plan (dry run" not in plan_box
        # watch it: CloudWatch data put through the real API shows up in the live view, with cost so far
        import datetime as dt

        from engines.deploy.monitor import cloudwatch_client

        cw = cloudwatch_client("us-east-1", moto.url)
        when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)
        dims = [{"Name": "EndpointName", "Value": "wb-ui-moto"}, {"Name": "VariantName", "Value": "AllTraffic"}]
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": when, "Value": 42, "Unit": "Count"}])
        view = screen.query_one("#dp-monitor")
        await pilot.press("w")
        await wait_until(pilot, lambda: "read at" in str(view.render()))
        shown = str(view.render())
        assert view.display and view.watching and "invocations 42" in shown and "wb-ui-moto" in shown, shown
        await pilot.press("w")
        assert not view.watching and "not watching" in str(view.border_title)
        await pilot.click("#dp-teardown-btn")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: "Teardown of" in result(screen))
        assert "removed scaling policy wb-ui-moto-invocations" in result(screen)
        assert screen.state["plan_text"].startswith("Torn down: endpoint wb-ui-moto")
        texts = [screen.state.get("plan_text", ""), result(screen)]
    assert nothing_left(clients), leftovers(clients)
    assert all(FAKE_SECRET not in t for t in texts)


async def test_deploy_without_credentials_says_so(tiny):
    app = make_app(tiny)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(pilot, role_arn=ROLE, bucket=BUCKET, name="wb-nocreds")
        await run_action(pilot, screen, "plan", lambda: screen.state.get("prepared") is not None)
        await pilot.click("#dp-deploy-btn")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: "failed" in result(screen))
        assert result(screen).startswith("deploy failed: no AWS credentials found")
