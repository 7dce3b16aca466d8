"""ONNX Runtime offline-optimized models, with a report of what the optimizer fused.

ONNX Runtime rewrites a graph when it opens a session (constant folding,
Conv+BatchNorm folding, Conv+activation → FusedConv, MatMul+Add → Gemm,
LayerNorm/Attention/Gelu fusions, the NCHWc blocked layout). Setting
``SessionOptions.optimized_model_filepath`` saves the rewritten graph, so a
deployment opens it without paying for the optimization again.

Levels: ``extended`` is portable across machines running the same execution
provider; ``layout`` and ``all`` add the NCHWc layout transform, which is
**specific to this machine's CPU** (its SIMD width): such a file should run only
where it was made. The optimization runs in a child process (see
:mod:`engines.build.subproc`) so it can be cancelled and time-limited, and the
file is written atomically.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from engines.errors import UnsupportedError, WorkbenchError
from engines.fsutil import atomic_path, write_text_atomic
from engines.tasks import TaskContext, ensure_task

LEVELS = ("basic", "extended", "layout", "all")
HARDWARE_SPECIFIC_LEVELS = ("layout", "all")
ORT_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.preview.training",
               "com.ms.internal.nhwc", "org.pytorch.aten"}
HARDWARE_NOTE = ("optimized at level '{level}' with the NCHWc layout for this CPU: the saved model is "
                 "hardware-specific, run it only on this machine type (use 'extended' for a portable file)")

# (label, ops that must appear after, ops that disappear) — inferred from op-type differences
_FUSION_RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("MatMul+Add → Gemm", ("Gemm",), ("MatMul", "Add")),
    ("MatMul(+Transpose/Mul) → FusedMatMul", ("FusedMatMul",), ("MatMul",)),
    ("Gemm+activation → FusedGemm", ("FusedGemm",), ("Relu", "Sigmoid", "Tanh", "LeakyRelu")),
    ("LayerNorm subgraph → LayerNormalization", ("LayerNormalization",), ("ReduceMean", "Pow", "Sqrt", "Div")),
    ("Add+LayerNorm → SkipLayerNormalization", ("SkipLayerNormalization",), ("Add", "LayerNormalization")),
    ("RMSNorm → SimplifiedLayerNormalization", ("SimplifiedLayerNormalization",), ("ReduceMean", "Pow")),
    ("Attention subgraph → Attention", ("Attention",), ("Softmax", "MatMul")),
    ("Attention subgraph → MultiHeadAttention", ("MultiHeadAttention",), ("Softmax", "MatMul")),
    ("Gelu subgraph → Gelu", ("Gelu",), ("Erf", "Div", "Mul")),
    ("Add+Gelu → BiasGelu", ("BiasGelu",), ("Add", "Gelu")),
    ("Gelu approximation → FastGelu", ("FastGelu",), ("Tanh", "Mul", "Pow")),
    ("QDQ+Conv → QLinearConv", ("QLinearConv",), ("DequantizeLinear", "Conv")),
    ("QDQ+MatMul → QLinearMatMul", ("QLinearMatMul",), ("DequantizeLinear", "MatMul")),
    ("QDQ+MatMul → MatMulIntegerToFloat", ("MatMulIntegerToFloat",), ("MatMulInteger", "MatMul")),
    ("QDQ+Gemm → QGemm", ("QGemm",), ("DequantizeLinear", "Gemm")),
    ("QDQ+pooling → NHWC quantized pool", ("NhwcMaxPool", "QLinearAveragePool", "QLinearGlobalAveragePool"),
     ("DequantizeLinear", "MaxPool", "AveragePool", "GlobalAveragePool")),
    ("QDQ+Add/Mul → QLinearAdd/QLinearMul", ("QLinearAdd", "QLinearMul"), ("DequantizeLinear", "Add", "Mul")),
    ("NCHWc blocked layout (hardware-specific)", ("nchwc:Conv",), ("Conv",)),
]
_FOLDED_RULES: list[tuple[str, str]] = [
    ("BatchNormalization", "BatchNorm folded into Conv/Gemm"),
    ("Identity", "Identity nodes removed"),
    ("Dropout", "Dropout removed (inference)"),
    ("Shape", "shape computations constant-folded"),
    ("Cast", "redundant Casts removed"),
    ("Transpose", "Transposes fused or cancelled"),
]


def _op_key(domain: str, op: str) -> str:
    if domain == "com.microsoft.nchwc":
        return f"nchwc:{op}"
    return op


def op_counts(model_path: str | os.PathLike) -> Counter:
    """Histogram of node op types (NCHWc ops prefixed ``nchwc:``), without loading external weights."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return Counter(_op_key(n.domain, n.op_type) for n in model.graph.node)


def fusion_report(before: str | os.PathLike, after: str | os.PathLike, level: str) -> dict[str, Any]:
    """Op counts before and after optimization and the fusions inferred from their difference."""
    import onnx

    ops_before, ops_after = op_counts(before), op_counts(after)
    fusions: list[dict[str, Any]] = []
    for label, appear, vanish in _FUSION_RULES:
        gained = sum(max(0, ops_after[o] - ops_before[o]) for o in appear)
        lost = sum(max(0, ops_before[o] - ops_after[o]) for o in vanish)
        if gained and lost:
            fusions.append({"fusion": label, "count": gained})
    for op, label in _FOLDED_RULES:
        gone = ops_before[op] - ops_after[op]
        if gone > 0:
            fusions.append({"fusion": label, "count": gone})
    # ORT names many fused nodes "<first node>/<FusionName>": count those names too
    named = Counter()
    act_fused = 0
    for node in onnx.load(str(after), load_external_data=False).graph.node:
        if node.op_type in ("FusedConv", "Conv") and any(a.name == "activation" for a in node.attribute):
            act_fused += 1
        m = re.search(r"/([A-Za-z0-9]+Fusion)(?:_\d+)?$", node.name)
        if m:
            named[m.group(1)] += 1
    if act_fused:
        fusions.insert(0, {"fusion": "Conv+activation → one fused Conv", "count": act_fused})
    nodes_before, nodes_after = sum(ops_before.values()), sum(ops_after.values())
    return {
        "level": level,
        "nodes_before": nodes_before,
        "nodes_after": nodes_after,
        "ops_before": dict(sorted(ops_before.items())),
        "ops_after": dict(sorted(ops_after.items())),
        "removed": {k: ops_before[k] - ops_after[k] for k in sorted(ops_before) if ops_before[k] > ops_after[k]},
        "added": {k: ops_after[k] - ops_before[k] for k in sorted(ops_after) if ops_after[k] > ops_before[k]},
        "fusions": fusions,
        "named_fusions": dict(sorted(named.items())),
        "hardware_specific": level in HARDWARE_SPECIFIC_LEVELS and any(k.startswith("nchwc:") for k in ops_after),
    }


def check_ort_ops(model_path: str | os.PathLike) -> None:
    """Refuse, naming the node, an op from a domain ONNX Runtime has no kernels for."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    local = {f.domain for f in model.functions}
    for i, node in enumerate(model.graph.node):
        if node.domain not in ORT_DOMAINS and node.domain not in local:
            name = node.name or f"#{i}"
            raise UnsupportedError(f"node {name!r} ({node.domain}::{node.op_type}) is a custom operator ONNX Runtime "
                                   "cannot run: replace it with standard ONNX ops or register its custom-op "
                                   "library, then build again")


def optimize_onnx(src: str | os.PathLike, dst: str | os.PathLike, *, level: str = "all", device: str = "cpu",
                  timeout_s: float | None = None, memory_limit_mb: int | None = None,
                  task: TaskContext | None = None,
                  report_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Save ONNX Runtime's optimized graph of ``src`` to ``dst``; return the fusion report.

    The report is also written (atomically) to ``report_path`` when given.
    """
    from engines.build.subproc import run_step

    if level not in LEVELS:
        raise WorkbenchError(f"unknown ONNX Runtime optimization level {level!r}: choose {', '.join(LEVELS)}")
    task = ensure_task(task)
    src, dst = Path(src).resolve(), Path(dst).resolve()
    check_ort_ops(src)
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        from engines.build.ort_cuda import require_cuda_ep

        require_cuda_ep()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    task.report(0.05, f"optimizing graph (level {level}) with ONNX Runtime")
    with atomic_path(dst) as tmp:
        run_step("engines.build.ort_optimize:child_optimize",
                 {"src": str(src), "dst": str(tmp), "level": level, "providers": providers},
                 what="ONNX Runtime optimization", timeout_s=timeout_s, memory_limit_mb=memory_limit_mb,
                 task=task.sub(0.05, 0.85))
        task.check()
    task.report(0.9, "comparing op counts")
    report = fusion_report(src, dst, level)
    report["device"] = device
    if report["hardware_specific"]:
        report["note"] = HARDWARE_NOTE.format(level=level)
    if report_path is not None:
        import json

        write_text_atomic(report_path, json.dumps(report, indent=1))
    task.report(1.0, f"{report['nodes_before']} → {report['nodes_after']} nodes")
    return report


def child_optimize(report: Callable[[float, str], None], src: str, dst: str, level: str,
                   providers: list[str]) -> dict[str, Any]:
    """Runs in the child process: open a session that saves its optimized graph to ``dst``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "layout": ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    so.optimized_model_filepath = dst
    so.log_severity_level = 3
    if Path(src).stat().st_size > 1_800_000_000:  # protobuf's 2 GB limit: keep weights in a side file
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    Path(dst).name + ".data")
    report(0.1, "loading model")
    try:
        ort.InferenceSession(src, so, providers=providers)
    except Exception as exc:
        raise _ort_error(exc) from exc
    report(1.0, "optimized graph saved")
    return {"ok": True}


def _ort_error(exc: Exception) -> WorkbenchError:
    text = " ".join(str(exc).split())
    node = re.search(r"node with name '([^']*)'", text) or re.search(r"Node \(([^)]*)\)", text)
    if "NOT_IMPLEMENTED" in text or "Could not find an implementation" in text:
        where = f"node {node.group(1)!r}" if node else "a node"
        op = re.search(r"implementation for (\S+)", text)
        what = f" ({op.group(1)})" if op else ""
        return UnsupportedError(f"ONNX Runtime has no kernel for {where}{what}: change the op or its types "
                                "(e.g. keep that node in float32), then build again")
    if node:
        return WorkbenchError(f"ONNX Runtime rejected node {node.group(1)!r}: {text[:300]}")
    return WorkbenchError(f"ONNX Runtime could not optimize the model: {text[:300]}")
