"""Hostile inputs built on the fly: .pt2 archives with planted entries, a shared object with a constructor."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CTOR_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
  const char *m = getenv("WB_MARKER");
  if (m) { FILE *f = fopen(m, "w"); if (f) { fputs("constructor ran", f); fclose(f); } }
}
"""


def clean_pt2(path: Path) -> Path:
    import torch

    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2

    ep = torch.export.export(Double(), (torch.zeros(2, 3),))
    torch.export.save(ep, str(path))
    return path


def compile_ctor_so(folder: Path) -> Path | None:
    """A shared object whose constructor writes $WB_MARKER; None when no C compiler is available."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    src = folder / "ctor.c"
    src.write_text(CTOR_SOURCE)
    out = folder / "ctor.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def plant(pt2: Path, out: Path, entries: dict[str, bytes]) -> Path:
    """Copy ``pt2`` to ``out`` with extra entries under its archive folder (names used as given)."""
    shutil.copy(pt2, out)
    prefix = zipfile.ZipFile(pt2).namelist()[0].split("/")[0]
    with zipfile.ZipFile(out, "a") as zf:
        for name, data in entries.items():
            zf.writestr(name.replace("{prefix}", prefix), data)
    return out


def run_cli(args: list[str], env_extra: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("WORKBENCH_VERBOSE", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, cwd=str(cwd or ROOT), timeout=timeout)


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]
