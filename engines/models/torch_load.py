"""Read PyTorch files safely: TorchScript, torch.export (.pt2), and what torch.save wrote.

* TorchScript archives load with ``torch.jit.load``; when the file records a
  ``workbench_arch`` from :mod:`engines.models.zoo`, the real ``nn.Module`` is rebuilt
  and its weights restored, so structured pruning can work on it.
* Files written by ``torch.save`` are read only with ``weights_only=True``. A
  bare state_dict is refused with a message that it needs an architecture; a
  pickled full module is refused unless ``trust_pickle`` (unpickling it runs
  code from the file).
* A ``.pt2`` goes through :mod:`engines.models.torch_export_load` (archive checks first).
* TorchScript metadata (input specs, zoo config) is checked for structure before anything is sized
  from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

from engines.errors import ModelLoadError, first_line
from engines.models.torch_export_load import load_exported_program

TORCH_DTYPES = ("float32", "float16", "float64", "bfloat16", "int64", "int32", "int8", "uint8", "bool")
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
        meta["config"] = _checked_config(_json_extra(path, CONFIG_KEY, extra[CONFIG_KEY]), path)
    if extra[INPUTS_KEY]:
        meta["inputs"] = _checked_inputs(_json_extra(path, INPUTS_KEY, extra[INPUTS_KEY]), path)
    return meta


def _json_extra(path: Path, key: str, raw: Any) -> Any:
    try:
        return json.loads(_text(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path.name}: its {key} metadata is not valid JSON ({exc}): the file is damaged "
                             "or was not written by the workbench") from exc


def _metadata_error(path: Path, key: str, what: str) -> ModelLoadError:
    return ModelLoadError(f"{path.name}: its {key} metadata {what}; the file is damaged or was not written by "
                          "the workbench (re-save it with engines.models.torch_load.save_torchscript)")


def _checked_config(config: Any, path: Path) -> dict[str, Any]:
    if not isinstance(config, dict) or len(config) > 64 or not all(
            isinstance(k, str) and (v is None or isinstance(v, (bool, int, float, str))) for k, v in config.items()):
        raise _metadata_error(path, CONFIG_KEY, "is not a flat object of numbers and strings")
    return config


def _checked_inputs(items: Any, path: Path) -> list[dict[str, Any]]:
    """Input specs as ``[{"name": str, "shape": [int >= 0 | str], "dtype": str}]``, at most 64 inputs of rank 16."""
    if not isinstance(items, list) or not items or len(items) > 64:
        raise _metadata_error(path, INPUTS_KEY, "is not a list of 1 to 64 input specs")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise _metadata_error(path, INPUTS_KEY, f"has input #{i} without a name")
        shape = item.get("shape")
        if not isinstance(shape, list) or len(shape) > 16 or not all(
                (isinstance(d, int) and not isinstance(d, bool) and 0 <= d) or (isinstance(d, str) and len(d) <= 32)
                for d in shape):
            raise _metadata_error(path, INPUTS_KEY, f"gives input {item['name'][:40]!r} a shape that is not a list "
                                  "of at most 16 sizes >= 0 or names")
        if item.get("dtype") not in TORCH_DTYPES:
            raise _metadata_error(path, INPUTS_KEY, f"gives input {item['name'][:40]!r} dtype "
                                  f"{str(item.get('dtype'))[:40]!r}, not one of {', '.join(TORCH_DTYPES)}")
    return items


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            raise ModelLoadError(PICKLE_REFUSED.format(name=path.name)) from exc
        try:
            with warnings.catch_warnings():  # torch's notes on unpickling (source changed, ...) are not the user's
                warnings.simplefilter("ignore")
                obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelLoadError(f"cannot unpickle {path.name} even with --trust-pickle: "
                                 f"{first_line(exc2)}") from exc2
    except (RuntimeError, EOFError, ValueError) as exc:
        raise ModelLoadError(f"{path.name} is not a readable torch.save file: "
                             f"{first_line(exc)}") from exc
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
    import torch

    from engines.models import zoo

    with torch.device("meta"):  # sizes only: a config from the file must not decide how much memory is used
        shape_only = zoo.build(arch, config)
    want = sum(p.numel() for p in shape_only.parameters())
    have = sum(p.numel() for p in script_module.parameters())
    if want != have:
        raise ModelLoadError(f"weights do not match architecture {arch} with the file's config ({have:,} parameters "
                             f"stored, {want:,} declared): the file's workbench metadata is wrong")
    model = zoo.build(arch, config)
    state = script_module.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelLoadError(f"weights do not match architecture {arch} (missing {len(missing)}, unexpected "
                             f"{len(unexpected)} tensors): the file's workbench_arch metadata is wrong")
    return model.eval()
