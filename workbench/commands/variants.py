"""``workbench variants MODEL``: list the variants stored in a model's workspace.

Also holds the small text helpers the ``optimize`` and ``tune`` commands share
(variant table, progress printer, report/save handling).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable

from workbench.commands.options import check_timing, timing_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("variants", help="list the optimized variants stored for a model",
                       description="List the variants in MODEL's workspace with their measured accuracy, "
                                   "fidelity, latency and size, and deltas against the baseline.")
    p.add_argument("words", nargs="+", metavar="[retime] MODEL [VARIANT ...]",
                   help="the source model (its workspace is found by content hash); 'retime MODEL [VARIANT ...]' "
                        "re-times variants, each against the baseline in the same run (default: the stale ones)")
    p.add_argument("--retime", nargs="*", metavar="VARIANT", default=None,
                   help="re-time these variants (id, prefix or name; none given: every stale one) against the "
                        "baseline, interleaved in the same rounds; 'all' re-times every variant")
    p.add_argument("--data", help="NPZ with x for the timing feeds (default: the sample's own data)")
    p.add_argument("--threads", type=int, help="inference threads (default: the cores available to the process)")
    p.add_argument("--iterations", type=int, default=200, help="timed runs per model (default 200)")
    p.add_argument("--seconds", type=float, default=3.0, help="time cap per model (default 3 s)")
    p.add_argument("--workspace", help="workspace folder (default: the model's own under ~/.workbench)")
    p.add_argument("--json", action="store_true", help="print the variants as JSON")
    p.set_defaults(handler=run)


def _split_words(args: argparse.Namespace) -> None:
    """``variants MODEL`` or ``variants retime MODEL [VARIANT ...]``."""
    from engines.errors import WorkbenchError

    words = list(args.words)
    if words[0] == "retime" and len(words) > 1:
        args.retime = list(args.retime or []) + words[2:]
        words = words[1:2]
    if len(words) != 1:
        raise WorkbenchError(f"expected one MODEL, got {' '.join(words)}: use 'workbench variants retime MODEL "
                             "VARIANT ...' to re-time variants")
    args.model = words[0]


def run(args: argparse.Namespace) -> int:
    from engines.optimize.context import cached_sha256, workspace_for
    from engines.optimize.report import build_report
    from pathlib import Path

    from engines.models.loader import detect_format

    _split_words(args)
    path = Path(args.model).expanduser().resolve()
    detect_format(path)  # a one-line error for a missing or unknown file
    ws = workspace_for(path, cached_sha256(path), args.workspace)
    if args.retime is not None:
        _retime(args, ws)
    vs = ws.variants()
    report = build_report(vs, ws.baseline(), title=f"Variants of {path.name}", model_name=path.name, workspace=ws)
    if args.json:
        json.dump({"workspace": str(ws.root), **report}, sys.stdout, indent=1, default=str)
        print()
        return 0
    if not vs:
        print(f"no variants yet for {path.name} (workspace {ws.root}); make one with: "
              f"workbench optimize {args.model} --quantize int8-static")
        return 0
    print(f"{path.name}: {len(vs)} variant(s) in {ws.root}")
    print_rows(report["variants"], report.get("recommended"))
    return 0


def _retime(args: argparse.Namespace, ws: Any) -> None:
    from engines.errors import WorkbenchError
    from engines.optimize.context import MeasureOptions, open_context
    from engines.optimize.pipeline import retime
    from engines.tasks import TaskContext

    if args.iterations < 1 or args.seconds <= 0 or (args.threads is not None and args.threads < 1):
        raise WorkbenchError("--iterations and --threads must be >= 1 and --seconds positive")
    ctx = open_context(args.model, data=args.data, workspace=ws, threads=args.threads,
                       measure=MeasureOptions(iterations=args.iterations, budget_s=args.seconds))
    refs = [r for r in args.retime if r != "all"]
    chosen = [ws.resolve(r) for r in refs] if refs else None
    progress = Progress()
    try:
        done = retime(ctx, chosen, stale_only=not refs and "all" not in args.retime, task=TaskContext(progress))
    finally:
        progress.done()
    if not args.json:
        print(f"re-timed {len(done)} variant(s), each against the baseline in the same rounds"
              + ("" if done else " (none was stale; name variants or give 'all')"))


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_rows(rows: Iterable[dict[str, Any]], recommended: str | None = None, out: Any = None) -> None:
    out = out or sys.stdout
    head = (f"{'id':8} {'variant':44} {'acc':>7} {'Δpts':>6} {'agree':>7} {'p50 ms':>9} {'speed':>6} "
            f"{'interval':>11} {'size KB':>8}  P")
    print(head, file=out)
    for r in rows:
        mark = "★" if r.get("pareto_latency") else " "
        if r["id"] == recommended:
            mark += " recommended"
        if r["status"] != "ok":
            print(f"{r['id'][:8]:8} {r['name'][:44]:44} failed: {r['error']}", file=out)
            continue
        size = r["size_bytes"] / 1024 if r.get("size_bytes") else None
        print(f"{r['id'][:8]:8} {r['name'][:44]:44} {_fmt(r['accuracy'], '7.2%')} "
              f"{_fmt(r.get('accuracy_delta_points'), '+6.2f')} {_fmt(r['top1_agreement'], '7.2%')} "
              f"{_fmt(r['p50_ms'], '9.3f')} {_fmt(r.get('speedup'), '6.2f')} {_interval(r):>11} "
              f"{_fmt(size, '8.1f')}  {mark}", file=out)
    threads = sorted({str(r.get("threads")) for r in rows if r.get("threads")})
    when = sorted({r["measured_at"] for r in rows if r.get("measured_at")})
    if threads or when:
        print(f"threads {', '.join(threads) or '-'}; measured {when[0] if when else '-'}"
              + (f" .. {when[-1]}" if len(when) > 1 else "") + "; speed = paired speedup over the baseline "
              "(interval over rounds; ≈ within noise)", file=out)
    for r in rows:
        for note in r.get("notes") or []:
            print(f"note ({r['name']}): {note}", file=out)


from workbench.commands.progress import Progress  # noqa: E402,F401  (re-exported for the commands)


def _interval(r: dict[str, Any]) -> str:
    iv = r.get("speedup_interval")
    if not iv:
        return "unpaired" if r.get("paired") is False else "-"
    return f"{iv[0]:.2f}-{iv[1]:.2f}" + ("≈" if r.get("within_noise") else " ")


def measure_args(p: argparse.ArgumentParser) -> None:
    from workbench.commands import add_input_shape_arg

    p.add_argument("--data", help="NPZ with x (and labels y) for calibration, accuracy and recovery "
                                  "(default: the sample's own data, else random inputs)")
    p.add_argument("--train-data", help="NPZ with x, y for recovery fine-tuning (default: --data)")
    timing_args(p)
    p.add_argument("--workspace", help="workspace folder (default: the model's own under ~/.workbench)")
    p.add_argument("--trust-pickle", action="store_true", help="allow a pickled full PyTorch module (runs its code)")
    add_input_shape_arg(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--save", metavar="PATH", help="copy the resulting model file to PATH (file or folder)")
    p.add_argument("--report", metavar="PATH", help="write a report of the variants (.md Markdown, else JSON)")


def open_ctx(args: argparse.Namespace) -> Any:
    from engines.optimize.context import MeasureOptions, open_context

    check_timing(args)
    return open_context(args.model, data=args.data, train_data=args.train_data, workspace=args.workspace,
                        threads=args.threads, trust_pickle=args.trust_pickle, input_shapes=args.input_shape,
                        measure=MeasureOptions(iterations=args.iterations, budget_s=args.seconds))


def finish(args: argparse.Namespace, ctx: Any, chosen: Any, payload: dict[str, Any], title: str,
           recommended: Any = None, notes: Iterable[str] = (), show_ids: Iterable[str] | None = None) -> None:
    """--save, --report, then the JSON or text output."""
    from engines.optimize.pipeline import save_variant
    from engines.optimize.report import build_report, write_report

    vs = ctx.workspace.variants()
    report = build_report(vs, ctx.workspace.baseline(), title=title, model_name=ctx.model_path.name,
                          threads=ctx.threads, notes=notes, recommended=recommended, workspace=ctx.workspace)
    if args.save:
        payload["saved"] = str(save_variant(ctx, chosen, args.save))
    if args.report:
        payload["report"] = str(write_report(args.report, report))
    if args.json:
        payload["variants"] = report["variants"]
        json.dump(payload, sys.stdout, indent=1, default=str)
        print()
        return
    keep = set(show_ids) if show_ids is not None else None
    shown = [r for r in report["variants"] if keep is None or r["id"] in keep]
    print_rows(shown, recommended.id if recommended is not None else None)
    for n in notes:
        print(f"note: {n}")
    for key in ("saved", "report"):
        if key in payload:
            print(f"{key}: {payload[key]}")
