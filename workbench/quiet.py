"""Keep the terminal to what the workbench says: frameworks' native log lines and warnings are noise.

The CLI promises one line per error, and the TUI owns the terminal, yet TensorFlow's absl logger writes
"WARNING: All log messages before absl::InitializeLog() ..." and oneDNN notices straight to file
descriptor 2 while it is imported (no environment variable silences those), ONNX Runtime prints its own
coloured warnings, and torch and TensorFlow raise Python warnings about their own internals.
:func:`install` (called once by the CLI before any framework is imported):

* sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user set it;
* points fd 2 at /dev/null while ``tensorflow`` is being imported (Python's own errors still surface:
  they propagate as exceptions and are printed after the import);
* lowers ONNX Runtime's default logger to errors-only right after it is imported;
* ignores Python warnings raised from inside the frameworks.

``WORKBENCH_VERBOSE=1`` turns all of this off.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
import warnings
from typing import Any, Callable, Iterator

FRAMEWORK_MODULES = r"(torch|tensorflow|keras|tf_keras|onnxruntime|onnx|onnxscript|ai_edge_litert|absl)(\..*)?$"


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what native code writes to fd 2 to /dev/null for the duration."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _ort_errors_only(module: Any) -> None:
    with contextlib.suppress(Exception):
        module.set_default_logger_severity(3)


class _Loader(importlib.abc.Loader):
    """Wraps a module's real loader: runs its import quietly and/or calls a hook after it."""

    def __init__(self, real: Any, quiet: bool, after: Callable[[Any], None] | None) -> None:
        self._real, self._quiet, self._after = real, quiet, after

    def create_module(self, spec: Any) -> Any:
        return self._real.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with native_stderr_silenced() if self._quiet else contextlib.nullcontext():
            self._real.exec_module(module)
        if self._after is not None:
            self._after(module)

    def __getattr__(self, name: str) -> Any:  # is_package, get_resource_reader, ...
        return getattr(self._real, name)


class _QuietImports(importlib.abc.MetaPathFinder):
    # module -> (silence fd 2 while importing, hook after import)
    HOOKS: dict[str, tuple[bool, Callable[[Any], None] | None]] = {
        "tensorflow": (True, None),
        "onnxruntime": (False, _ort_errors_only),
    }

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                quiet, after = self.HOOKS[name]
                spec.loader = _Loader(spec.loader, quiet, after)
                return spec
        return None


def install() -> None:
    """Quiet the frameworks for this process (idempotent)."""
    if os.environ.get("WORKBENCH_VERBOSE") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", module=FRAMEWORK_MODULES)
    if not any(isinstance(f, _QuietImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImports())
    ort = sys.modules.get("onnxruntime")
    if ort is not None:
        _ort_errors_only(ort)
