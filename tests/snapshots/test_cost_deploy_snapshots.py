"""Cost and Deploy screens at 80x24 and 120x40.

Deterministic: the priced variant carries fixed benchmark figures (recorded once, written into the
workspace by the test like a stored benchmark), so no timing enters the frame; the package is
byte-reproducible; the endpoint name is fixed. The response size is measured by running the model, and
the JSON digits of its float outputs differ between CPUs (AVX2 and AVX-512 kernels round differently):
it is pinned to what the recorded frames were made with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.app import make_app
from workbench.events import VariantSelected

SAMPLE = Path(__file__).resolve().parents[2] / "sample_models" / "digits_cnn.onnx"
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
METRICS = {"latency_ms": {"p50": 0.21, "p90": 0.25, "p95": 0.27, "p99": 0.35, "mean": 0.22},
           "latency_batch": 1, "throughput": {"batch": 32, "ips": 21500.0}, "threads": 2, "device": "cpu",
           "run_metrics": {"samples": 8, "cpu_mean": 55.0, "cores": 2}}

RESPONSE_BYTES = 229   # the digits CNN's JSON response as measured on the machine the frames were recorded on

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="sample_models/digits_cnn.onnx not built")


@pytest.fixture(autouse=True)
def same_response_size(monkeypatch):
    from engines.measure import figures

    measured = figures.payload_sizes

    def pinned(*args, **kwargs):
        sizes = measured(*args, **kwargs)
        if sizes.get("batch") == 1:
            sizes["response_bytes"] = RESPONSE_BYTES
        return sizes

    monkeypatch.setattr(figures, "payload_sizes", pinned)


async def seeded(pilot, area: str) -> None:
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    ws = app.session.workspace

    def build(folder):
        shutil.copy(SAMPLE, folder / "model.onnx")
        return {"file": "model.onnx", "format": "onnx", "metrics": dict(METRICS)}

    v = ws.create({"snapshot": "int8"}, build, name="int8 static", kind="quantized")
    app.session.selected_variant_id = v.id
    app.action_switch_area(area)
    await pilot.pause()
    app.screen.post_message(VariantSelected(v.id))
    await settle(pilot)


async def settle(pilot) -> None:
    """Workers done and the layout still: the scroll areas' content sizes unchanged over three pauses (the
    scrollbar thumb is drawn from them, so a late note would move it on a busy machine)."""
    last, still = None, 0
    for _ in range(80):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        sizes = tuple((w.id, w.virtual_size, w.size) for w in pilot.app.screen.query("VerticalScroll"))
        still = still + 1 if sizes == last else 0
        last = sizes
        if still >= 3:
            break
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_cost_screen(snap_compare, size):
    async def run_before(pilot) -> None:
        await seeded(pilot, "cost")
        for _ in range(100):
            if pilot.app.session.model_state.cost_report:
                break
            await pilot.pause(0.05)
        await settle(pilot)

    assert snap_compare(make_app(SAMPLE), terminal_size=size, run_before=run_before)


async def planned(pilot, mode: str = "serverless") -> None:
    await seeded(pilot, "deploy")
    screen = pilot.app.screen
    screen.query_one("#dp-mode").value = mode
    for key, value in (("role_arn", "arn:aws:iam::123456789012:role/WorkbenchSageMakerRole"),
                       ("bucket", "wb-models"), ("name", "wb-digits-int8")):
        screen.query_one(f"#dp-{key}").value = value
    await pilot.pause()
    screen.action_plan()
    for _ in range(200):
        if screen.state.get("prepared") is not None or "failed" in screen.state.get("result_text", ""):
            break
        await pilot.pause(0.05)
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_screen_with_plan(snap_compare, size):
    assert snap_compare(make_app(SAMPLE), terminal_size=size, run_before=planned)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_realtime_plan_with_autoscaling(snap_compare, size):
    """Real-time: the autoscaling fields, the target from measured throughput x margin, the right-size line."""
    async def run_before(pilot) -> None:
        await planned(pilot, "realtime")

    assert snap_compare(make_app(SAMPLE), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_confirm_dialog(snap_compare, size):
    """The confirmation over the plan: its buttons stay visible at 80x24 (the body scrolls)."""
    async def run_before(pilot) -> None:
        await planned(pilot, "realtime")
        pilot.app.screen.action_deploy()
        await settle(pilot)

    assert snap_compare(make_app(SAMPLE), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_result_view(snap_compare, size):
    """After a deploy: titled as a result, the endpoint, its status and what was created (a fixed result: the
    real deployment through moto is tested in tests/functional)."""
    from engines.deploy.sagemaker_ops import DeployResult
    from workbench.events import TaskDone

    async def run_before(pilot) -> None:
        await planned(pilot, "realtime")
        screen = pilot.app.screen
        res = DeployResult("wb-digits-int8", "realtime", "us-east-1", "InService",
                           ["s3://wb-models/workbench/wb-digits-int8/<id>/model.tar.gz", "model wb-digits-int8-model",
                            "endpoint config wb-digits-int8-config", "endpoint wb-digits-int8",
                            "scalable target endpoint/wb-digits-int8/variant/AllTraffic",
                            "scaling policy wb-digits-int8-invocations"],
                           3.2, "application/json", '{"logits": [[0.1, 0.9]]}')
        res.record_path = "~/.workbench/deployments/wb-digits-int8.json"
        screen.on_task_done(TaskDone("deploy", result=res))
        screen.query_one("#dp-plan").scroll_visible(animate=False)
        await settle(pilot)

    assert snap_compare(make_app(SAMPLE), terminal_size=size, run_before=run_before)
