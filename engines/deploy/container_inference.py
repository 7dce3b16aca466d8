"""SageMaker inference handlers for an ONNX model on ONNX Runtime, or an OpenVINO IR on OpenVINO's CPU plugin.

This file is copied verbatim into ``model.tar.gz`` as ``code/inference.py``.
The SageMaker framework containers (PyTorch layout) call, in order:
``model_fn(model_dir)`` once, then per request ``input_fn(body, content_type)``,
``predict_fn(data, model)`` and ``output_fn(prediction, accept)``. It depends
only on numpy and onnxruntime or openvino (listed in ``code/requirements.txt``)
and the standard library, so the exact same file runs in ``workbench deploy --local``.
A package holding ``model.xml`` (an OpenVINO IR) is compiled with the settings
it was built with (``model.openvino.json``: performance hint, streams, inference
precision); ``WB_OV_THREADS`` / ``WB_OV_HINT`` / ``WB_OV_STREAMS`` override them.

Requests: ``application/json`` (``{"inputs": [[...]]}``, ``{"inputs": {"name": [...]}}``
or a bare nested list), ``application/x-npy`` (one array) or
``application/x-npz`` (one array per input name). Responses: JSON
``{"outputs": {"name": [...]}}``, NPY (single output) or NPZ.
"""

from __future__ import annotations

import io
import json
import os
import threading

import numpy as np

JSON = "application/json"
NPY = "application/x-npy"
NPZ = "application/x-npz"
MAX_BODY_BYTES = 6 * 1024 * 1024
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool", "tensor(int16)": "int16",
}


class RequestError(ValueError):
    """The request does not fit the model (answered with a 4xx by the local server)."""


class LoadedModel:
    def __init__(self, session, path):
        self.session = session
        self.path = path
        self.inputs = [(i.name, list(i.shape), _ORT_TYPES.get(i.type, "float32")) for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]


class OpenVinoSession:
    """An OpenVINO compiled model behind the two calls the handlers make of an ONNX Runtime session."""

    def __init__(self, path):
        import openvino as ov

        settings = {}
        settings_path = os.path.join(os.path.dirname(path), "model.openvino.json")
        if os.path.isfile(settings_path):
            with open(settings_path, encoding="utf-8") as f:
                settings = json.load(f) or {}
        hint = os.environ.get("WB_OV_HINT") or settings.get("hint") or "latency"
        config = {"PERFORMANCE_HINT": str(hint).upper()}
        threads = int(os.environ.get("WB_OV_THREADS", "0") or 0)
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = str(threads)
        streams = os.environ.get("WB_OV_STREAMS") or settings.get("streams")
        if streams:
            config["NUM_STREAMS"] = str(streams)
        if settings.get("inference_precision"):
            config["INFERENCE_PRECISION_HINT"] = str(settings["inference_precision"])
        self.compiled = ov.Core().compile_model(path, "CPU", config)
        self._local = threading.local()
        self._ports = {}
        for port in self.compiled.outputs:
            for name in sorted(port.get_names()) or [f"output{len(self._ports)}"]:
                self._ports.setdefault(name, port)

    def model_inputs(self):
        out = []
        for port in self.compiled.inputs:
            ps = port.get_partial_shape()
            shape = [d.get_length() if d.is_static else None for d in ps] if ps.rank.is_static else [None]
            try:
                dtype = np.dtype(port.get_element_type().to_dtype()).name
            except Exception:
                dtype = "float32"
            out.append((port.get_any_name(), shape, dtype))
        return out

    def output_names(self):
        return [port.get_any_name() for port in self.compiled.outputs]

    def run(self, names, feeds):
        req = getattr(self._local, "req", None)
        if req is None:   # an infer request serves one thread at a time
            req = self._local.req = self.compiled.create_infer_request()
        res = req.infer(feeds)
        return [np.asarray(res[self._ports[n]]) for n in names]


class LoadedOpenVino(LoadedModel):
    def __init__(self, session, path):
        self.session = session
        self.path = path
        self.inputs = session.model_inputs()
        self.output_names = session.output_names()


def _find_model(model_dir):
    preferred = os.path.join(model_dir, "model.onnx")
    if os.path.isfile(preferred):
        return preferred
    found = sorted(f for f in os.listdir(model_dir) if f.endswith(".onnx"))
    if len(found) != 1:
        raise RuntimeError(f"expected one .onnx file in {model_dir}, found {len(found)}")
    return os.path.join(model_dir, found[0])


def model_fn(model_dir, context=None):
    ir = os.path.join(model_dir, "model.xml")
    if os.path.isfile(ir):   # an OpenVINO IR package
        return LoadedOpenVino(OpenVinoSession(ir), ir)
    import onnxruntime as ort

    path = _find_model(model_dir)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    threads = int(os.environ.get("WB_ORT_THREADS", "0") or 0)
    if threads > 0:
        options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    if os.environ.get("WB_ORT_DEVICE", "auto") != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return LoadedModel(ort.InferenceSession(path, options, providers=providers), path)


def _media_type(content_type):
    return (content_type or JSON).split(";")[0].strip().lower()


def _as_bytes(body):
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    raise RequestError(f"unsupported body type {type(body).__name__}")


def _load_numpy(raw, kind):
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:
        raise RequestError(f"body is not a valid {kind.split('/')[-1]} file: {exc}") from None
    if kind == NPZ:
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise RequestError("application/x-npz body must be an .npz archive")
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    if not isinstance(loaded, np.ndarray):
        raise RequestError("application/x-npy body must hold a single array")
    return loaded


def input_fn(request_body, request_content_type=JSON):
    """Decode the body into a dict name -> array, or one array for the first input."""
    raw = _as_bytes(request_body)
    if not raw:
        raise RequestError("empty request body: send a JSON array or an NPY file")
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    kind = _media_type(request_content_type)
    if kind == JSON:
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise RequestError(f"body is not valid JSON: {exc}") from None
        data = doc.get("inputs") if isinstance(doc, dict) else doc
        if data is None:
            raise RequestError('JSON body must be a nested list or {"inputs": ...}')
        if isinstance(data, dict):
            return {str(k): _to_array(v) for k, v in data.items()}
        return _to_array(data)
    if kind in (NPY, NPZ):
        return _load_numpy(raw, kind)
    raise RequestError(f"unsupported content type {kind!r}: use {JSON}, {NPY} or {NPZ}")


def _to_array(value):
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise RequestError(f"inputs are not a rectangular array: {exc}") from None
    if arr.dtype == object:
        raise RequestError("inputs are not a rectangular numeric array")
    return arr


def _fit(arr, name, shape, dtype):
    if arr.dtype.kind not in "biuf":
        raise RequestError(f"input {name!r} must be numeric, got dtype {arr.dtype}")
    want = np.dtype(dtype)
    if arr.dtype != want:
        if arr.dtype.kind == "f" and want.kind in "iub":
            raise RequestError(f"input {name!r} expects {want}, got {arr.dtype}")
        arr = arr.astype(want)
    if arr.ndim == len(shape) - 1 and not (isinstance(shape[0], int) and shape[0] > 1):
        arr = arr[None, ...]  # a single sample sent without its batch dimension
    if arr.ndim != len(shape) or any(isinstance(d, int) and d > 0 and d != a for d, a in zip(shape, arr.shape)):
        want_text = "[" + ", ".join(str(d) for d in shape) + "]"
        raise RequestError(f"input {name!r} expects shape {want_text}, got {list(arr.shape)}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise RequestError(f"input {name!r} holds NaN or infinite values")
    return np.ascontiguousarray(arr)


def predict_fn(input_data, model):
    feeds = {}
    if isinstance(input_data, dict):
        for name, shape, dtype in model.inputs:
            if name not in input_data:
                raise RequestError(f"missing input {name!r}; the model takes {[n for n, _, _ in model.inputs]}")
            feeds[name] = _fit(input_data[name], name, shape, dtype)
    else:
        if len(model.inputs) != 1:
            raise RequestError(f"the model takes {len(model.inputs)} inputs: send a JSON object or NPZ by name")
        name, shape, dtype = model.inputs[0]
        feeds[name] = _fit(np.asarray(input_data), name, shape, dtype)
    outputs = model.session.run(model.output_names, feeds)
    return dict(zip(model.output_names, outputs))


def output_fn(prediction, accept=JSON):
    kind = _media_type(accept)
    if kind in ("*/*", ""):
        kind = JSON
    if kind == JSON:
        return json.dumps({"outputs": {k: np.asarray(v).tolist() for k, v in prediction.items()}})
    buf = io.BytesIO()
    if kind == NPY:
        if len(prediction) != 1:
            raise RequestError(f"the model has {len(prediction)} outputs: accept {NPZ} or {JSON}")
        np.save(buf, np.asarray(next(iter(prediction.values()))), allow_pickle=False)
        return buf.getvalue()
    if kind == NPZ:
        np.savez(buf, **{k: np.asarray(v) for k, v in prediction.items()})
        return buf.getvalue()
    raise RequestError(f"unsupported accept type {kind!r}: use {JSON}, {NPY} or {NPZ}")


def encode_request(feeds, content_type=JSON):
    """Client side: the body for ``feeds`` (name -> array) in ``content_type``."""
    kind = _media_type(content_type)
    if kind == JSON:
        if len(feeds) == 1:
            return json.dumps({"inputs": np.asarray(next(iter(feeds.values()))).tolist()}).encode()
        return json.dumps({"inputs": {k: np.asarray(v).tolist() for k, v in feeds.items()}}).encode()
    buf = io.BytesIO()
    if kind == NPY and len(feeds) == 1:
        np.save(buf, np.asarray(next(iter(feeds.values()))), allow_pickle=False)
    elif kind in (NPY, NPZ):
        np.savez(buf, **{k: np.asarray(v) for k, v in feeds.items()})
    else:
        raise RequestError(f"unsupported content type {kind!r}")
    return buf.getvalue()
