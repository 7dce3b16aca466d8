"""Multiply-accumulate estimate for an ONNX graph, from inferred shapes.

Counts the ops that dominate compute: Conv / ConvTranspose (and their
quantized forms), Gemm, MatMul (and MatMulInteger / QLinearMatMul /
MatMulNBits). Dynamic dimensions are taken as 1 (batch 1) and the caller is
told which, so nothing is ever allocated from a shape.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from math import prod
from typing import Any

CONV_OPS = {"Conv", "ConvInteger", "QLinearConv", "NhwcConv", "FusedConv"}
MATMUL_OPS = {"MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "MatMulNBits"}


@dataclass
class MacEstimate:
    total: int
    per_node: dict[str, int] = field(default_factory=dict)
    dynamic_dims: list[str] = field(default_factory=list)   # symbolic dims of graph inputs, taken as 1
    inner_unknown: int = 0                                  # intermediate dims shape inference left open
    unknown_nodes: list[str] = field(default_factory=list)  # compute nodes whose shapes were not inferred


def shape_table(model: Any) -> tuple[dict[str, list[int]], list[str], int]:
    """name -> concrete shape (dynamic dims as 1), input dim names taken as 1, count of other open dims."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception:  # shape inference is a best effort; fall back to the declared shapes
        inferred = model
    g = inferred.graph
    shapes: dict[str, list[int]] = {}
    dynamic: list[str] = []
    for vi in g.input:
        for d in vi.type.tensor_type.shape.dim:
            if not (d.HasField("dim_value") and d.dim_value > 0) and (d.dim_param or "?") not in dynamic:
                dynamic.append(d.dim_param or "?")
    inner = 0
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = []
        for d in t.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
                continue
            value = _eval_dim(d.dim_param, set(dynamic)) if d.dim_param else None
            if value is None:
                inner += 1
            dims.append(value or 1)
        shapes[vi.name] = dims
    for init in g.initializer:
        shapes[init.name] = [int(x) for x in init.dims]
    for node in g.node:
        if node.op_type == "Constant" and node.output:
            for a in node.attribute:
                if a.name == "value" and a.HasField("t"):
                    shapes[node.output[0]] = [int(x) for x in a.t.dims]
    return shapes, dynamic, inner


def _eval_dim(expr: str, names: set[str]) -> int | None:
    """Value of a symbolic dim with every input dim name taken as 1 ("batch", "2*batch"), else None."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return 1
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
            a, b = ev(node.left), ev(node.right)
            ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            return ops.get(type(node.op), a // b if b else 0)
        raise ValueError(expr)

    try:
        value = ev(tree)
    except (ValueError, RecursionError):
        return None
    return value if value > 0 else None


def _attr_int(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def node_macs(node: Any, shapes: dict[str, list[int]]) -> int | None:
    """MACs of one node, 0 for ops not counted, None if a needed shape is unknown."""
    op = node.op_type
    outs = shapes.get(node.output[0]) if node.output else None
    if op in CONV_OPS:
        w_index = 3 if op == "QLinearConv" else 1
        w = shapes.get(node.input[w_index]) if len(node.input) > w_index else None
        if outs is None or w is None:
            return None
        return prod(outs) * prod(w[1:])
    if op == "ConvTranspose":
        x = shapes.get(node.input[0])
        w = shapes.get(node.input[1]) if len(node.input) > 1 else None
        if x is None or w is None:
            return None
        return prod(x) * prod(w[1:])
    if op == "Gemm":
        a = shapes.get(node.input[0])
        if outs is None or a is None or len(a) != 2:
            return None
        k = a[0] if _attr_int(node, "transA", 0) else a[1]
        return prod(outs) * k
    if op in MATMUL_OPS:
        if op == "MatMulNBits":
            k = _attr_int(node, "K", 0)
            return prod(outs) * k if outs is not None and k else None
        a = shapes.get(node.input[0])
        if outs is None or a is None or not a:
            return None
        return prod(outs) * a[-1]
    return 0


def estimate_macs(model: Any) -> MacEstimate:
    shapes, dynamic, inner = shape_table(model)
    total = 0
    per_node: dict[str, int] = {}
    unknown: list[str] = []
    for i, node in enumerate(model.graph.node):
        m = node_macs(node, shapes)
        key = node.name or f"{node.op_type}_{i}"
        if m is None:
            unknown.append(key)
        elif m:
            per_node[key] = m
            total += m
    return MacEstimate(total, per_node, dynamic, inner, unknown)
