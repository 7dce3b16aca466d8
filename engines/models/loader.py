"""Open any supported model: detect its format, dispatch to the right inspector.

``inspect_model(path)`` returns a :class:`ModelInfo` or raises a one-line
:class:`ModelLoadError`. Heavy frameworks are imported only by the inspector
for the detected format (ONNX inspection never imports onnxruntime; nothing
imports tensorflow unless the file is Keras, SavedModel or TFLite).
"""

from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path

from engines import formats as F
from engines.errors import ModelLoadError, WorkbenchError, first_line
from engines.models.model_info import ModelInfo

SUFFIX_FORMATS: dict[str, str] = F.SUFFIX_FORMATS

# format -> "module:function(path, trust_pickle=...) -> ModelInfo"
INSPECTORS: dict[str, str] = {
    F.ONNX: "engines.models.inspect_onnx:inspect_onnx",
    F.TORCHSCRIPT: "engines.models.inspect_torch:inspect_torch",
    F.TORCH_PICKLE: "engines.models.inspect_torch:inspect_torch",
    F.TORCH_EXPORT: "engines.models.inspect_torch:inspect_torch_export",
    F.KERAS: "engines.models.inspect_keras:inspect_keras",
    F.SAVEDMODEL: "engines.models.inspect_keras:inspect_savedmodel",
    F.TFLITE: "engines.models.inspect_tflite:inspect_tflite",
}
_TORCH_KINDS = {"torchscript": F.TORCHSCRIPT, "torch_export": F.TORCH_EXPORT, "torch_save": F.TORCH_PICKLE,
                "legacy_pickle": F.TORCH_PICKLE}

SUPPORTED_TEXT = ".onnx, .pt/.pth (TorchScript), .pt2 (torch.export), .keras, a SavedModel folder, .tflite"


def detect_format(path: str | os.PathLike) -> str:
    """The format id of ``path`` (:mod:`engines.formats`: "onnx", "torchscript", ...), or a one-line error."""
    p = Path(path).expanduser()
    try:
        exists = p.exists()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ModelLoadError(f"cannot open {_short_path(p)}: {exc.strerror or exc}") from exc
    if not exists:
        raise ModelLoadError(f"{_short_path(p)} does not exist: check the path (supported: {SUPPORTED_TEXT})")
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise ModelLoadError(f"{p} is a folder but not a TensorFlow SavedModel (no saved_model.pb): "
                             f"open a model file instead ({SUPPORTED_TEXT})")
    if not p.is_file():
        raise ModelLoadError(f"{p} is not a regular file")
    fmt = SUFFIX_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ModelLoadError(f"{p.name}: unknown model extension {p.suffix or '(none)'!r}; "
                             f"supported: {SUPPORTED_TEXT}")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"{p.name} is empty (0 bytes): the file is truncated or was never written")
    if fmt == F.KERAS and not zipfile.is_zipfile(p):
        raise ModelLoadError(f"{p.name} is not a Keras v3 archive (.keras files are zip archives): "
                             "the file is corrupt or not a Keras model")
    if fmt == F.TORCHSCRIPT:  # .pt may hold TorchScript, a torch.export program or a pickle: look inside
        from engines.models.torch_load import torch_file_kind

        fmt = _TORCH_KINDS[torch_file_kind(p.resolve())]
    return fmt


def inspect_model(path: str | os.PathLike, *, trust_pickle: bool = False) -> ModelInfo:
    """Inspect a model file or folder; raise :class:`ModelLoadError` with one line on bad input."""
    p = Path(path).expanduser()
    fmt = detect_format(p)
    module_name, func_name = INSPECTORS[fmt].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"cannot inspect {p.name}: the {fmt} support is not installed ({exc.name}); "
                             "install the workbench extras (pip install -e '.[tf]')") from exc
    func = getattr(module, func_name)
    try:
        return func(p.resolve(), trust_pickle=trust_pickle)
    except WorkbenchError:
        raise
    except MemoryError as exc:
        raise ModelLoadError(f"{p.name}: out of memory while reading the model") from exc
    except Exception as exc:  # a framework's own error on a bad file: one line for the user
        raise ModelLoadError(f"cannot read {p.name} as {fmt}: {first_line(exc)}") from exc


def _short_path(p: Path, limit: int = 100) -> str:
    text = str(p)
    return text if len(text) <= limit else f"{text[:60]}…{text[-30:]} ({len(text):,} characters)"
