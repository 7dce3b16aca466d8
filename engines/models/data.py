"""User data for calibration and accuracy: an ``.npz`` with array ``x`` and optional labels ``y``.

``validate_data`` checks ``x`` against the model's first input and refuses a
mismatch with a message naming it; a lossless-enough float cast (float64 ->
float32) is applied with a note, anything else is refused.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engines.errors import DataError
from engines.models.model_info import ModelInfo, TensorSpec

# source dtype -> target dtypes it may be cast to without surprising the user
SAFE_CASTS: dict[str, set[str]] = {
    "float64": {"float32", "float16"},
    "float32": {"float16"},
    "float16": {"float32"},
    "int32": {"int64"},
    "int64": {"int32"},
    "uint8": {"float32"},
}


@dataclass
class Dataset:
    x: np.ndarray
    y: np.ndarray | None = None
    path: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def load_data(path: str | os.PathLike) -> Dataset:
    """Read ``x`` (and ``y`` if present) from an .npz file; pickled object arrays are refused."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"data file {p} does not exist: pass an .npz with array x (and optional y)")
    if p.suffix.lower() != ".npz":
        raise DataError(f"data file {p.name} is not .npz: save it with numpy.savez(path, x=..., y=...)")
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "x" not in keys:
                raise DataError(f"{p.name} has no array 'x' (found: {', '.join(sorted(keys)) or 'none'}): "
                                "save inputs as x and labels as y")
            x = npz["x"]
            y = npz["y"] if "y" in keys else None
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read {p.name} as .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): "
                        "the file is corrupt or holds object arrays") from exc
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"{p.name}: x is empty; it needs at least one sample along axis 0")
    if y is not None and (y.ndim == 0 or y.shape[0] != x.shape[0]):
        raise DataError(f"{p.name}: y has {y.shape[0] if y.ndim else 0} labels but x has {x.shape[0]} samples")
    return Dataset(x=x, y=y, path=str(p))


def _shape_text(shape: tuple) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def validate_data(dataset: Dataset, model_info: ModelInfo, input_index: int = 0) -> Dataset:
    """Check ``x`` against the model input; return the dataset (cast if needed) or raise DataError."""
    if not model_info.inputs:
        raise DataError(f"{model_info.name} declares no inputs to check the data against")
    spec: TensorSpec = model_info.inputs[input_index]
    x = dataset.x
    for name, arr in (("x", x), ("y", dataset.y)):
        if arr is not None and np.issubdtype(np.asarray(arr).dtype, np.floating):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            if bad:
                raise DataError(f"data array '{name}' holds {bad} NaN/Inf value(s): clean or drop those samples "
                                "before measuring with it")
    data_shape = ("N",) + tuple(x.shape[1:])
    expect = spec.shape_text().replace(" ", "")
    if spec.dtype == "unknown" or spec.shape == ("?",):
        dataset.notes.append(f"input '{spec.name}' has no recorded shape: data not checked")
        return dataset
    if x.ndim != len(spec.shape):
        raise DataError(f"data x has shape {_shape_text(data_shape)} but input '{spec.name}' expects {expect} "
                        f"(rank {x.ndim} vs {len(spec.shape)})")
    for axis, (have, want) in enumerate(zip(x.shape, spec.shape)):
        if axis == 0 or not isinstance(want, int) or want <= 0:
            continue
        if have != want:
            raise DataError(f"data x has shape {_shape_text(data_shape)} but input '{spec.name}' expects {expect} "
                            f"(axis {axis}: {have} vs {want})")
    if isinstance(spec.shape[0], int) and spec.shape[0] > 0 and x.shape[0] % spec.shape[0]:
        raise DataError(f"data x has {x.shape[0]} samples but input '{spec.name}' has a fixed batch of "
                        f"{spec.shape[0]}: use a multiple of it")
    have_dt, want_dt = str(x.dtype), spec.dtype
    if have_dt != want_dt:
        if want_dt not in SAFE_CASTS.get(have_dt, set()):
            raise DataError(f"data x has dtype {have_dt} but input '{spec.name}' expects {want_dt}: "
                            f"convert it with x.astype('{want_dt}') if that is what you mean")
        dataset.x = x.astype(want_dt)
        dataset.notes.append(f"data x converted from {have_dt} to {want_dt} to match input '{spec.name}'")
    return dataset
