"""The ``workbench`` command line.

``workbench [MODEL]`` opens the TUI; ``workbench <command> ...`` runs a task
headless. Each command lives in ``workbench/commands/<name>.py`` with
``register(subparsers)`` and a handler that imports heavy engines lazily, so
``workbench --help`` stays fast. A :class:`WorkbenchError` is printed as one
line on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Order shown in --help. A module that is missing is simply not offered.
COMMANDS = ["inspect", "optimize", "tune", "curve", "variants", "sweep", "sparse", "threads", "serve", "loadgen",
            "build", "prices", "cost", "deploy", "monitor", "traffic", "k8s", "samples", "lab", "web"]
# curve: engines/optimize/prune_curve.py; sparse/threads: engines/measure/{sparse,threads}.py;
# monitor, traffic, k8s: engines/deploy/{monitor,traffic,k8s}.py; lab: the guided tours (engines/labs); web: the app in browsers (commands/web.py)

EXIT_USAGE = 2
EXIT_TERMINATED = 128 + 15
# OS errors a user's path or disk causes: one line, not a traceback
USER_OS_ERRNOS = {"ENAMETOOLONG", "ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "ELOOP", "EROFS", "ENOSPC",
                  "EDQUOT", "EEXIST", "ENXIO"}


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so unfinished temp files and folders are removed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own code too)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workbench",
        usage="workbench [MODEL] [--data FILE.npz] [--trust-pickle] [--workspace DIR] [--presenter] "
              "[--replay WORKSPACE]\n"
              "       workbench COMMAND [options]",
        description="Load a model, optimize it with measured results, build engines, serve and deploy it. "
                    "Without a COMMAND, opens the terminal UI on MODEL (default: the bundled sample CNN).",
        epilog="Run 'workbench COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version="workbench 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, prog="workbench",
                                title="commands")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"workbench.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"workbench.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _tui_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="workbench", description="Open the workbench TUI on MODEL (default: the bundled sample CNN).")
    p.add_argument("model", nargs="?", help="model file or folder (.onnx, .pt, .pt2, .keras, SavedModel, .tflite)")
    p.add_argument("--data", help="NPZ file with array x (and optional labels y) for calibration and accuracy")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a pickled full PyTorch module (runs code from the file: only for files you trust)")
    p.add_argument("--workspace", help="folder for variants (default: ~/.workbench/workspaces/<model>)")
    p.add_argument("--presenter", action="store_true",
                   help="presenter mode: high-contrast, large-text-friendly layout for a projector")
    p.add_argument("--replay", metavar="WORKSPACE",
                   help="open a prepared workspace's stored variants and figures at once, marked as recorded "
                        "(MODEL: the model it was made from; a bundled sample is found by itself)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from workbench.quiet import install

    install()  # before any framework is imported: their native log lines are not ours to print
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    wants_help = any(a in ("-h", "--help", "--version") for a in argv)
    if first in COMMANDS or (wants_help and first is None):
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return EXIT_USAGE
        return _run_handler(args)
    args = _tui_parser().parse_args(argv)
    return _run_handler(argparse.Namespace(handler=_open_tui, **vars(args)))


def _run_handler(args: argparse.Namespace) -> int:
    import errno
    import signal
    import threading

    from engines.errors import WorkbenchError

    def on_term(signum: int, frame: object) -> None:
        raise Terminated()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return int(args.handler(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if errno.errorcode.get(exc.errno or 0) not in USER_OS_ERRNOS:
            raise
        print(f"workbench: error: {exc.strerror or exc}: {_short(exc.filename)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("workbench: terminated (SIGTERM); the unfinished step was discarded", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _short(name: object, limit: int = 100) -> str:
    text = str(name) if name is not None else "(no file name)"
    return text if len(text) <= limit else f"{text[:60]}…{text[-30:]} ({len(text):,} characters)"


def _open_tui(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engines.errors import WorkbenchError

    if args.model and not Path(args.model).exists():
        raise WorkbenchError(f"no such file or folder: {args.model}")
    if args.data and not Path(args.data).is_file():
        raise WorkbenchError(f"no such data file: {args.data}")
    if args.replay and args.workspace:
        raise WorkbenchError("--replay WORKSPACE opens that workspace: give it without --workspace")
    from workbench.app import run_app

    return run_app(model=args.model, data=args.data, trust_pickle=args.trust_pickle, workspace=args.workspace,
                   presenter=args.presenter, replay=args.replay)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
