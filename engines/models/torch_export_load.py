"""Load a torch.export ``.pt2`` without running what the file carries.

The archive is checked before ``torch.export.load`` sees it:

* an entry whose name leaves the archive folder (``..``, an absolute path) is refused always: torch's
  C++ loader extracts entries by name;
* compiled native code (anything under ``data/aotinductor/``, ``.so``/``.dll``/``.dylib``/``.pyd``), which
  the loader would dlopen (running its constructors), is refused unless ``trust_pickle``;
* payloads the loader would hand to an unrestricted unpickler are refused unless ``trust_pickle``, and
  every other ``torch.load`` inside is forced to ``weights_only=True``.

Every load extracts into a private temp folder that is removed afterwards, and torch's logged traceback
is silenced so the user sees one line.
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

from engines.errors import ModelLoadError, first_line

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


PT2_COMPILED_REFUSED = ("{name} carries compiled native code ({entry}): torch.export.load would load and run it, "
                        "so it is refused; pass --trust-pickle only if you trust its source, or re-save the "
                        "program alone with torch.export.save")
PT2_UNSAFE_NAME = ("{name} has an archive entry named {entry!r}, which points outside the archive's folder: "
                   "the file is hostile or damaged, so it is refused (even with --trust-pickle)")
COMPILED_SUFFIXES = (".so", ".dll", ".dylib", ".pyd")
AOTI_DIR = "data/aotinductor/"


def pt2_entry_problems(path: Path) -> tuple[list[str], list[str]]:
    """(entry names that leave the archive folder, entries that are compiled native code)."""
    from engines.manifest import file_stays_inside

    unsafe, compiled = [], []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            if not file_stays_inside(name):
                unsafe.append(name)
                continue
            tail = name.split("/", 1)[-1]
            base = name.rsplit("/", 1)[-1].lower()
            if tail.startswith(AOTI_DIR) or base.endswith(COMPILED_SUFFIXES) or ".so." in base:
                compiled.append(name)
    return unsafe, compiled


def check_pt2_archive(path: Path, trust_pickle: bool) -> None:
    """Refuse a .pt2 with escaping entry names (always) or compiled code (unless trusted)."""
    unsafe, compiled = pt2_entry_problems(path)
    if unsafe:
        raise ModelLoadError(PT2_UNSAFE_NAME.format(name=path.name, entry=unsafe[0][:120]))
    if compiled and not trust_pickle:
        more = f" and {len(compiled) - 1} more" if len(compiled) > 1 else ""
        raise ModelLoadError(PT2_COMPILED_REFUSED.format(name=path.name, entry=compiled[0][:120] + more))


@contextlib.contextmanager
def _private_tmpdir() -> Iterator[Path]:
    """Point the C++ package loader's extraction (``$TMPDIR/aotinductor_*``) at a private folder, removed after."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="workbench-pt2-"))
    saved = {k: os.environ.get(k) for k in ("TMPDIR", "TMP", "TEMP")}
    os.environ.update({k: str(folder) for k in saved})
    try:
        yield folder
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(folder, ignore_errors=True)


class _DropAll:
    def filter(self, record: Any) -> bool:
        return False


@contextlib.contextmanager
def quiet_torch_export() -> Iterator[None]:
    """torch.export.load logs a full traceback before raising: the user gets our one line instead."""
    import logging

    loggers = [logging.getLogger(n) for n in ("torch.export", "torch.export.pt2_archive._package", "torch._export")]
    drop = _DropAll()
    for lg in loggers:
        lg.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg in loggers:
            lg.removeFilter(drop)


def load_exported_program(path: str | os.PathLike, trust_pickle: bool = False) -> Any:
    """``torch.export.load`` after the archive checks, with every ``torch.load`` inside forced to ``weights_only=True``.

    torch.export.load falls back to full unpickling for some payloads (sample inputs, pickled weights, opaque
    constants) and dlopens compiled AOTInductor code; unless ``trust_pickle``, both are refused instead of run.
    """
    import pickle

    import torch

    p = Path(path)
    try:
        check_pt2_archive(p, trust_pickle)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelLoadError(f"{p.name} is a corrupt zip archive, not a readable .pt2 file") from exc
    if not trust_pickle and _pt2_pickled_entries(p):
        raise ModelLoadError(PT2_PICKLE_REFUSED.format(name=p.name))
    with _PT2_LOCK, quiet_torch_export(), _private_tmpdir():
        if trust_pickle:
            try:
                return torch.export.load(str(p))
            except RuntimeError as exc:
                raise _not_loadable(p, exc) from exc
        real_load = torch.load

        def weights_only_load(*args: Any, **kwargs: Any) -> Any:
            kwargs["weights_only"] = True
            return real_load(*args, **kwargs)

        torch.load = weights_only_load
        try:
            return torch.export.load(str(p))
        except pickle.UnpicklingError as exc:
            raise ModelLoadError(PT2_PICKLE_REFUSED.format(name=p.name)) from exc
        except RuntimeError as exc:
            raise _not_loadable(p, exc) from exc
        finally:
            torch.load = real_load


def _not_loadable(p: Path, exc: BaseException) -> ModelLoadError:
    """torch's own message points at warnings it logged (silenced here): say what it means instead."""
    text = str(exc).strip()
    if "deserializing" not in text:
        return ModelLoadError(f"cannot read {p.name} as torch.export: {first_line(exc)}")
    with zipfile.ZipFile(p) as zf:
        has_program = any(n.split("/", 1)[-1].startswith("models/") for n in zf.namelist())
    if not has_program:
        return ModelLoadError(f"{p.name} holds no exported program (an AOTInductor package keeps only compiled "
                              "code): open the model it was built from, or save the program with torch.export.save")
    return ModelLoadError(f"{p.name} could not be deserialized by this torch: it was saved by another torch "
                          "version or is damaged; re-export it with torch.export.save")
