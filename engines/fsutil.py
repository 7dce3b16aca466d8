"""Atomic file and folder writes: write to a temp path, then rename.

A cancelled or failed task leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from engines.errors import WorkbenchError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _raise_disk_error(exc: OSError, target: Path) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise WorkbenchError(f"disk full while writing {target}: free space and try again") from exc
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        raise WorkbenchError(f"cannot write {target}: the folder is read-only or not permitted") from exc
    raise exc


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp file path next to ``target``; rename onto it on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=(suffix or target.suffix) + ".part",
                                   dir=target.parent)
        os.close(fd)
    except OSError as exc:
        _raise_disk_error(exc, target)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give the result normal permissions
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        _raise_disk_error(exc, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder next to ``target``; rename onto it on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    except OSError as exc:
        _raise_disk_error(exc, target)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_disk_error(exc, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, or of every file in a folder (sorted by relative path)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def size_on_disk(path: str | os.PathLike) -> int:
    """Bytes of a file, or of a folder's files (ONNX external data included)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    weights = path.with_suffix(".bin")   # an OpenVINO IR: model.xml + model.bin
    if path.suffix.lower() == ".xml" and weights.is_file():
        return path.stat().st_size + weights.stat().st_size
    return path.stat().st_size
