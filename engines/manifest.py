"""Read and check a workspace's ``manifest.json`` before anything trusts it.

The manifest is a file on disk that a user, another tool or a newer workbench may have written. Every
entry is checked for the structure this version reads; a variant's ``id`` must be a folder name and its
``file`` must stay inside its variant folder; a manifest from a newer workbench is refused rather than
rewritten in the older format. Each problem is one line naming the manifest and what is wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from engines.errors import WorkbenchError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
VARIANT_ID = r"[0-9a-f]{16}"           # what engines.workspace.recipe_key produces
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # any id read back must at least be a plain folder name

# field -> (accepted types, required)
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "id": ((str,), True), "name": ((str,), True), "kind": ((str,), True), "format": ((str,), True),
    "file": ((str,), True), "recipe": ((dict,), True), "parent": ((str, type(None)), False),
    "status": ((str,), False), "error": ((str, type(None)), False), "created": ((int, float), False),
    "metrics": ((dict,), False), "extra": ((dict,), False),
}


def _bad(path: Path, what: str) -> WorkbenchError:
    return WorkbenchError(f"workspace manifest {path} {what}: it was edited or damaged; fix it, or move it "
                          "away to start the workspace afresh")


def read_manifest(root: str | Path) -> list[dict[str, Any]]:
    """The checked variant entries of ``<root>/manifest.json`` ([] when there is none)."""
    path = Path(root) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"workspace manifest {path} is unreadable: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WorkbenchError(f"workspace manifest {path} is unreadable: {exc}") from exc
    return check_manifest(data, path)


def check_manifest(data: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise _bad(path, f"is a JSON {type(data).__name__}, not an object with 'version' and 'variants'")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _bad(path, f"has version {version!r}, not an integer")
    if version > MANIFEST_VERSION:
        raise WorkbenchError(f"workspace manifest {path} has version {version}: it was written by a newer "
                             f"workbench (this one reads version {MANIFEST_VERSION}); upgrade the workbench or "
                             "use another --workspace")
    if version < 1:
        raise _bad(path, f"has version {version}, which no workbench writes")
    variants = data.get("variants", [])
    if not isinstance(variants, list):
        raise _bad(path, f"has 'variants' of type {type(variants).__name__}, not a list")
    return [_check_entry(i, entry, path) for i, entry in enumerate(variants)]


def _check_entry(i: int, entry: Any, path: Path) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _bad(path, f"has variant #{i} of type {type(entry).__name__}, not an object")
    for key, (types, required) in FIELDS.items():
        if key not in entry:
            if required:
                raise _bad(path, f"has variant #{i} without {key!r}")
            continue
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise _bad(path, f"has variant #{i} whose {key!r} is {type(value).__name__}, not {want}")
    vid = entry["id"]
    if not _ID.match(vid):
        raise _bad(path, f"has variant #{i} with id {vid[:40]!r}, which is not a plain folder name")
    file = entry["file"]
    if file and not file_stays_inside(file):
        raise WorkbenchError(f"workspace manifest {path} points variant {vid} at {file[:80]!r}, outside its "
                             "variant folder: refused (a manifest may only name files inside the workspace)")
    return entry


def file_stays_inside(name: str) -> bool:
    """Whether a relative path written in a manifest or archive stays inside the folder it is relative to."""
    if "\x00" in name or "\\" in name or PureWindowsPath(name).drive:
        return False
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and name not in ("", ".")
