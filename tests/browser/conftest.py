"""Browser tests skip, saying why, where Debian's chromium, chromium-driver or selenium is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.page import Browser, WebServer, missing

ARTIFACTS = Path(os.environ.get("WORKBENCH_ARTIFACTS") or Path(__file__).parent / "artifacts")


def pytest_collection_modifyitems(config, items):
    reason = missing()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"browser tests need a headless browser: {reason}")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture
def web_server(_isolated_home):
    servers: list[WebServer] = []

    def start(*args: str) -> WebServer:
        server = WebServer(*args, env={"WORKBENCH_HOME": str(_isolated_home)})
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def keep(tmp_path):
    """Save a screenshot under the test's tmp dir and copy it to tests/browser/artifacts/ (or $WORKBENCH_ARTIFACTS)."""
    def save(b: Browser, name: str) -> Path:
        shot = b.screenshot(tmp_path / f"{name}.png")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, ARTIFACTS / shot.name)
        return ARTIFACTS / shot.name
    return save
