"""``workbench k8s export VARIANT ...`` and ``workbench k8s validate FILE...``: KServe + HPA, checked offline."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.commands import add_target_args


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "k8s", help="export a KServe InferenceService + HorizontalPodAutoscaler for a variant; validate manifests",
        description="Write a KServe InferenceService (Triton runtime over an exported model repository, or the "
                    "workbench's own server image) and an autoscaling/v2 HPA whose target is the measured "
                    "per-replica throughput within a latency budget, validated offline against the KServe CRD "
                    "and Kubernetes schemas. No cluster is contacted.")
    sub = p.add_subparsers(dest="k8s_cmd", metavar="ACTION", required=True)
    ex = sub.add_parser("export", help="write the manifests (and the Triton model repository) to --out")
    add_target_args(ex, "an .onnx model")
    ex.add_argument("--out", required=True, help="new folder to write (refused if it exists)")
    ex.add_argument("--runtime", choices=["triton", "workbench"], default="triton")
    ex.add_argument("--storage-uri", required=True,
                    help="where the pods fetch the model: the uploaded model_repository (Triton) or model folder")
    ex.add_argument("--image", help="--runtime workbench: an image with workbench installed")
    ex.add_argument("--latency-budget", type=float, required=True, metavar="MS", help="p99 budget per request")
    ex.add_argument("--peak-rps", type=float, required=True, help="peak requests per second to serve")
    ex.add_argument("--safety", type=float, default=0.7, help="share of measured throughput the HPA aims at")
    ex.add_argument("--min-replicas", type=int, default=1)
    ex.add_argument("--max-replicas", type=int, default=None, help="default: what the peak needs")
    ex.add_argument("--memory-mb", type=int, default=None, help="pod memory (default: measured peak RSS x 1.5)")
    ex.add_argument("--name", help="InferenceService name (DNS-1123, default from the variant)")
    ex.add_argument("--namespace", default="default")
    ex.add_argument("--json", action="store_true")
    va = sub.add_parser("validate", help="validate Kubernetes/KServe YAML files offline")
    va.add_argument("files", nargs="+", metavar="FILE")
    va.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engines.deploy.k8s_export import export_k8s, validate_files

    if args.k8s_cmd == "validate":
        found = validate_files(args.files)
        if args.json:
            json.dump(found, sys.stdout, indent=1)
            print()
        else:
            for key, problems in found.items():
                print(f"{key}: {'valid' if not problems else 'INVALID'}")
                for prob in problems:
                    print(f"  {prob}")
        return 2 if any(found.values()) else 0
    from engines.measure.figures import resolve_target

    target = resolve_target(args.target, workspace=args.workspace, model=args.model)
    out = export_k8s(target, args.out, runtime=args.runtime, storage_uri=args.storage_uri,
                     latency_budget_ms=args.latency_budget, peak_rps=args.peak_rps, name=args.name,
                     namespace=args.namespace, image=args.image, safety=args.safety,
                     min_replicas=args.min_replicas, max_replicas=args.max_replicas, memory_mb=args.memory_mb)
    if args.json:
        json.dump(out.to_dict(), sys.stdout, indent=1, default=str)
        print()
        return 0
    c = out.capacity
    print(f"wrote {out.out_dir}: {', '.join(out.files[:6])}{' ...' if len(out.files) > 6 else ''}")
    print(f"per replica {c['per_replica_rps']:.1f} req/s ({c['basis']}); HPA target {c['target_rps']:.1f} req/s "
          f"per pod, {c['min_replicas']}..{c['max_replicas']} replicas")
    for n in out.notes:
        print(f"  note: {n}")
    print("validated offline: InferenceService against KServe v0.20.0's CRD schema, HPA with kubernetes-validate")
    return 0
