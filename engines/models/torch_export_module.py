"""An eval-mode, editable ``nn.Module`` from a ``torch.export`` program (.pt2).

``ExportedProgram.module()`` returns a GraphModule whose behaviour was fixed when the program was exported;
torch 2.13 makes its ``train()``/``eval()`` raise ``NotImplementedError``. The supported way to change its
mode is to change the graph: :func:`exported_module` rewrites the training-IR ops that depend on the mode
(``aten.batch_norm``'s ``training`` flag, ``aten.dropout``'s ``train`` flag, the running-statistics counter)
to their eval form, then gives the module back its ordinary ``train``/``eval`` (flags only: the graph is now
eval-mode whichever is set). Programs with mode-dependent ops that cannot be rewritten are refused with the
reason.

With ``modular=True`` the functional ``conv2d``/``linear``/``batch_norm``/``layer_norm`` calls on the
program's own parameters become real ``nn.Conv*``/``nn.Linear``/``nn.BatchNorm*``/``nn.LayerNorm``
submodules, so the pruners (Torch-Pruning's dependency graph, magnitude pruning) see the layers.
"""

from __future__ import annotations

from typing import Any

from engines.errors import UnsupportedError

# ops whose result depends on train/eval and that are not rewritten here (decomposed / functional IR):
# op name -> index of its train flag (None: random in any mode)
_MODE_OPS_REFUSED: dict[str, int | None] = {
    "native_dropout": 2, "_native_batch_norm_legit_functional": 5, "_native_batch_norm_legit": 5,
    "native_batch_norm": 5, "bernoulli": None, "rrelu_with_noise": 4, "feature_dropout": 2, "alpha_dropout": 2,
    "feature_alpha_dropout": 2}
RE_EXPORT_HINT = "re-export it after model.eval() (torch.export.export(model.eval(), args))"


def exported_module(ep: Any, *, modular: bool = False, name: str = "the program") -> Any:
    """``ep.module()`` in eval mode with working ``train``/``eval``; layers as modules when ``modular``."""
    gm = ep.module()
    to_eval(gm, name)
    for attr in ("train", "eval"):  # the instance overrides that raise; nn.Module's own methods remain
        gm.__dict__.pop(attr, None)
    if modular:
        modularize(gm)
    return gm


def to_eval(gm: Any, name: str = "the program") -> int:
    """Rewrite mode-dependent training-IR ops to eval form, in place; return how many were changed."""
    import torch

    aten = torch.ops.aten
    changed = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        target = node.target
        if target is aten.batch_norm.default and len(node.args) > 5 and node.args[5] is True:
            node.args = node.args[:5] + (False,) + node.args[6:]
            changed += 1
        elif target is aten.dropout.default and len(node.args) > 2 and node.args[2] is True:
            node.args = node.args[:2] + (False,)
            changed += 1
        elif target in (aten.add_.Tensor, aten.add_.Scalar) and _is_batch_counter(node.args[0]):
            if not node.users:  # num_batches_tracked += 1: only happens in training
                gm.graph.erase_node(node)
                changed += 1
        else:
            text = str(target)
            if _train_only(node):
                raise UnsupportedError(f"{name} cannot be put in eval mode: it was exported in training mode "
                                       f"and its graph has {text} (a train-only op in decomposed form); "
                                       + RE_EXPORT_HINT)
    if changed:
        gm.graph.lint()
        gm.recompile()
    return changed


def _is_batch_counter(arg: Any) -> bool:
    return getattr(arg, "op", "") == "get_attr" and str(arg.target).endswith("num_batches_tracked")


def _train_only(node: Any) -> bool:
    """A decomposed op that behaves as in training (native_dropout(train=True), batch norm on batch stats)."""
    op = str(node.target).replace("aten.", "").split(".")[0]
    if op not in _MODE_OPS_REFUSED:
        return False
    flag = _MODE_OPS_REFUSED[op]
    if flag is None:
        return True
    return len(node.args) > flag and node.args[flag] is True


def _attr(gm: Any, target: str) -> Any:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _param_node(gm: Any, node: Any) -> Any:
    """The parameter a get_attr node reads, when only this one layer uses it (else None)."""
    import torch

    if getattr(node, "op", "") != "get_attr" or len(node.users) != 1:
        return None
    value = _attr(gm, node.target)
    return value if isinstance(value, torch.Tensor) else None


def modularize(gm: Any) -> int:
    """Replace functional layer calls on parameters by nn modules, in place; return how many."""
    import torch

    aten = torch.ops.aten
    makers = {aten.conv2d.default: _conv, aten.conv1d.default: _conv, aten.conv3d.default: _conv,
              aten.convolution.default: _convolution, aten.linear.default: _linear, aten.batch_norm.default: _batch_norm,
              aten.layer_norm.default: _layer_norm}
    count = 0
    for node in list(gm.graph.nodes):
        make = makers.get(node.target) if node.op == "call_function" else None
        if make is None:
            continue
        built = make(gm, node)
        if built is None:
            continue
        module, consumed = built
        holder = consumed[0].target.rpartition(".")[0]
        for attr_node in consumed:
            _drop_attr(gm, attr_node)
        name = _place(gm, holder, module)
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(name, (node.args[0],))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        for attr_node in consumed:
            gm.graph.erase_node(attr_node)
        count += 1
    if count:
        gm.graph.eliminate_dead_code()
        gm.graph.lint()
        gm.recompile()
    return count


def _place(gm: Any, holder: str, module: Any) -> str:
    """Put ``module`` where its parameters' holder was (when that is now empty), else under a free name."""
    if holder:
        old = _attr(gm, holder)
        if not old._parameters and not old._modules and set(old._buffers) <= {"num_batches_tracked"}:
            if "num_batches_tracked" in old._buffers and hasattr(module, "num_batches_tracked"):
                module.num_batches_tracked.copy_(old._buffers["num_batches_tracked"])
            parent_path, _, leaf = holder.rpartition(".")
            parent = _attr(gm, parent_path) if parent_path else gm
            delattr(parent, leaf)
            gm.add_submodule(holder, module)
            return holder
    name = _free_name(gm, holder)
    gm.add_submodule(name, module)
    return name


def _free_name(gm: Any, base: str) -> str:
    base = base.replace(".", "_") or "layer"
    taken = dict(gm.named_modules())
    name, i = base, 1
    while name in taken or hasattr(gm, name):
        name, i = f"{base}_{i}", i + 1
    return name


def _drop_attr(gm: Any, node: Any) -> None:
    holder_path, _, leaf = node.target.rpartition(".")
    holder = _attr(gm, holder_path) if holder_path else gm
    if leaf in holder._parameters:
        del holder._parameters[leaf]
    elif leaf in holder._buffers:
        del holder._buffers[leaf]


def _args(node: Any, defaults: tuple) -> list:
    args = list(node.args) + list(defaults[len(node.args):])
    return args


def _conv(gm: Any, node: Any) -> tuple[Any, list] | None:
    import torch.nn as nn

    x, w_node, b_node, stride, padding, dilation, groups = _args(node, (None, None, None, 1, 0, 1, 1))
    w = _param_node(gm, w_node)
    b = _param_node(gm, b_node) if b_node is not None else None
    if w is None or (b_node is not None and b is None) or isinstance(padding, str):
        return None
    dims = w.dim() - 2
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    out_c, in_per_group = int(w.shape[0]), int(w.shape[1])
    m = cls(in_per_group * int(groups), out_c, tuple(w.shape[2:]), stride=stride, padding=padding,
            dilation=dilation, groups=int(groups), bias=b is not None)
    m.weight = nn.Parameter(w.detach(), requires_grad=w.requires_grad)
    if b is not None:
        m.bias = nn.Parameter(b.detach(), requires_grad=b.requires_grad)
    return m, [w_node] + ([b_node] if b_node is not None else [])


def _convolution(gm: Any, node: Any) -> tuple[Any, list] | None:
    """The decomposed form: convolution(x, w, b, stride, padding, dilation, transposed, output_padding, groups)."""
    if len(node.args) < 9 or node.args[6]:
        return None
    x, w, b, stride, padding, dilation, _, _, groups = node.args[:9]

    class _Plain:  # the conv2d-style argument list for _conv
        args = (x, w, b, stride, padding, dilation, groups)

    return _conv(gm, _Plain)


def _linear(gm: Any, node: Any) -> tuple[Any, list] | None:
    import torch.nn as nn

    x, w_node, b_node = _args(node, (None, None, None))
    w = _param_node(gm, w_node)
    b = _param_node(gm, b_node) if b_node is not None else None
    if w is None or w.dim() != 2 or (b_node is not None and b is None):
        return None
    m = nn.Linear(int(w.shape[1]), int(w.shape[0]), bias=b is not None)
    m.weight = nn.Parameter(w.detach(), requires_grad=w.requires_grad)
    if b is not None:
        m.bias = nn.Parameter(b.detach(), requires_grad=b.requires_grad)
    return m, [w_node] + ([b_node] if b_node is not None else [])


def _batch_norm(gm: Any, node: Any) -> tuple[Any, list] | None:
    import torch.nn as nn

    x, w_node, b_node, rm_node, rv_node, training, momentum, eps, _ = _args(
        node, (None, None, None, None, None, False, 0.1, 1e-5, False))
    parts = [_param_node(gm, n) if n is not None else None for n in (w_node, b_node, rm_node, rv_node)]
    if training or any(p is None for p in parts):
        return None
    w, b, rm, rv = parts
    val = x.meta.get("val") if hasattr(x, "meta") else None
    rank = val.dim() if val is not None else 4
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}.get(rank)
    if cls is None:
        return None
    m = cls(int(w.shape[0]), eps=float(eps), momentum=float(momentum) if momentum is not None else 0.1)
    m.weight = nn.Parameter(w.detach(), requires_grad=w.requires_grad)
    m.bias = nn.Parameter(b.detach(), requires_grad=b.requires_grad)
    m.running_mean.copy_(rm.detach())
    m.running_var.copy_(rv.detach())
    m.eval()
    consumed = [w_node, b_node, rm_node, rv_node]
    return m, consumed


def _layer_norm(gm: Any, node: Any) -> tuple[Any, list] | None:
    import torch.nn as nn

    x, shape, w_node, b_node, eps, _ = _args(node, (None, None, None, None, 1e-5, True))
    w = _param_node(gm, w_node) if w_node is not None else None
    b = _param_node(gm, b_node) if b_node is not None else None
    if w is None or b is None:
        return None
    m = nn.LayerNorm(list(shape), eps=float(eps))
    m.weight = nn.Parameter(w.detach(), requires_grad=w.requires_grad)
    m.bias = nn.Parameter(b.detach(), requires_grad=b.requires_grad)
    return m, [w_node, b_node]
