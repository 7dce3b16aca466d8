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


def working_backends(report: BackendReport | None, model_format: str | None) -> list[str]:
    """The backends (with device) that build here for the open model, e.g. ``["ORT optimized (cpu)"]``."""
    from engines.registry import by_kind

    found = []
    for cap in by_kind("engine"):
        for device in cap.devices:
            if availability(report, cap.id, device, model_format)[0]:
                found.append(f"{cap.label} ({device})")
    return found


def cannot_build_text(report: BackendReport | None, backend: str, device: str, model_format: str | None) -> str:
    """One line for a refused build: why, and which engine builds here instead."""
    ok, text = availability(report, backend, device, model_format)
    lines = [line.strip(" •✗") for line in text.splitlines() if line.strip(" •✗")]
    why = lines[0].rstrip(":") + (": " + "; ".join(lines[1:]) if lines[1:] else "")
    if report is None or model_format is None:
        return why
    others = [b for b in working_backends(report, model_format) if not b.startswith(_label(backend))]
    return why.rstrip(".") + (f". Builds here instead: {', '.join(others)}." if others else ". No engine builds here.")


def _label(backend: str) -> str:
    from engines.registry import get

    return get("engine", backend).label


def _data_has_labels(session: Any) -> tuple[bool, str]:
    """Whether the data a build uses (the --data file, else the sample's own split) carries labels y."""
    from pathlib import Path

    ds = getattr(session, "dataset", None)
    if ds is not None:
        return ds.y is not None, f"{Path(ds.path).name if ds.path else 'the data file'} has no labels y"
    if session.model_path is None:
        return False, "no model open"
    from engines.optimize.context import default_data_for

    path = default_data_for(Path(session.model_path))
    if path is None:
        return False, "no labelled data: open the model with --data FILE.npz holding x and labels y"
    import numpy as np

    with np.load(path) as npz:
        return "y" in npz.files, f"{path.name} has no labels y"


def openvino_options(session: Any, source_is_baseline: bool, precision: str) -> dict[str, tuple[bool, str]]:
    """Which OpenVINO options can be offered now, each (on offer, why not): ``frontend`` (the PyTorch
    frontend, ``openvino.convert_model`` on the open model) and ``accuracy`` (NNCF accuracy-controlled INT8,
    the engine form of ``openvino-int8-acc``)."""
    from engines import formats

    info = session.model_info
    fmt = info.format if info is not None else None
    if not formats.is_torch(fmt):
        frontend = (False, f"the PyTorch frontend needs a PyTorch model; this one is {formats.label(fmt)}")
    elif not source_is_baseline:
        frontend = (False, "the PyTorch frontend converts the open model: choose the baseline as the source")
    else:
        frontend = (True, "")
    if precision != "int8":
        accuracy = (False, "accuracy control is for int8: choose precision int8")
    else:
        has, why = _data_has_labels(session)
        accuracy = (True, "") if has else (False, f"accuracy control needs labels: {why}")
    return {"frontend": frontend, "accuracy": accuracy}
