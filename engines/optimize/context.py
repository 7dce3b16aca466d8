"""Everything one optimization session needs, resolved once: model, hashes, data, workspace.

:func:`open_context` checks the data against the model *before* any work
starts (a wrong shape or dtype is refused with a message naming it), finds
the sample's own data when none is given, falls back to random inputs (and
says so) when there is none, and checks that the workspace can be written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engines import formats as F
from engines.errors import DataError, WorkbenchError
from engines.fsutil import sha256_file
from engines.workspace import Workspace, default_home

RANDOM_SAMPLES = 64
TORCH_FORMATS = F.TORCH_FORMATS
KERAS_FORMATS = F.TF_FORMATS

# The bundled samples' held-out data, found next to the model when no --data is given.
SAMPLE_DATA = {"digits_cnn": "digits_test.npz", "digits_keras": "digits_test_nhwc.npz",
               "digits32_resnet": "digits32_test.npz"}
# ... and their training split, used for calibration and recovery fine-tuning (never for evaluation).
SAMPLE_TRAIN = {"digits_cnn": "digits_train.npz", "digits32_resnet": "digits32_train.npz"}

_hash_lock = threading.Lock()
_hash_cache: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    """SHA-256 of a file or folder, remembered per (path, size, mtime) so re-applies stay instant."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = sha256_file(path)
    with _hash_lock:
        _hash_cache[key] = digest
    return digest


def array_hash(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


@dataclass
class MeasureOptions:
    iterations: int = 200
    budget_s: float = 3.0
    warmup: int = 10
    throughput_batch: int = 32
    eval_batch: int = 64


@dataclass
class OptimizeContext:
    model_path: Path
    fmt: str                                  # format id (engines.formats)
    source_hash: str
    workspace: Workspace
    x: np.ndarray                             # evaluation/calibration inputs (first model input)
    y: np.ndarray | None                      # labels, when the data has them
    data_hash: str
    data_source: str                          # file path, "sample: ...", or "random"
    threads: int
    measure: MeasureOptions = field(default_factory=MeasureOptions)
    trust_pickle: bool = False
    notes: list[str] = field(default_factory=list)
    train_x: np.ndarray | None = None         # recovery fine-tuning data (defaults to x, y)
    train_y: np.ndarray | None = None
    info: Any = None                          # ModelInfo, inspected on demand (inputs at the resolved shapes)
    input_shapes: list[Any] = field(default_factory=list)  # --input-shape overrides (engines.models.shapes)
    _reference: np.ndarray | None = None      # baseline outputs on x
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def calib_x(self) -> np.ndarray:
        """Calibration inputs: the training split when there is one, else the evaluation data."""
        return self.train_x if self.train_x is not None else self.x

    @property
    def has_labels(self) -> bool:
        return self.y is not None

    def model_info(self) -> Any:
        if self.info is None:
            from engines.models.loader import inspect_model

            self.info = inspect_model(self.model_path, trust_pickle=self.trust_pickle)
        return self.info

    @property
    def input_specs(self) -> list[Any]:
        """The model's inputs with every non-batch dim concrete (from the data or --input-shape)."""
        return list(self.model_info().inputs)


def default_data_for(model_path: Path) -> Path | None:
    """The sample's held-out data, or ``<stem>.npz`` / ``<stem>_data.npz`` next to the model."""
    folder, stem = model_path.parent, model_path.stem
    for name in (SAMPLE_DATA.get(stem), f"{stem}.npz", f"{stem}_data.npz"):
        if name and (folder / name).is_file():
            return folder / name
    return None


def workspace_for(model_path: Path, digest: str, workspace: str | os.PathLike | Workspace | None) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    if workspace is not None:
        return Workspace(Path(workspace).expanduser())
    # same folder as Workspace.for_model, without hashing the model a second time
    return Workspace(default_home() / "workspaces" / f"{model_path.stem}-{digest[:10]}")


def check_writable(root: Path) -> None:
    """Refuse a read-only or unreachable workspace before any work starts."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise WorkbenchError(f"workspace {root} cannot be written ({exc.strerror or exc}): "
                             "free space, fix its permissions or pass --workspace DIR") from exc


def _random_inputs(info: Any, n: int) -> np.ndarray:
    from engines.measure.runners import example_feeds

    if not info.inputs:
        raise DataError(f"{info.name} declares no inputs: pass --data FILE.npz with array x")
    return example_feeds(info.inputs[:1], batch=n, seed=0)[info.inputs[0].name]


def open_context(model_path: str | os.PathLike, *, data: str | os.PathLike | Any | None = None,
                 train_data: str | os.PathLike | Any | None = None,
                 workspace: str | os.PathLike | Workspace | None = None, threads: int | None = None,
                 measure: MeasureOptions | None = None, trust_pickle: bool = False, info: Any = None,
                 use_sample_data: bool = True, input_shapes: Any = None) -> OptimizeContext:
    """Resolve the model, its data and input shapes (validated now) and its workspace (checked writable now).

    A refusal leaves no trace: a workspace folder this call created is removed again when it stays empty.
    """
    from engines.models.loader import detect_format
    from engines.models.shapes import parse_input_shapes
    from engines.measure.runners import default_threads

    path = Path(model_path).expanduser().resolve()
    fmt = detect_format(path)
    overrides = input_shapes if isinstance(input_shapes, list) and all(
        hasattr(o, "dims") for o in input_shapes) else parse_input_shapes(input_shapes)
    digest = cached_sha256(path)
    ws = workspace_for(path, digest, workspace)
    created = not ws.root.exists()
    try:
        check_writable(ws.root)
        return _fill_context(path, fmt, digest, ws, data, train_data, threads, measure, trust_pickle, info,
                             use_sample_data, overrides, default_threads)
    except BaseException:
        if created:
            _remove_if_empty(ws.root)
        raise


def _remove_if_empty(root: Path) -> None:
    try:
        root.rmdir()  # only an empty folder: never anything the tool did not create
    except OSError:
        pass


def _fill_context(path: Path, fmt: str, digest: str, ws: Workspace, data: Any, train_data: Any,
                  threads: int | None, measure: MeasureOptions | None, trust_pickle: bool, info: Any,
                  use_sample_data: bool, overrides: list[Any], default_threads: Any) -> OptimizeContext:
    from engines.models.shapes import info_at_shapes, require_concrete

    notes: list[str] = []
    ds, source = _resolve_data(path, data, use_sample_data, notes)
    ctx = OptimizeContext(model_path=path, fmt=fmt, source_hash=digest, workspace=ws, x=np.zeros(0), y=None,
                          data_hash="", data_source=source, threads=threads or default_threads(),
                          measure=measure or MeasureOptions(), trust_pickle=trust_pickle, notes=notes, info=info,
                          input_shapes=list(overrides))
    declared = ctx.model_info()
    ctx.info = info_at_shapes(declared, overrides, None if ds is None else ds.x, trust_pickle)
    require_concrete(ctx.info.inputs, ctx.info.name)
    if ds is None:
        model_info = ctx.model_info()
        ctx.x = _random_inputs(model_info, RANDOM_SAMPLES)
        notes.append(f"no data: calibration and fidelity use {RANDOM_SAMPLES} random inputs and accuracy is "
                     "unavailable; pass --data FILE.npz (x, y) for real figures")
    else:
        ds = _validated(ds, ctx.model_info())
        ctx.x, ctx.y = ds.x, ds.y
        notes.extend(ds.notes)
        if ds.y is None:
            notes.append("the data has no labels (y): accuracy is unavailable, so quality is fidelity to the "
                         "baseline (top-1 agreement)")
    if ctx.info is not declared:
        from engines.models.shapes import shapes_text

        notes.append(f"input shapes {shapes_text(ctx.info.inputs)} (from "
                     f"{'--input-shape' if overrides else 'the data'})")
    ctx.data_hash = array_hash(ctx.x, ctx.y)
    if train_data is None and source.startswith("sample:") and SAMPLE_TRAIN.get(path.stem):
        found = path.parent / SAMPLE_TRAIN[path.stem]
        if found.is_file():
            train_data = found
            notes.append(f"calibration and recovery use the sample's training split {found.name}")
    if train_data is not None:
        tds = _validated(_as_dataset(train_data), ctx.model_info())
        ctx.train_x, ctx.train_y = tds.x, tds.y
        ctx.data_hash = array_hash(ctx.x, ctx.y, tds.x, tds.y)
    return ctx


def _as_dataset(data: Any) -> Any:
    from engines.models.data import Dataset, load_data

    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_data(data)
    if isinstance(data, tuple):
        return Dataset(x=np.asarray(data[0]), y=None if len(data) < 2 or data[1] is None else np.asarray(data[1]))
    raise DataError(f"data must be an .npz path or (x, y) arrays, not {type(data).__name__}")


def _resolve_data(path: Path, data: Any, use_sample: bool, notes: list[str]) -> tuple[Any, str]:
    if data is not None:
        ds = _as_dataset(data)
        return ds, str(getattr(ds, "path", "") or "arrays")
    found = default_data_for(path) if use_sample else None
    if found is None:
        return None, "random"
    notes.append(f"using the sample's data {found.name}")
    return _as_dataset(found), f"sample: {found.name}"


def _validated(ds: Any, info: Any) -> Any:
    from engines.models.data import validate_data

    ds = validate_data(ds, info)
    if ds.y is not None and ds.y.ndim == 1 and not np.issubdtype(ds.y.dtype, np.integer):
        raise DataError(f"labels y have dtype {ds.y.dtype}: give integer class indices")
    outs = getattr(info, "outputs", None) or []
    classes = outs[0].shape[-1] if outs and outs[0].shape else None
    if ds.y is not None and ds.y.size and np.issubdtype(ds.y.dtype, np.integer) and isinstance(classes, int) \
            and classes > 1 and (int(ds.y.min()) < 0 or int(ds.y.max()) >= classes):
        raise DataError(f"labels y range {int(ds.y.min())}..{int(ds.y.max())} but the model's output "
                        f"'{outs[0].name}' has {classes} classes (0..{classes - 1}): check the labels match this model")
    return ds


def check_recipe_supported(ctx: OptimizeContext, recipe: Any) -> None:
    """Refuse, before any work, a recipe a Keras/SavedModel/TFLite model cannot take (one line naming what can).

    (Other formats record such a recipe as a failed variant, so the variants table shows why.)"""
    from engines.errors import UnsupportedError
    from engines.optimize.recipes import ORT_QUANT_MODES

    quant = getattr(recipe, "quant", "none")
    if quant.startswith("openvino-"):
        from engines.optimize.quantize_openvino import require_labels

        require_labels(ctx, quant)

    if quant == "int8-qat":  # QAT needs the PyTorch model and labels: refused before any work, with the way out
        from engines.optimize.qat_variant import check_qat

        check_qat(ctx, recipe)
    if getattr(recipe, "prunes", False) and recipe.prune_mode == "blocks" and ctx.fmt not in KERAS_FORMATS + \
            ("tflite",):  # layer/block removal: the module, a removable block and a possible count, checked now
        from engines.optimize.remove_blocks import check_blocks

        check_blocks(ctx, recipe)
    if quant in ORT_QUANT_MODES and ctx.fmt == "tflite":
        raise UnsupportedError(f"{quant} is an ONNX Runtime mode and this model is already TFLite: "
                               "open the Keras/SavedModel or ONNX source instead")
    if quant in ORT_QUANT_MODES and ctx.fmt in KERAS_FORMATS:
        from engines.models.export_keras import keras_onnx_status

        ok, why = keras_onnx_status()
        if not ok:
            raise UnsupportedError(f"{quant} is an ONNX Runtime mode and this model is {ctx.fmt}: {why}")
    if getattr(recipe, "prunes", False) and ctx.fmt in KERAS_FORMATS + ("tflite",):
        raise UnsupportedError("pruning works on PyTorch and ONNX models; Keras/TFLite models are optimized "
                               "through the TFLite converter or ONNX Runtime quantization (no pruning)")
