"""Engine area wiring: choices from the capability registry, availability, builds, result cards."""

from __future__ import annotations

from typing import Any

from workbench.wiring.results import BackendReport, EngineBuilt


def backend_choices() -> list[tuple[str, str]]:
    from engines.registry import by_kind

    return [(c.label, c.id) for c in by_kind("engine")]


def precision_choices() -> list[tuple[str, str]]:
    from engines.registry import by_kind

    seen = dict.fromkeys(p for c in by_kind("engine") for p in c.precisions)
    return [(p, p) for p in seen]


def device_choices() -> list[tuple[str, str]]:
    from engines.registry import by_kind

    seen = dict.fromkeys(d for c in by_kind("engine") for d in c.devices)
    return [(d, d) for d in seen]


def probe_backends(task: Any = None) -> BackendReport:
    """What each backend needs and whether this machine has it (run in a worker: it imports torch)."""
    from engines.build import backend_status

    return BackendReport(backend_status())


def failed_probe(error: str) -> BackendReport:
    from engines.registry import Availability, by_kind

    status = {}
    for cap in by_kind("engine"):
        for device in cap.devices:
            key = cap.id if device == cap.devices[0] else f"{cap.id}-{device}"
            status[key] = Availability(False, f"check failed: {error}", (error,))
    return BackendReport(status)


def availability(report: BackendReport | None, backend: str, device: str,
                 model_format: str | None) -> tuple[bool, str]:
    """(can build, one paragraph saying so or exactly what is missing and how to install it)."""
    from engines import formats
    from engines.registry import get

    if report is None:
        return False, "Checking what this machine offers…"
    if model_format is None:
        return False, "No model open: press o to open one."
    cap = get("engine", backend)
    if backend == "aoti" and not cap.takes(model_format):
        return False, (f"✗ {cap.label} compiles PyTorch models and the open model is "
                       f"{formats.label(model_format)}: open its .pt/.pt2 file, or choose ORT optimized.")
    if device not in cap.devices:
        device = cap.devices[0]
    key = cap.id if device == cap.devices[0] else f"{cap.id}-{device}"
    avail = report.status.get(key)
    if avail is None:
        return False, f"✗ {cap.label} status unknown"
    if not avail.ok and backend == "tensorrt":
        return False, "✗ TensorRT cannot be used here:\n" + "\n".join(f"  • {m}" for m in avail.missing)
    return avail.ok, avail.text()


def build_options(**kw: Any) -> Any:
    from engines.build.builder import BuildOptions

    return BuildOptions(**kw)


def build(model_path: Any, backend: str, precision: str, *, task: Any = None, **kw: Any) -> EngineBuilt:
    from engines.build.builder import build_for_model, describe

    variant = build_for_model(model_path, backend, precision, task=task, **kw)
    return EngineBuilt(variant, describe(variant))
