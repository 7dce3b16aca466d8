"""``workbench sparse``: do sparse kernels beat dense on this CPU? The crossover, measured paired."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sparse", help="sparse (CSR/BSR) Linear kernels against dense at 50-95 %% sparsity",
                       description="Time a Linear layer dense and through sparse kernels (torch.sparse CSR and "
                                   "BSR) at several sparsities, paired and interleaved, and show from which "
                                   "sparsity (if any) a sparse kernel is faster on this CPU. With MODEL, the "
                                   "model's own Linear weights are used; layers a kernel cannot take (Conv) "
                                   "stay dense and are listed.")
    p.add_argument("model", nargs="?", metavar="MODEL", help="an .onnx or PyTorch file (default: --layer shapes)")
    p.add_argument("--layer", action="append", default=None, metavar="SHAPE",
                   help="a layer shape, INxOUT (e.g. 768x3072) or bert-base-ffn-up, bert-base-ffn-down, "
                        "resnet50-fc; repeatable (default: bert-base-ffn-up)")
    p.add_argument("--sparsities", help="percent, comma-separated (default 50,80,90,95)")
    p.add_argument("--kernels", default="csr,bsr",
                   help="csr, bsr, semi-structured (CUDA only), openvino-sparse (AMX + INT8 only); default csr,bsr")
    p.add_argument("--batch", type=int, default=1, help="rows per call (default 1)")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the cores available to this process)")
    p.add_argument("--rounds", type=int, default=7, help="paired rounds per sparsity (default 7)")
    p.add_argument("--iterations", type=int, default=20, help="timed calls per kernel per round (default 20)")
    p.add_argument("--max-layers", type=int, default=2, help="with MODEL: largest Linear shapes timed (default 2)")
    p.add_argument("--trust-pickle", action="store_true", help="allow a pickled full PyTorch module")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def _check(args: argparse.Namespace) -> list[str]:
    from engines.errors import WorkbenchError
    from engines.measure.paired import available_cores
    from engines.measure.sparse import KERNELS

    if args.batch < 1 or args.rounds < 1 or args.iterations < 1 or args.max_layers < 1:
        raise WorkbenchError("--batch, --rounds, --iterations and --max-layers must be >= 1")
    if args.threads is not None and not 1 <= args.threads <= available_cores():
        raise WorkbenchError(f"--threads {args.threads}: give 1 to {available_cores()} (the cores this process "
                             "may run on)")
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    bad = [k for k in kernels if k not in KERNELS]
    if bad or not kernels:
        raise WorkbenchError(f"--kernels {args.kernels!r}: choose from {', '.join(KERNELS)}")
    return kernels


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engines.errors import WorkbenchError
    from engines.measure.sparse import measure_crossover, parse_layer, parse_sparsities

    kernels = _check(args)
    sparsities = parse_sparsities(args.sparsities)
    common = dict(sparsities=sparsities, kernels=kernels, batch=args.batch, threads=args.threads,
                  rounds=args.rounds, iterations=args.iterations)
    if args.model:
        if not Path(args.model).exists():
            raise WorkbenchError(f"no such file or folder: {args.model}")
        from engines.measure.sparse_model import model_sparse_report

        report = model_sparse_report(args.model, max_layers=args.max_layers, trust_pickle=args.trust_pickle,
                                     **common)
        results, payload = report.results, report.to_dict()
    else:
        layers = [parse_layer(t) for t in (args.layer or ["bert-base-ffn-up"])]
        results = [measure_crossover(layer, **common) for layer in layers]
        report, payload = None, {"results": [r.to_dict() for r in results]}
    if args.json:
        json.dump(payload, sys.stdout, indent=1)
        print()
        return 0
    if report is not None:
        _print_layers(report)
    for r in results:
        _print_result(r)
    return 0


def _print_layers(report) -> None:
    from pathlib import Path

    groups: Counter = Counter()
    for lay in report.layers:
        fell = [fb for fb in report.fallbacks if fb.layer == lay["name"]]
        for fb in fell:
            groups[(lay["op"], fb.kernel, fb.reason)] += 1
    taken = sum(all(v != "dense" for v in lay["runs"].values()) for lay in report.layers)
    print(f"{Path(report.model).name}: {len(report.layers)} weight layers, {taken} taken by every kernel asked")
    for (op, kernel, why), n in groups.most_common():
        print(f"  {n} {op} layer(s) stay dense for {kernel}: {why}")
    for note in report.notes:
        print(f"note: {note}")


def _print_result(r) -> None:
    print(f"\n{r.layer}: [{r.batch}, {r.in_features}] x [{r.in_features}, {r.out_features}], {r.threads} threads, "
          f"weights {r.weights}")
    kernels = [f.kernel for f in r.points[0].kernels] if r.points else []
    head = f"{'sparsity':>9} {'dense ms':>9}" + "".join(f" {k + ' ms':>9} {k + ' x':>18}" for k in kernels)
    print(head)
    for p in r.points:
        row = f"{p.actual_sparsity:>9.0%} {p.dense_p50_ms:>9.3f}"
        for f in p.kernels:
            iv, val = f.speedup["interval"], f.speedup["value"]
            cell = f"{val:.2f} [{iv[0]:.2f}-{iv[1]:.2f}]"
            row += f" {f.p50_ms:>9.3f} {cell:>18}"
        print(row)
    print(f"crossover: {r.verdict()}")
    for note in r.notes:
        print(f"note: {note}")
    if r.points and r.points[0].load_warning:
        print(f"note: {r.points[0].load_warning}")
