"""Snapshot determinism: the header's device and the detected CPU are pinned, so any machine renders the same
frame (the CPU is named in Optimize's note, Cost's pricing basis and the labs)."""

from __future__ import annotations

import pytest

from engines.measure.cpu_features import parse_cpuinfo

PINNED_CPU = parse_cpuinfo("processor : 0\nmodel name : Example Xeon\nflags : avx2 fma avx512f avx512_vnni\n"
                           "processor : 1\nmodel name : Example Xeon\nflags : avx2 fma avx512f avx512_vnni\n",
                           arch="x86_64")


@pytest.fixture(autouse=True)
def _cpu_device_in_header(monkeypatch):
    monkeypatch.setattr("workbench.loading.detect_device", lambda: "cpu")


@pytest.fixture(autouse=True)
def pinned_cpu(monkeypatch):
    monkeypatch.setattr("engines.measure.cpu_features.cpu_features", lambda: PINNED_CPU)
