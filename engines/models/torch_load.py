"""Read PyTorch files safely: TorchScript, torch.export (.pt2), and what torch.save wrote.

* TorchScript archives load with ``torch.jit.load``; when the file records a
  ``workbench_arch`` from :mod:`engines.models.zoo`, the real ``nn.Module`` is rebuilt
  and its weights restored, so structured pruning can work on it.
* Files written by ``torch.save`` are read only with ``weights_only=True``. A
  bare state_dict is refused with a message that it needs an architecture; a
  pickled full module is refused unless ``trust_pickle`` (unpickling it runs
  code from the file).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

from engines.errors import ModelLoadError

ARCH_KEY = "workbench_arch"
CONFIG_KEY = "workbench_config"
INPUTS_KEY = "workbench_inputs"

PICKLE_REFUSED = ("{name} is a pickled full PyTorch module: loading it runs arbitrary code from the file, "
                  "so it is refused; pass --trust-pickle only if you trust its source, or re-save it as "
                  "TorchScript (torch.jit.save), torch.export (.pt2) or ONNX")


def torch_file_kind(path: Path) -> str:
    """"torchscript", "torch_export", "torch_save" (zip written by torch.save) or "legacy_pickle"."""
    if zipfile.is_zipfile(path):
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelLoadError(f"{path.name} is a corrupt zip archive, not a readable PyTorch file") from exc
        tails = {n.split("/", 1)[-1] for n in names}
        if "constants.pkl" in tails or any(t.startswith("code/") for t in tails):
            return "torchscript"
        if "archive_format" in tails or any(t.startswith("models/") for t in tails):
            return "torch_export"
        if "data.pkl" in tails:
            return "torch_save"
        raise ModelLoadError(f"{path.name} is a zip archive but not a PyTorch model (no TorchScript code, "
                             "torch.export program or torch.save data)")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "legacy_pickle"
    raise ModelLoadError(f"{path.name} is not a PyTorch file (neither a TorchScript/torch.save zip archive "
                         "nor a legacy pickle): the file is corrupt or has the wrong extension")


@contextlib.contextmanager
def _no_jit_deprecation() -> Iterator[None]:
    """TorchScript is deprecated in torch 2.13 but it is the format users hand us: keep output clean."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
        yield


def read_extra(path: Path) -> dict[str, Any]:
    """Workbench metadata stored in a TorchScript archive (arch, config, input specs)."""
    import torch

    extra = {ARCH_KEY: "", CONFIG_KEY: "", INPUTS_KEY: ""}
    with _no_jit_deprecation():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    meta: dict[str, Any] = {"module": module, "arch": None, "config": {}, "inputs": None}
    if extra[ARCH_KEY]:
        meta["arch"] = _text(extra[ARCH_KEY])
    if extra[CONFIG_KEY]:
        meta["config"] = json.loads(_text(extra[CONFIG_KEY]))
    if extra[INPUTS_KEY]:
        meta["inputs"] = json.loads(_text(extra[INPUTS_KEY]))
    return meta


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else str(v)


def save_torchscript(module: Any, path: str | os.PathLike, example_inputs: tuple, arch: str | None = None,
                     config: dict[str, Any] | None = None, input_specs: list | None = None) -> None:
    """Trace ``module`` and save it with the workbench metadata (atomic write)."""
    import torch

    extra = {}
    if arch:
        extra[ARCH_KEY] = arch
        extra[CONFIG_KEY] = json.dumps(config or {})
    if input_specs:
        extra[INPUTS_KEY] = json.dumps([{"name": s.name, "shape": list(s.shape), "dtype": s.dtype}
                                        for s in input_specs])
    module = module.eval()
    with torch.no_grad(), _no_jit_deprecation():
        traced = torch.jit.trace(module, example_inputs)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the archive's inner folder is named after the file: write under the final name in a temp folder
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp_dir:
        tmp = Path(tmp_dir) / target.name
        with _no_jit_deprecation():
            torch.jit.save(traced, str(tmp), _extra_files=extra)
        os.replace(tmp, target)


def classify_torch_save(path: Path, trust_pickle: bool) -> Any:
    """Load a torch.save file; return a full module only when allowed, else raise a one-line error."""
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            raise ModelLoadError(PICKLE_REFUSED.format(name=path.name)) from exc
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelLoadError(f"cannot unpickle {path.name} even with --trust-pickle: "
                                 f"{str(exc2).splitlines()[0] if str(exc2) else type(exc2).__name__}") from exc2
    except (RuntimeError, EOFError, ValueError) as exc:
        raise ModelLoadError(f"{path.name} is not a readable torch.save file: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if isinstance(obj, torch.nn.Module):
        return obj
    tensors = _count_tensors(obj)
    if tensors:
        n, params = tensors
        raise ModelLoadError(f"{path.name} holds a state_dict ({n} tensors, {params:,} values) but no "
                             "architecture: save the model as TorchScript (torch.jit.save), torch.export (.pt2) "
                             "or ONNX so the workbench knows its layers")
    raise ModelLoadError(f"{path.name} holds a {type(obj).__name__}, not a model: save the model as TorchScript, "
                         "torch.export (.pt2) or ONNX")


def _count_tensors(obj: Any, depth: int = 0) -> tuple[int, int] | None:
    import torch

    if isinstance(obj, torch.Tensor):
        return 1, obj.numel()
    if depth > 3 or not isinstance(obj, dict):
        return None
    n = total = 0
    for v in obj.values():
        sub = _count_tensors(v, depth + 1)
        if sub:
            n, total = n + sub[0], total + sub[1]
    return (n, total) if n else None


_PT2_LOCK = threading.Lock()
PT2_PICKLE_REFUSED = ("{name} holds pickled Python objects: torch.export.load would unpickle them, which runs code "
                      "from the file, so it is refused; pass --trust-pickle only if you trust its source")


def _pt2_pickled_entries(path: Path) -> list[str]:
    """Names of payloads a .pt2 archive would hand to an unrestricted unpickler."""
    bad = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            tail = name.split("/", 1)[-1]
            if tail.startswith("data/constants/") and name.endswith(".json"):
                try:
                    config = json.loads(zf.read(name)).get("config", {})
                except (ValueError, AttributeError):
                    bad.append(name)
                    continue
                for fqn, meta in config.items():
                    path_name = str(meta.get("path_name", ""))
                    if meta.get("use_pickle") or path_name.startswith(("opaque_obj", "custom_obj")):
                        bad.append(fqn)
            elif tail.startswith("data/weights/") and name.endswith(".json"):
                try:
                    config = json.loads(zf.read(name)).get("config", {})
                except (ValueError, AttributeError):
                    bad.append(name)
                    continue
                bad += [fqn for fqn, meta in config.items() if meta.get("use_pickle")]
    return bad


def load_exported_program(path: str | os.PathLike, trust_pickle: bool = False) -> Any:
    """``torch.export.load`` with every ``torch.load`` inside forced to ``weights_only=True``.

    torch.export.load falls back to full unpickling for some payloads (sample inputs, pickled weights, opaque
    constants); unless ``trust_pickle``, those are refused instead of executed.
    """
    import pickle

    import torch

    p = Path(path)
    if trust_pickle:
        return torch.export.load(str(p))
    if _pt2_pickled_entries(p):
        raise ModelLoadError(PT2_PICKLE_REFUSED.format(name=p.name))
    with _PT2_LOCK:
        real_load = torch.load

        def weights_only_load(*args: Any, **kwargs: Any) -> Any:
            kwargs["weights_only"] = True
            return real_load(*args, **kwargs)

        torch.load = weights_only_load
        try:
            return torch.export.load(str(p))
        except pickle.UnpicklingError as exc:
            raise ModelLoadError(PT2_PICKLE_REFUSED.format(name=p.name)) from exc
        finally:
            torch.load = real_load


def load_torch_module(path: str | os.PathLike, trust_pickle: bool = False) -> Any:
    """A real ``torch.nn.Module`` for a .pt/.pth/.pt2 file (architecture rebuilt when it is known)."""
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelLoadError(f"{p} does not exist or is not a file")
    kind = torch_file_kind(p)
    if kind == "torchscript":
        meta = read_extra(p)
        if meta["arch"]:
            return rebuild_from_arch(meta["module"], meta["arch"], meta["config"])
        return meta["module"]
    if kind == "torch_export":  # eval mode, layers as modules (the pruners need them)
        from engines.models.torch_export_module import exported_module

        return exported_module(load_exported_program(p, trust_pickle), modular=True, name=p.name)
    return classify_torch_save(p, trust_pickle)


def rebuild_from_arch(script_module: Any, arch: str, config: dict[str, Any]) -> Any:
    """Instantiate a zoo architecture and copy the TorchScript module's weights into it."""
    from engines.models import zoo

    model = zoo.build(arch, config)
    state = script_module.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelLoadError(f"weights do not match architecture {arch} (missing {len(missing)}, unexpected "
                             f"{len(unexpected)} tensors): the file's workbench_arch metadata is wrong")
    return model.eval()
