"""Engine builds: ONNX Runtime offline optimization, AOTInductor packages, TensorRT engines.

Entry point: :func:`engines.build.builder.build_engine` (a workspace variant in,
a measured engine variant out). The backends themselves are described in
:mod:`engines.registry` (kind ``engine``); :func:`backend_status` asks each
one's availability check, without building anything. Heavy frameworks are
imported inside the functions that need them.
"""

from __future__ import annotations

from typing import Any


def backend_status(facts: Any = None) -> dict[str, Any]:
    """``{key: Availability}`` for every engine backend on every device it supports ("ort", "ort-cuda", ...)."""
    from engines.registry import by_kind

    out: dict[str, Any] = {}
    for cap in by_kind("engine"):
        for device in cap.devices:
            key = cap.id if device == cap.devices[0] else f"{cap.id}-{device}"
            out[key] = cap.availability(device=device, facts=facts)
    return out
