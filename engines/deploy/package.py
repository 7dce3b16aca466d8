"""``model.tar.gz`` for SageMaker: the ONNX model, ``code/inference.py`` and ``code/requirements.txt``.

Layout (unpacked by SageMaker into ``/opt/ml/model``)::

    model.onnx               the variant (plus its external-data files, if any), or for an OpenVINO IR
                             model.xml + model.bin + model.openvino.json (its runtime settings)
    code/inference.py        engines/deploy/container_inference.py, verbatim (runs either)
    code/requirements.txt    onnxruntime (GPU build for GPU instances) or openvino, pinned to the tested version
    code/workbench.json      what was packaged: variant, hashes, inputs (no secrets)

The archive is written atomically; :func:`safe_extract` unpacks archives
refusing absolute paths, ``..``, links and device files.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.fsutil import atomic_path, sha256_file
from engines.tasks import TaskContext, ensure_task

INFERENCE_SOURCE = Path(__file__).resolve().parent / "container_inference.py"
MODEL_NAME = "model.onnx"
OPENVINO_MODEL = "model.xml"
OPENVINO_SETTINGS = "model.openvino.json"


@dataclass
class PackageInfo:
    path: Path
    size_bytes: int
    sha256: str
    members: list[str]
    requirements: list[str]
    model_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size_bytes": self.size_bytes, "sha256": self.sha256,
                "members": self.members, "requirements": self.requirements, "model_sha256": self.model_sha256}


def requirements(gpu: bool = False, runtime: str = "onnx") -> list[str]:
    if runtime == "openvino":   # the CPU plugin; the wheel's release number, not openvino.__version__'s build tag
        from importlib.metadata import PackageNotFoundError, version

        try:
            return [f"openvino=={version('openvino')}"]
        except PackageNotFoundError:
            return ["openvino"]
    try:
        import onnxruntime

        version = onnxruntime.__version__.split("+")[0]
    except ImportError:
        version = None
    name = "onnxruntime-gpu" if gpu else "onnxruntime"
    return [f"{name}=={version}" if version else name]


def _external_data(model_path: Path) -> list[str]:
    """Relative paths of the external-data files an ONNX model references."""
    try:
        import onnx
    except ImportError:
        return []
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:
        raise WorkbenchError(f"{model_path.name} is not a readable ONNX model: {exc}") from None
    files = set()
    for tensor in _tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            files.update(kv.value for kv in tensor.external_data if kv.key == "location")
    for f in files:
        p = Path(f)
        if p.is_absolute() or ".." in p.parts or not (model_path.parent / p).is_file():
            raise WorkbenchError(f"{model_path.name} references external data {f!r} outside its folder or missing")
    return sorted(files)


def _tensors(graph: Any) -> list[Any]:
    """Initializers and tensor attributes of a graph and its subgraphs."""
    out = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                out.append(attr.t)
            out += list(attr.tensors)
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                out += _tensors(sub)
    return out


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def build_package(model_path: str | os.PathLike, out_path: str | os.PathLike, *, gpu: bool = False,
                  variant: dict[str, Any] | None = None, task: TaskContext | None = None) -> PackageInfo:
    task = ensure_task(task)
    model_path = Path(model_path)
    openvino = model_path.suffix.lower() == ".xml"
    if not (model_path.suffix.lower() == ".onnx" or openvino) or not model_path.is_file():
        raise WorkbenchError(f"{model_path} is not an ONNX model file or OpenVINO IR: only ONNX variants and "
                             "OpenVINO IRs are packaged")
    task.report(0.05, "checking the model")
    if openvino:
        files = _openvino_files(model_path)
        name, extra, reqs = OPENVINO_MODEL, [arc for _, arc in files[1:]], requirements(runtime="openvino")
    else:
        extra = _external_data(model_path)
        files = [(model_path, MODEL_NAME), *((model_path.parent / f, f) for f in extra)]
        name, reqs = MODEL_NAME, requirements(gpu)
    model_sha = sha256_file(model_path)
    meta = {"model": name, "model_sha256": model_sha, "source": model_path.name, "external_data": extra,
            "requirements": reqs, "runtime": "openvino" if openvino else "onnxruntime", "variant": variant or {}}
    members = [name, *extra, "code/inference.py", "code/requirements.txt", "code/workbench.json"]
    with atomic_path(out_path, suffix=".tar.gz") as tmp:
        # mtime 0 everywhere: the same variant always gives the same bytes (and sha256)
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w") as tar:
            task.report(0.2, f"adding {model_path.name}")
            for src, arc in files:
                task.check()
                tar.add(src, arcname=arc, recursive=False, filter=_normalize)
            task.report(0.8, "adding code/inference.py")
            _add_bytes(tar, "code/inference.py", INFERENCE_SOURCE.read_bytes())
            _add_bytes(tar, "code/requirements.txt", ("\n".join(reqs) + "\n").encode())
            _add_bytes(tar, "code/workbench.json", json.dumps(meta, indent=1, default=str).encode())
        task.check()
    out = Path(out_path)
    task.report(1.0, f"packaged {out.name}")
    return PackageInfo(out, out.stat().st_size, sha256_file(out), members, reqs, model_sha)


def _openvino_files(xml: Path) -> list[tuple[Path, str]]:
    """(file, name in the archive) of an OpenVINO IR: the .xml, its .bin (required), its settings (if any)."""
    weights = xml.with_suffix(".bin")
    if not weights.is_file():
        raise WorkbenchError(f"{xml.name} has no weights file {weights.name} beside it: rebuild the OpenVINO engine")
    files = [(xml, OPENVINO_MODEL), (weights, "model.bin")]
    settings = xml.with_name(OPENVINO_SETTINGS)
    if settings.is_file():
        files.append((settings, OPENVINO_SETTINGS))
    return files


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    info.mtime = 0
    return info


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, max_bytes: int = 20 * 1024**3) -> list[str]:
    """Extract a tar archive into ``dest`` after checking every member; return the member names."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise WorkbenchError(f"{Path(archive).name} is not a readable tar archive: {exc}") from None
    with tar:
        members = tar.getmembers()
        total = 0
        for m in members:
            name = m.name
            target = (dest / name).resolve()
            if Path(name).is_absolute() or ".." in Path(name).parts or not target.is_relative_to(dest):
                raise WorkbenchError(f"refusing archive member {name!r}: it points outside the target folder")
            if not (m.isfile() or m.isdir()):
                raise WorkbenchError(f"refusing archive member {name!r}: links and special files are not allowed")
            total += m.size
            if total > max_bytes:
                raise WorkbenchError(f"archive expands beyond {max_bytes} bytes: refusing to unpack it")
        tar.extractall(dest, members=members, filter="data")
    return [m.name for m in members]
