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
def atomic_dir(target: str | os.PathLike, *, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a temp folder next to ``target``; rename onto it on success.

    With ``keep_existing`` a ``target`` that exists (or appears meanwhile, published by another process
    building the same thing) is kept and the new folder discarded, so nobody's files vanish under them.

    The folder ``.<name>.<token>.part`` is owned through an exclusive lock on its sibling
    ``.<name>.<token>.part.lock``, taken before the folder exists and released after it is gone, so
    :func:`remove_stale_parts` can tell a live build from one whose process was killed.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp, lock_fd, lock_path = _owned_part(target)
    except OSError as exc:
        _raise_disk_error(exc, target)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # the folder is made 0700
        if keep_existing and target.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            if not (keep_existing and exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and target.is_dir()):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_disk_error(exc, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(lock_fd)


def _owned_part(target: Path) -> tuple[Path, int, Path]:
    """(part folder, locked fd, lock path): the lock is held before the folder is created."""
    import fcntl
    import secrets

    for _ in range(100):
        token = secrets.token_hex(6)
        lock_path = target.parent / f".{target.name}.{token}.part.lock"
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except FileExistsError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(lock_path).st_ino:  # a cleaner removed it meanwhile
                raise BlockingIOError
            tmp = target.parent / f".{target.name}.{token}.part"
            tmp.mkdir(mode=0o700)
            return tmp, fd, lock_path
        except (BlockingIOError, FileNotFoundError, FileExistsError):
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            lock_path.unlink(missing_ok=True)
            raise
    raise OSError(errno.EEXIST, "no free temp folder name", str(target.parent))


def remove_stale_parts(folder: str | os.PathLike, names: str = r".+") -> list[Path]:
    """Remove ``.<name>.<token>.part`` folders in ``folder`` left by killed processes; return them.

    ``names`` is a regular expression the ``<name>`` part must match, so only what this tool creates is
    ever considered. A part whose lock another process holds is a build in progress and is kept; a part
    without a lock file predates the locks (or lost it) and is removed as debris.
    """
    import fcntl
    import re

    folder = Path(folder)
    pattern = re.compile(rf"^\.(?:{names})\.[^/]+\.part$")
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        is_lock = entry.name.endswith(".part.lock")
        part = entry.with_name(entry.name[: -len(".lock")]) if is_lock else entry
        if not pattern.match(part.name) or (is_lock and part.exists()):
            continue  # a lock next to its part is handled with the part
        lock = part.with_name(part.name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            fd = None
        except OSError:
            continue
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its owner is alive
            if part.is_dir() and not part.is_symlink():
                shutil.rmtree(part, ignore_errors=True)
                removed.append(part)
            elif part.is_file() or part.is_symlink():
                part.unlink(missing_ok=True)
                removed.append(part)
            if fd is not None:
                lock.unlink(missing_ok=True)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


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
