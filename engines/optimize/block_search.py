"""Which whole blocks of a PyTorch model can be removed, and how to take them out.

Two kinds of block qualify, found by one forward pass (hooks record every module's input and output shape):

- a **residual block with an identity shortcut**: a module called once with one tensor, whose output has the
  input's shape and whose traced graph (``torch.fx``) adds its own input to the result (``out + x``); a block
  whose shortcut is a projection (``downsample(x)``: other channels or stride) does not qualify;
- a **transformer encoder layer**: an element of a ``ModuleList``/``Sequential`` stack of at least two modules
  of the same class, with a LayerNorm and a Linear inside, whose hidden-state output has its input's shape
  (BERT's ``encoder.layer``, ``nn.TransformerEncoder.layers``, the zoo's TinyBert ``layers``).

Taking a block out: a stack element is deleted from its container (the rest renumbered, a recorded layer
count such as ``config.num_hidden_layers`` updated); any other block is replaced by ``nn.Identity``.
:func:`bypassed` does the same reversibly, to measure what a block is worth.
"""

from __future__ import annotations

import contextlib
import operator
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator

from engines.errors import UnsupportedError, WorkbenchError, first_line

RESIDUAL = "residual block (identity shortcut)"
ENCODER = "transformer encoder layer"
LOOKED_FOR = ("residual blocks whose input and output shapes match (an identity shortcut) and transformer "
              "encoder layers in a ModuleList/Sequential stack")


@dataclass
class BlockSearch:
    """The removable blocks of a model, in forward order, and how many of each block class it has."""

    blocks: list[tuple[str, str, str]] = field(default_factory=list)  # (qualified name, kind, class name)
    family: dict[str, int] = field(default_factory=dict)               # class name -> instances in the model

    @property
    def names(self) -> list[str]:
        return [b[0] for b in self.blocks]

    def most_removable(self) -> int:
        """Removable blocks, keeping at least one block of every class (a network with no blocks left is
        refused: all of BERT's layers, or every block of an all-identity residual stack)."""
        per_class: dict[str, int] = {}
        for _, _, cls in self.blocks:
            per_class[cls] = per_class.get(cls, 0) + 1
        return sum(min(n, self.family.get(cls, n) - 1) for cls, n in per_class.items())


def first_tensor(value: Any) -> Any:
    """The first tensor in a module's output (a tensor, a tuple/list, a dict or a transformers ModelOutput)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        for key in ("logits", "last_hidden_state"):
            if isinstance(value.get(key), torch.Tensor):
                return value[key]
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for v in value:
            t = first_tensor(v)
            if t is not None:
                return t
    return None


def call(module: Any, example: Any) -> Any:
    if isinstance(example, (tuple, list)):
        return module(*example)
    if isinstance(example, dict):
        return module(**example)
    return module(example)


def require_module(module: Any) -> None:
    import torch

    if isinstance(module, (torch.jit.ScriptModule, torch.jit.RecursiveScriptModule)) or \
            not isinstance(module, torch.nn.Module):
        raise UnsupportedError("layer/block removal needs the PyTorch module (an nn.Module with its blocks): a "
                               "TorchScript or ONNX graph cannot have blocks taken out; open the model with its "
                               "architecture, or use unstructured pruning")


def _record_shapes(module: Any, example: Any) -> dict[str, tuple[int, list, list]]:
    """name -> (calls, input tensor shapes, first output shape) over one forward pass."""
    import torch

    seen: dict[str, tuple[int, list, list]] = {}
    names = {m: n for n, m in module.named_modules()}

    def hook(mod: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = names.get(mod)
        tensors = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        if not tensors and isinstance(kwargs.get("hidden_states"), torch.Tensor):
            tensors = [list(kwargs["hidden_states"].shape)]
        t = first_tensor(out)
        calls = seen.get(name, (0, [], []))[0] + 1
        seen[name] = (calls, tensors, list(t.shape) if t is not None else [])

    handles = [m.register_forward_hook(hook, with_kwargs=True) for n, m in module.named_modules() if n]
    try:
        with torch.no_grad():
            call(module, example)
    except Exception as exc:
        raise WorkbenchError(f"the model cannot run on the example input ({type(exc).__name__}: "
                             f"{first_line(exc)}): give data of the model's input shape") from exc
    finally:
        for h in handles:
            h.remove()
    return seen


_ADDS = {operator.add, operator.iadd}


def has_identity_shortcut(block: Any) -> bool:
    """True when the block's own forward (its submodules not traced into) adds its first input, unchanged,
    to something: a container of residual blocks is not itself one."""
    import torch

    class Shallow(torch.fx.Tracer):
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            return True

    try:
        graph = Shallow().trace(block)
    except Exception:  # noqa: BLE001 - untraceable blocks simply do not qualify as residual
        return False
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if not inputs:
        return False
    x = inputs[0]
    for node in graph.nodes:
        is_add = (node.op == "call_function" and (node.target in _ADDS or node.target in (torch.add,))) or \
                 (node.op == "call_method" and node.target in ("add", "add_"))
        if is_add and any(a is x for a in node.args[:2]):
            return True
    return False


def _is_encoder_layer(module: Any, parent: Any) -> bool:
    import torch.nn as nn

    if not isinstance(parent, (nn.ModuleList, nn.Sequential)) or isinstance(module, (nn.ModuleList, nn.Sequential)):
        return False
    same = sum(type(m) is type(module) for m in parent.children())
    inner = list(module.modules())
    return same >= 2 and any(isinstance(m, nn.LayerNorm) for m in inner) and any(isinstance(m, nn.Linear)
                                                                                  for m in inner)


def _parent(module: Any, name: str) -> tuple[Any, str]:
    head, _, leaf = name.rpartition(".")
    return (module.get_submodule(head) if head else module), leaf


def find_blocks(module: Any, example: Any) -> BlockSearch:
    """The removable blocks of ``module`` (outermost first), found by one forward pass on ``example``."""
    require_module(module)
    was_training = module.training
    module.eval()
    try:
        shapes = _record_shapes(module, example)
    finally:
        module.train(was_training)
    search = BlockSearch()
    for name, m in module.named_modules():
        search.family[type(m).__name__] = search.family.get(type(m).__name__, 0) + 1
    for name, m in module.named_modules():
        if not name or name not in shapes or any(name.startswith(b + ".") for b in search.names):
            continue
        calls, ins, out = shapes[name]
        if calls != 1 or not ins or not out or ins[0] != out:
            continue
        parent, _ = _parent(module, name)
        if _is_encoder_layer(m, parent):
            search.blocks.append((name, ENCODER, type(m).__name__))
        elif len(ins) == 1 and has_identity_shortcut(m):
            search.blocks.append((name, RESIDUAL, type(m).__name__))
    return search


def _take_out(module: Any, names: list[str]) -> list[tuple[Any, str, Any]]:
    """Remove ``names`` in place; return what :func:`_put_back` needs to undo it."""
    import torch.nn as nn

    undo: list[tuple[Any, str, Any]] = []
    by_parent: dict[int, tuple[Any, list[str]]] = {}
    for name in names:
        parent, leaf = _parent(module, name)
        by_parent.setdefault(id(parent), (parent, []))[1].append(leaf)
    for parent, leaves in by_parent.values():
        if isinstance(parent, (nn.ModuleList, nn.Sequential)):
            undo.append((parent, "_modules", parent._modules))
            kept = [m for k, m in parent._modules.items() if k not in leaves]
            parent._modules = OrderedDict((str(i), m) for i, m in enumerate(kept))
        else:
            for leaf in leaves:
                undo.append((parent, leaf, getattr(parent, leaf)))
                setattr(parent, leaf, nn.Identity())
    return undo


def _put_back(undo: list[tuple[Any, str, Any]]) -> None:
    for parent, attr, value in reversed(undo):
        if attr == "_modules":
            parent._modules = value
        else:
            setattr(parent, attr, value)


@contextlib.contextmanager
def bypassed(module: Any, names: list[str]) -> Iterator[Any]:
    """``module`` with the blocks ``names`` taken out, put back on exit."""
    undo = _take_out(module, names)
    try:
        yield module
    finally:
        _put_back(undo)


def remove_in_place(module: Any, names: list[str]) -> None:
    """Take ``names`` out for good; a recorded layer count (``config.num_hidden_layers``, ``num_layers``)
    that matched a stack's old length follows its new length."""
    import torch.nn as nn

    before = {id(c): len(c) for c in module.modules() if isinstance(c, (nn.ModuleList, nn.Sequential))}
    _take_out(module, names)
    for owner in module.modules():
        for child in owner.children():
            if not isinstance(child, (nn.ModuleList, nn.Sequential)) or before.get(id(child)) == len(child):
                continue
            old = before.get(id(child))
            config = getattr(owner, "config", None) or getattr(module, "config", None)
            if config is not None and getattr(config, "num_hidden_layers", None) == old:
                config.num_hidden_layers = len(child)
            if getattr(owner, "num_layers", None) == old:
                owner.num_layers = len(child)
