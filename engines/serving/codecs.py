"""Request and response bodies: JSON and NPY, checked against the model's inputs.

Anything a client can get wrong is raised as :class:`RequestError` with an
HTTP status and one line saying what is wrong: 400 for a body that cannot be
parsed, 415 for a content type we do not read, 406 for an ``Accept`` we cannot
write, 422 for well-formed data that does not fit the model (shape, dtype).

JSON bodies may be ``{"instances": [...]}``, ``{"inputs": [...]}``,
``{"inputs": {"name": [...], ...}}`` or a bare nested list; NPY bodies hold
one array for a single-input model. A single sample without the batch axis is
accepted and given one.
"""

from __future__ import annotations

import io
import json
from typing import Any, Sequence

import numpy as np

from engines.models.model_info import TensorSpec

JSON = "application/json"
NPY = "application/x-npy"
_NPY_ALIASES = {NPY, "application/npy", "application/x-numpy"}
ACCEPTED_TYPES = frozenset({JSON} | _NPY_ALIASES)


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple:   # crosses the decode process boundary
        return (RequestError, (self.status, self.message))


def media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def decode(body: bytes, content_type: str | None, inputs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Body -> feeds for ``runner.run``, validated against ``inputs``."""
    kind = media_type(content_type)
    if not body:
        raise RequestError(400, "empty request body: send a JSON or NPY tensor")
    if kind == JSON:
        arrays = _decode_json(body, inputs)
    elif kind in _NPY_ALIASES:
        arrays = _decode_npy(body, inputs)
    else:
        shown = kind or "none"
        raise RequestError(415, f"content type {shown} is not supported: use {JSON} or {NPY}")
    return validate(arrays, inputs)


def _decode_json(body: bytes, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise RequestError(400, "malformed JSON: nested too deeply (a tensor has a few levels)") from None
    if isinstance(doc, dict):
        for key in ("instances", "inputs", "data"):
            if key in doc:
                doc = doc[key]
                break
        else:
            names = {s.name for s in inputs}
            if not (set(doc) and set(doc) <= names):
                raise RequestError(400, 'JSON must be a list, or an object with "instances" or "inputs"')
    if isinstance(doc, dict):
        unknown = sorted(set(doc) - {s.name for s in inputs})
        if unknown:
            raise RequestError(422, f"unknown input(s) {', '.join(unknown)}; the model takes "
                                    f"{', '.join(s.name for s in inputs)}")
        return dict(doc)
    if len(inputs) != 1:
        raise RequestError(422, "this model has several inputs: send {\"inputs\": {name: array, ...}}")
    return {inputs[0].name: doc}


def _decode_npy(body: bytes, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
    if len(inputs) != 1:
        raise RequestError(422, "NPY carries one array but this model has several inputs: send JSON "
                                "{\"inputs\": {name: array, ...}}")
    arr = _npy_view(body)
    if arr is not None:
        return {inputs[0].name: arr}
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        first = (str(exc).splitlines() or ["unreadable"])[0]
        raise RequestError(400, f"malformed NPY body: {first}") from None
    except Exception as exc:  # truncated or garbage bytes
        raise RequestError(400, f"malformed NPY body: {type(exc).__name__}") from None
    if not isinstance(arr, np.ndarray):
        raise RequestError(400, "NPY body must hold one array (NPZ archives are not accepted)")
    return {inputs[0].name: arr}


def _npy_view(body: bytes | bytearray) -> np.ndarray | None:
    """A plain NPY body (C order, no objects, nothing after the data) as an array over the body's own bytes:
    no copy when the body is writable (a bytearray), one otherwise. None for anything else, which then goes
    through ``np.load`` (and its error messages)."""
    from numpy.lib import format as npy_format

    if not body.startswith(b"\x93NUMPY") or len(body) < 10:
        return None
    stream = io.BytesIO(body)
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
        else:
            return None
    except Exception:  # noqa: BLE001 - malformed: np.load says what is wrong
        return None
    count = int(np.prod(shape, dtype=np.int64))
    offset = stream.tell()
    if fortran or dtype.hasobject or dtype.itemsize == 0 or len(body) - offset != count * dtype.itemsize:
        return None
    arr = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape)
    return arr if arr.flags.writeable else arr.copy()


def _as_array(value: Any, spec: TensorSpec) -> np.ndarray:
    if isinstance(value, np.ndarray):
        arr = value
        want = np.dtype(spec.dtype if spec.dtype != "bfloat16" else "float32")
        if arr.dtype == want:
            return arr
        if arr.dtype.kind in "biuf" and np.can_cast(arr.dtype, want, "safe"):
            return arr.astype(want)
        raise RequestError(422, f"input {spec.name}: dtype {arr.dtype} given, the model wants {want.name}")
    try:
        arr = np.asarray(value)
    except RecursionError:
        raise RequestError(422, f"input {spec.name}: nested too deeply") from None
    except (ValueError, TypeError):
        raise RequestError(422, f"input {spec.name}: ragged nested lists; every row must have the same length") \
            from None
    if arr.dtype == object:
        raise RequestError(422, f"input {spec.name}: ragged or mixed-type nested lists")
    want = np.dtype(spec.dtype if spec.dtype != "bfloat16" else "float32")
    if arr.dtype.kind not in "biuf" or (want.kind in "iub" and arr.dtype.kind == "f"):
        raise RequestError(422, f"input {spec.name}: values of type {arr.dtype.name} cannot be {want.name}")
    if arr.dtype.kind in "iu" and want.kind in "iu":
        info = np.iinfo(want)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise RequestError(422, f"input {spec.name}: values out of range for {want.name}")
    return arr.astype(want)


def validate(arrays: dict[str, Any], inputs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    feeds: dict[str, np.ndarray] = {}
    rows = None
    for spec in inputs:
        if spec.name not in arrays:
            raise RequestError(422, f"missing input {spec.name}")
        arr = _as_array(arrays[spec.name], spec)
        rank = len(spec.shape)
        if rank and arr.ndim == rank - 1 and _dims_fit(arr.shape, spec.shape[1:]):
            arr = arr[None, ...]                                  # one sample, no batch axis
        if arr.ndim != rank or not _dims_fit(arr.shape, spec.shape):
            raise RequestError(422, f"input {spec.name}: shape {list(arr.shape)} given, the model wants "
                                    f"{spec.shape_text()} (first axis = batch)")
        if rank and arr.shape[0] == 0:
            raise RequestError(422, f"input {spec.name}: the batch is empty")
        if rank:
            if rows is not None and arr.shape[0] != rows:
                raise RequestError(422, "all inputs must have the same batch size")
            rows = arr.shape[0]
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise RequestError(422, f"input {spec.name}: contains NaN or infinity")
        feeds[spec.name] = np.ascontiguousarray(arr)
    return feeds


def _dims_fit(shape: Sequence[int], want: Sequence[Any]) -> bool:
    if len(shape) != len(want):
        return False
    return all(not isinstance(w, int) or w <= 0 or w == s for s, w in zip(shape, want))


def encode(outputs: Sequence[np.ndarray], names: Sequence[str], accept: str | None) -> tuple[bytes, str]:
    """Outputs -> (body, content type) following the ``Accept`` header (JSON by default)."""
    kinds = [media_type(a) for a in (accept or "").split(",") if a.strip()]
    if not kinds or any(k in (JSON, "*/*", "application/*") for k in kinds):
        if len(outputs) == 1:
            doc: dict[str, Any] = {"predictions": _json_values(outputs[0])}
        else:
            doc = {"outputs": {n: _json_values(o) for n, o in zip(names, outputs)}}
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode(), JSON
    if any(k in _NPY_ALIASES for k in kinds):
        if len(outputs) != 1:
            raise RequestError(406, "this model has several outputs: ask for application/json")
        buf = io.BytesIO()
        np.save(buf, np.asarray(outputs[0]), allow_pickle=False)
        return buf.getvalue(), NPY
    raise RequestError(406, f"cannot answer as {', '.join(kinds)}: accept {JSON} or {NPY}")


def _json_values(out: Any) -> Any:
    """Nested lists for JSON; NaN and infinities become null (JSON has no such numbers; NPY keeps them)."""
    arr = np.asarray(out)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        arr = np.where(np.isfinite(arr), arr, None)
    return arr.tolist()


def encode_npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()
