"""Presenter mode and --replay driven with Pilot, and their bad input on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from screens.widgets.replay_banner import ReplayBanner
from tests.replay_fixture import replay_workspace
from workbench.app import make_app
from workbench.nav import available_areas
from workbench.presenter import THEME_NAME, is_presenter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ONNX = ROOT / "sample_models" / "digits_cnn.onnx"


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


@pytest.mark.asyncio
async def test_presenter_theme_and_class():
    app = make_app(presenter=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.theme == THEME_NAME and is_presenter(app)
        assert app.replay is None and not app.screen.query(ReplayBanner)


@pytest.mark.asyncio
async def test_replay_shows_the_stored_variants_and_a_banner_on_every_area(tmp_path):
    ws = replay_workspace(tmp_path / "demo")
    app = make_app(SAMPLE_ONNX, replay=ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert not is_presenter(app)                       # --replay alone keeps the usual theme
        assert app.session.workspace.root == ws
        assert len([v for v in app.session.variants if v.status == "ok"]) == 6
        for area in available_areas():
            await pilot.press(area.key)
            await pilot.pause()
            banner = app.screen.query_one(ReplayBanner)
            assert "RECORDED · replay of demo: 6 variants measured 2026-12-01 10:02–10:07 UTC" in str(banner.content)
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        table = app.screen.query_one("#variants")
        assert {r["name"] for r in table.rows_data} >= {"baseline", "int8 static qdq u8/s8 pc minmax"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args, message", [
    (["--replay", "no/such/ws"], "no such workspace folder to replay: no/such/ws"),
    (["--replay", "ws", "--workspace", "other"], "--replay WORKSPACE opens that workspace"),
])
def test_replay_bad_input_is_one_line(args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    assert r.stderr.strip() == f"workbench: error: {message}" or (
        r.stderr.strip().startswith("workbench: error: ") and message in r.stderr), r.stderr


def test_replay_of_an_empty_folder(tmp_path):
    r = run_cli("--replay", str(tmp_path))
    assert r.returncode == 2 and "holds no variants to replay" in r.stderr and len(r.stderr.strip().splitlines()) == 1
