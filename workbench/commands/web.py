"""``workbench web``: serve the app to browsers (textual-serve, one app process per browser tab)."""

from __future__ import annotations

import argparse
import sys

# measured (docs/benchmarks.md, "Browser sessions"): 57 sessions that each ran a step fit in 24 GiB
DEFAULT_MAX_SESSIONS = 40


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the workbench to browsers (one app process per tab)",
                       description="Serve the workbench TUI to web browsers with textual-serve: every browser "
                                   "tab that connects gets its own app process, ended when the tab closes. "
                                   "Binds 127.0.0.1 (this machine only) unless --host says otherwise; see "
                                   "docs/classroom.md for a class of 30.")
    p.add_argument("model", nargs="?", help="model every session opens (default: the bundled sample CNN)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--public-url", help="the address browsers use, e.g. https://class.example.org (default: "
                                        "the address each browser connected to)")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                   help=f"most browser tabs served at once, one app process each (default {DEFAULT_MAX_SESSIONS}; "
                        "0: no limit); a tab over it is told the server is full")
    p.add_argument("--data", help="NPZ file with array x (and optional labels y) for every session")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a pickled full PyTorch module (runs code from the file)")
    p.add_argument("--workspace", help="folder for variants, shared by every session "
                                       "(default: ~/.workbench/workspaces/<model>)")
    p.add_argument("--presenter", action="store_true",
                   help="presenter mode: high-contrast layout, larger font in the page")
    p.add_argument("--replay", metavar="WORKSPACE",
                   help="every session opens this prepared workspace's stored figures, marked as recorded")
    p.set_defaults(handler=run)


def check_args(args: argparse.Namespace) -> None:
    from pathlib import Path

    from engines.errors import WorkbenchError

    if args.model and not Path(args.model).exists():
        raise WorkbenchError(f"no such file or folder: {args.model}")
    if args.data and not Path(args.data).is_file():
        raise WorkbenchError(f"no such data file: {args.data}")
    if args.replay and args.workspace:
        raise WorkbenchError("--replay WORKSPACE opens that workspace: give it without --workspace")
    if args.public_url and not args.public_url.startswith(("http://", "https://")):
        raise WorkbenchError(f"--public-url must start with http:// or https://, not {args.public_url!r}")
    if args.max_sessions < 0:
        raise WorkbenchError(f"--max-sessions must be 0 (no limit) or more, not {args.max_sessions}")
    if not args.host.strip():
        raise WorkbenchError("--host is empty: give an address, e.g. 127.0.0.1 or 0.0.0.0")


def run(args: argparse.Namespace) -> int:
    check_args(args)
    try:
        from workbench.web import server
    except ModuleNotFoundError as exc:
        from engines.errors import WorkbenchError

        raise WorkbenchError(f"workbench web needs textual-serve ({exc.name} is missing): "
                             "pip install textual-serve==1.1.3") from None
    if args.replay:   # checked once here, so a bad workspace is one line now, not an error in every tab
        from workbench.replay import prepare

        prepare(args.replay, args.model)
    if not server.is_loopback(args.host):
        print(f"workbench web: warning: listening on {args.host}: anyone who can reach port {args.port} gets a "
              "workbench session that reads and writes files as this user; use it only on a network you "
              "trust, or behind a reverse proxy with TLS and a login (docs/classroom.md)", file=sys.stderr)
    from workbench.presenter import WEB_FONT_SIZE

    command = server.child_command(server.tui_args(args.model, data=args.data, trust_pickle=args.trust_pickle,
                                                   workspace=args.workspace, presenter=args.presenter,
                                                   replay=args.replay))
    server.serve(command, host=args.host, port=args.port, public_url=args.public_url,
                 font_size=WEB_FONT_SIZE if args.presenter else 16,
                 title="workbench (presenter)" if args.presenter else "workbench", max_sessions=args.max_sessions)
    return 0
