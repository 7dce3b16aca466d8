"""Sparse-kernel crossover on real layer shapes; JSON to benchmarks/results/sparse_crossover.json.

For the BERT-base FFN (768->3072 and 3072->768) and the ResNet-50 classifier (2048->1000), a random
weight pruned by magnitude to 50/80/90/95 % is multiplied dense (torch F.linear) and through
torch.sparse CSR and BSR, paired and interleaved (engines.measure.sparse.measure_crossover), at
batch 1 (one request) and batch 32 (e.g. 32 tokens). The crossover is the lowest sparsity from which a
kernel wins with its whole interval above 1.0. CUDA-only (2:4 semi-structured) and AMX-only (OpenVINO
sparse weights decompression) kernels are listed with the reason they were not timed here.

Run: flock /tmp/cpu.lock .venv/bin/python benchmarks/sparse_crossover.py [--rounds 11 --iters 20 --batches 1,32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "sparse_crossover.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--iters", type=int, default=20, help="timed calls per kernel per round")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--layers", default="bert-base-ffn-up,bert-base-ffn-down,resnet50-fc")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
    from engines.fsutil import write_text_atomic
    from engines.measure.sparse import KERNELS, SPARSITIES, measure_crossover, parse_layer, plan_kernel

    t0 = time.perf_counter()
    load_before = os.getloadavg()
    runs = []
    for name in args.layers.split(","):
        layer = parse_layer(name)
        for b in (int(x) for x in args.batches.split(",")):
            r = measure_crossover(layer, sparsities=SPARSITIES, batch=b, threads=args.threads, rounds=args.rounds,
                                  iterations=args.iters)
            runs.append(r.to_dict())
            print(f"{layer.text} batch {b}: {r.verdict()}")
            for pt in r.points:
                cells = ", ".join(f"{f.kernel} {f.p50_ms:.3f} ms ({f.speedup['value']:.2f}x "
                                  f"[{f.speedup['interval'][0]:.2f}-{f.speedup['interval'][1]:.2f}])"
                                  for f in pt.kernels)
                print(f"  {pt.sparsity:.0%}: dense {pt.dense_p50_ms:.3f} ms; {cells}")
    untimed = [plan_kernel(k, "bert-base-ffn-up", (3072, 768)).to_dict() for k in KERNELS
               if k in ("semi-structured", "openvino-sparse")]
    result = {"benchmark": "sparse_crossover",
              "command": ("python benchmarks/sparse_crossover.py " + " ".join(argv or sys.argv[1:])).strip(),
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
              "runs": runs, "not_timed": untimed, "seconds": round(time.perf_counter() - t0, 1)}
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    for u in untimed:
        print(f"not timed: {u['fallback']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
