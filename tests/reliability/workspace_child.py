"""A process that builds one variant slowly, for the kill/terminate/concurrency tests.

``python -m tests.reliability.workspace_child ROOT READY RELEASE MODE``: opens the workspace at ROOT,
starts building a variant (a 0-byte model file in its temp folder), touches READY, then waits (at most
60 s) until RELEASE exists before finishing. MODE "cli" runs it through the CLI's error/signal handling.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def build_slowly(root: str, ready: str, release: str) -> int:
    from engines.workspace import Workspace

    ws = Workspace(root)

    def build(folder: Path) -> dict:
        (folder / "model.onnx").write_bytes(b"")
        Path(ready).write_text("building")
        deadline = time.monotonic() + 60
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (folder / "model.onnx").write_bytes(b"done")
        return {"file": "model.onnx", "format": "onnx"}

    ws.create({"child": root}, build, name="slow", kind="quantized")
    return 0


def main() -> int:
    root, ready, release, mode = sys.argv[1:5]
    if mode == "cli":
        from workbench.cli import _run_handler

        return _run_handler(argparse.Namespace(handler=lambda args: build_slowly(root, ready, release)))
    return build_slowly(root, ready, release)


if __name__ == "__main__":
    sys.exit(main())
