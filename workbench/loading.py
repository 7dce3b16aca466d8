"""Opening a model for the TUI: inspect it, open its workspace, find the device.

Runs inside a thread worker (see ``WorkbenchApp.open_model``), so it imports
the engines lazily and reports progress through ``task``. Bad input surfaces
as a one-line :class:`engines.errors.WorkbenchError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.formatting import REPO_ROOT

if TYPE_CHECKING:
    from engines.models.data import Dataset
    from engines.models.model_info import ModelInfo
    from engines.tasks import TaskContext
    from engines.workspace import Workspace

DEFAULT_MODEL = REPO_ROOT / "sample_models" / "digits_cnn.pt"

# extensions the open dialog offers (folders are always shown: a SavedModel is a folder)
MODEL_SUFFIXES = (".onnx", ".pt", ".pth", ".ts", ".pt2", ".keras", ".tflite")


@dataclass
class LoadedModel:
    path: Path
    info: "ModelInfo"
    workspace: "Workspace"
    device: str
    data: "Dataset | None" = None          # validated against the model's first input
    data_error: str | None = None          # why the --data file was not used (the model still opened)


def default_model_path() -> Path:
    return DEFAULT_MODEL


def load_model(path: str | os.PathLike, *, trust_pickle: bool = False,
               workspace_dir: str | os.PathLike | None = None, data_path: str | os.PathLike | None = None,
               task: "TaskContext | None" = None) -> LoadedModel:
    """Inspect ``path``, open its workspace (``workspace_dir`` or the model's default) and check
    ``data_path`` against its input (a mismatch is reported in ``data_error``, not raised)."""
    from engines.models.loader import inspect_model
    from engines.tasks import ensure_task
    from engines.workspace import Workspace

    task = ensure_task(task)
    p = Path(path).expanduser()
    task.report(0.05, f"reading {p.name}")
    info = inspect_model(p, trust_pickle=trust_pickle)
    task.report(0.8, "opening the workspace")
    workspace = Workspace(Path(workspace_dir).expanduser()) if workspace_dir else Workspace.for_model(info.path)
    data, data_error = None, None
    if data_path is not None:
        task.report(0.85, "checking the data file")
        data, data_error = check_data(data_path, info)
    task.report(0.95, "looking for an accelerator")
    device = detect_device()
    task.report(1.0, "ready")
    return LoadedModel(path=Path(info.path), info=info, workspace=workspace, device=device,
                       data=data, data_error=data_error)


def check_data(data_path: str | os.PathLike, info: "ModelInfo") -> tuple["Dataset | None", str | None]:
    from engines.models.data import load_data, validate_data
    from engines.errors import WorkbenchError

    try:
        return validate_data(load_data(data_path), info), None
    except WorkbenchError as exc:
        return None, str(exc)


def detect_device() -> str:
    """``"cuda:0 (<name>)"`` when NVML sees a GPU, else ``"cpu"`` (never raises)."""
    try:
        import pynvml  # nvidia-ml-py, the optional `gpu` extra
    except ImportError:
        return "cpu"
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: the normal case on a CPU machine
        return "cpu"
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return "cpu"
        name: Any = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        name = name.decode() if isinstance(name, bytes) else str(name)
        return f"cuda:0 ({name})"
    except Exception:
        return "cpu"
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
