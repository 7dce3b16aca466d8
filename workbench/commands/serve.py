"""``workbench serve``: a local inference server (SageMaker's contract) with dynamic batching."""

from __future__ import annotations

import argparse

from workbench.commands import add_input_shape_arg, add_target_args


def add_device_args(p: argparse.ArgumentParser) -> None:
    """--device/--dtype/--trust-pickle, shared by serve and sweep."""
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto (default): CUDA where this model's runtime has a GPU here (ONNX Runtime's CUDA "
                        "provider, a CUDA build of PyTorch, TensorRT), else the CPU")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="PyTorch models run eagerly: cast weights and float inputs (default fp32)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow a pickled PyTorch module or a .pt2 with compiled code from outside a workspace "
                        "(runs code from the file: only for files you trust)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a model or variant over HTTP (GET /ping, POST /invocations)",
                       description="Start a local inference server following SageMaker's container contract "
                                   "(GET /ping, POST /invocations with JSON or NPY), with dynamic batching.")
    add_target_args(p, "an .onnx/.tflite/.xml file, a PyTorch .pt/.pt2, an AOTInductor package or a TensorRT engine")
    add_input_shape_arg(p)
    add_device_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080, SageMaker's)")
    p.add_argument("--max-batch", type=int, default=32, help="largest batch the dynamic batcher builds")
    p.add_argument("--max-delay-ms", type=float, default=5.0, help="longest a request waits for others")
    p.add_argument("--no-batching", action="store_true", help="run every request on its own")
    p.add_argument("--max-queue", type=int, default=256, help="requests waiting before 429 answers")
    p.add_argument("--payload-limit-mb", type=float, default=4.0, help="largest request body (default 4 MB)")
    p.add_argument("--threads", type=int, help="inference threads (default: the cores available to this process)")
    p.set_defaults(handler=run)


def check_args(args: argparse.Namespace) -> None:
    """Refuse numeric options out of range (nan and inf included) with one line naming the option."""
    import math

    from engines.errors import WorkbenchError
    from engines.serving.batcher import MAX_DELAY_MS

    if args.max_batch < 1 or args.max_queue < 1:
        raise WorkbenchError("--max-batch and --max-queue must be >= 1")
    if not (math.isfinite(args.max_delay_ms) and 0 <= args.max_delay_ms <= MAX_DELAY_MS):
        raise WorkbenchError(f"--max-delay-ms must be a number from 0 to {MAX_DELAY_MS:g}, not "
                             f"{args.max_delay_ms:g}")
    if not (math.isfinite(args.payload_limit_mb) and 0 < args.payload_limit_mb <= 1024):
        raise WorkbenchError(f"--payload-limit-mb must be a number above 0 and at most 1024, not "
                             f"{args.payload_limit_mb:g}")
    if not 0 <= args.port <= 65535:
        raise WorkbenchError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.threads is not None and args.threads < 1:
        raise WorkbenchError("--threads must be >= 1")


def run(args: argparse.Namespace) -> int:
    from engines.serving.app import start_server
    from engines.serving.target import open_served_runner, resolve_served

    check_args(args)
    target = resolve_served(args.target, model=args.model, workspace=args.workspace)
    from engines.models.shapes import parse_input_shapes, shape_runner, shapes_text

    overrides = parse_input_shapes(args.input_shape)
    opened, device = open_served_runner(target, device=args.device, threads=args.threads, dtype=args.dtype,
                                        trust_pickle=args.trust_pickle)
    runner = shape_runner(opened, overrides, require=False)
    server = start_server(runner, host=args.host, port=args.port, max_batch=args.max_batch,
                          max_delay_ms=args.max_delay_ms, max_queue=args.max_queue, batching=not args.no_batching,
                          payload_limit=int(args.payload_limit_mb * 1024 * 1024), model_name=target.name)
    batching = "off" if args.no_batching else f"max batch {args.max_batch}, max delay {args.max_delay_ms:g} ms"
    print(f"serving {target.name} ({target.format}) at {server.url}  [{device}; batching {batching}]", flush=True)
    print(f"  curl {server.url}/ping ; POST {server.url}/invocations (application/json or application/x-npy)")
    print(f"  inputs {shapes_text(runner.inputs)}")
    print("  Ctrl+C or SIGTERM stops (requests in flight finish first)", flush=True)
    server.wait()
    return 0
