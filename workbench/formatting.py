"""Human-readable figures and paths for the UI (no model logic)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def human_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def human_count(n: int | None, unit: str = "") -> str:
    """1234 -> '1.23 K', 11_689_512 -> '11.7 M'; exact below a thousand."""
    if n is None:
        return "n/a"
    suffix = f" {unit}" if unit else ""
    for scale, name in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            value = n / scale
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f} {name}{unit}"
    return f"{n}{suffix}"


def display_path(path: str | os.PathLike | None) -> str:
    """A path as the user should read it: relative to the repo, else under ``~``, else absolute."""
    if path is None:
        return ""
    p = Path(path).expanduser()
    try:
        p = p.resolve()
    except OSError:
        return str(path)
    for base, prefix in ((REPO_ROOT, ""), (Path.home().resolve(), "~/")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return f"{prefix}{rel}" if str(rel) != "." else (prefix.rstrip("/") or ".")
    return str(p)


def format_name(fmt: str) -> str:
    """The name a person reads for a format id (the vocabulary of :mod:`engines.formats`)."""
    from engines.formats import label

    return label(fmt)
