"""Snapshot determinism: the header's device is pinned so a GPU machine renders the same frame."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cpu_device_in_header(monkeypatch):
    monkeypatch.setattr("workbench.loading.detect_device", lambda: "cpu")
