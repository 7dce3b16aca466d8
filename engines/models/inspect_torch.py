"""Inspect PyTorch models: TorchScript (.pt/.pth), torch.export (.pt2), trusted pickles.

MACs and output shapes come from one real forward pass at batch 1 under
``torch.utils.flop_counter.FlopCounterMode`` when the input signature is known
(recorded by the workbench, or in the .pt2 program); never from a guess.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from engines.errors import ModelLoadError, first_line
from engines.models.model_info import ModelInfo, TensorSpec
from engines.models.torch_load import classify_torch_save, load_exported_program, read_extra, torch_file_kind

TORCH_DTYPES = {"float32": "float32", "float16": "float16", "float64": "float64", "bfloat16": "bfloat16",
                "int64": "int64", "int32": "int32", "int8": "int8", "uint8": "uint8", "bool": "bool"}


def _dtype_name(dt: Any) -> str:
    return TORCH_DTYPES.get(str(dt).replace("torch.", ""), str(dt).replace("torch.", ""))


# A probe allocates its inputs from shapes the file declares: 64 Mi values (256 MiB of float32) at most, so a
# few bytes of metadata cannot make inspection allocate gigabytes.
MAX_PROBE_VALUES = 1 << 26


def _probe_shape(spec: TensorSpec, batch: int) -> list[int]:
    return [batch if i == 0 and not isinstance(d, int) else (d if isinstance(d, int) and d > 0 else 1)
            for i, d in enumerate(spec.shape)]


def check_probe_size(specs: list[TensorSpec], batch: int = 1, source: str = "the model") -> None:
    """Refuse, before allocating, inputs whose declared sizes exceed :data:`MAX_PROBE_VALUES`."""
    import math

    total = 0
    for s in specs:
        n = math.prod(_probe_shape(s, batch))
        total += n
        if total > MAX_PROBE_VALUES:
            shape = "[" + ",".join(str(d) for d in _probe_shape(s, batch)) + "]"
            raise ModelLoadError(f"{source} declares input '{s.name}' of shape {shape} ({n:,} values at batch "
                                 f"{batch}), more than the {MAX_PROBE_VALUES:,} values the workbench allocates to "
                                 "probe a model: the file's input metadata is wrong, or export the model to ONNX "
                                 "and inspect that")


def _zeros(specs: list[TensorSpec], batch: int = 1) -> tuple:
    import torch

    check_probe_size(specs, batch)
    return tuple(torch.zeros(_probe_shape(s, batch), dtype=getattr(torch, s.dtype)) for s in specs)


def _count(fn: Any, specs: list[TensorSpec], batch: int, fake: bool) -> tuple[Any, int]:
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mode: Any = contextlib.nullcontext()
    if fake:  # shapes only: no memory, no arithmetic (ResNet-18 in ~0.4 s instead of seconds)
        from torch._subclasses.fake_tensor import FakeTensorMode

        mode = FakeTensorMode(allow_non_fake_inputs=True)
    with torch.no_grad(), mode:
        args = _zeros(specs, batch)
        with FlopCounterMode(display=False) as counter:
            out = fn(*args)
    return out, counter.get_total_flops()


def forward_probe(fn: Any, specs: list[TensorSpec], batch: int = 1) -> tuple[int | None, list[TensorSpec], str | None]:
    """Trace ``fn`` once on zeros (fake tensors first); return (MACs per sample, output specs, error text)."""
    import torch

    try:
        out, flops = _count(fn, specs, batch, fake=True)
    except Exception:  # some ops have no fake-tensor kernel: run it for real
        try:
            out, flops = _count(fn, specs, batch, fake=False)
        except Exception as exc:  # the model's own error on a probe input: report it, keep inspecting
            return None, [], first_line(exc)
    outs = out if isinstance(out, (tuple, list)) else [out]
    dyn_batch = bool(specs) and not isinstance(specs[0].shape[0], int)
    out_specs = []
    for i, t in enumerate(outs):
        if not isinstance(t, torch.Tensor):
            continue
        shape = tuple("batch" if j == 0 and dyn_batch else int(d) for j, d in enumerate(t.shape))
        out_specs.append(TensorSpec(f"output_{i}" if len(outs) > 1 else "output", shape, _dtype_name(t.dtype)))
    return flops // 2 // batch, out_specs, None


def module_summary(module: Any) -> tuple[int, dict[str, int], list[dict[str, Any]]]:
    """Parameter count, leaf-layer histogram and layer table of an nn.Module or ScriptModule."""
    params = sum(p.numel() for p in module.parameters())
    hist: Counter[str] = Counter()
    layers = []
    for name, m in module.named_modules():
        if name == "" or any(True for _ in m.children()):
            continue
        kind = getattr(m, "original_name", None) or type(m).__name__
        hist[kind] += 1
        layers.append({"name": name, "op": kind, "params": sum(p.numel() for p in m.parameters(recurse=False))})
    return int(params), dict(hist.most_common()), layers


def _specs_from_json(items: list[dict[str, Any]]) -> list[TensorSpec]:
    return [TensorSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in items]


def _torch_version() -> str:
    import torch

    return f"torch {torch.__version__.split('+')[0]}"


def inspect_torch(path: Path, *, trust_pickle: bool = False) -> ModelInfo:
    kind = torch_file_kind(path)
    if kind == "torch_export":
        return inspect_torch_export(path, trust_pickle=trust_pickle)
    notes: list[str] = []
    arch = None
    if kind == "torchscript":
        meta = read_extra(path)
        module, arch = meta["module"], meta["arch"]
        fmt = "torchscript"
        if meta["inputs"]:
            inputs = _specs_from_json(meta["inputs"])
        elif arch:
            from engines.models.zoo import input_specs

            inputs = input_specs(arch.split(":")[-1], meta["config"])
        else:
            inputs = _schema_inputs(module)
            notes.append("TorchScript stores no input shapes: MACs and output shapes unknown; "
                         "give an input spec when exporting to ONNX")
    else:
        module = classify_torch_save(path, trust_pickle)
        fmt = "torch_pickle"
        inputs = []
        notes.append("loaded from a pickled full module (--trust-pickle); input shapes unknown")
    params, hist, layers = module_summary(module)
    macs, outputs = None, []
    if inputs and all(s.dtype != "unknown" for s in inputs):
        check_probe_size(inputs, 1, path.name)
        module.eval()
        macs, outputs, err = forward_probe(module, inputs)
        if err:
            notes.append(f"probe forward pass at batch 1 failed: {err}")
    if arch:
        notes.append(f"architecture known ({arch}): structured pruning can rebuild it")
    return ModelInfo(format=fmt, path=str(path), name=path.stem, size_bytes=path.stat().st_size,
                     param_count=params, macs=macs, op_histogram=hist, inputs=inputs, outputs=outputs,
                     framework=_torch_version(), layers=layers, notes=notes, arch=arch)


def _schema_inputs(module: Any) -> list[TensorSpec]:
    try:
        args = module.forward.schema.arguments[1:]
    except Exception:  # not scripted with a schema
        return []
    return [TensorSpec(a.name, ("?",), "unknown") for a in args]


def inspect_torch_export(path: Path, *, trust_pickle: bool = False) -> ModelInfo:
    if torch_file_kind(path) != "torch_export":
        raise ModelLoadError(f"{path.name} is not a torch.export program (.pt2): save it with torch.export.save")
    ep = load_exported_program(path, trust_pickle)
    sig = ep.graph_signature
    user_inputs = set(sig.user_inputs)
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    hist: Counter[str] = Counter()
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            inputs.append(_fake_spec(node.name, node.meta.get("val")))
        elif node.op == "call_function":
            hist[str(getattr(node.target, "__name__", node.target)).split(".")[0]] += 1
        elif node.op == "output":
            vals = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
            for i, v in enumerate(vals):
                if hasattr(v, "meta"):
                    outputs.append(_fake_spec(sig.user_outputs[i] if i < len(sig.user_outputs) else f"output_{i}",
                                              v.meta.get("val")))
    params = sum(t.numel() for name, t in ep.state_dict.items() if name in set(sig.parameters))
    notes = []
    batch = _min_batch(ep)
    check_probe_size([s for s in inputs if s.dtype != "unknown"], batch, path.name)
    macs, _, err = forward_probe(ep.module(), inputs, batch=batch) if inputs else (None, [], None)
    if err:
        notes.append(f"probe forward pass failed: {err}")
    elif batch > 1:
        notes.append(f"MACs measured at batch {batch} (the program's smallest batch) and divided per sample")
    layers = [{"name": n.name, "op": str(getattr(n.target, "__name__", n.target)).split(".")[0]}
              for n in ep.graph.nodes if n.op == "call_function"][:2000]
    return ModelInfo(format="torch_export", path=str(path), name=path.stem, size_bytes=path.stat().st_size,
                     param_count=int(params), macs=macs, op_histogram=dict(hist.most_common()), inputs=inputs,
                     outputs=outputs, framework=_torch_version() + " (torch.export)", layers=layers, notes=notes)


def _fake_spec(name: str, val: Any) -> TensorSpec:
    if val is None or not hasattr(val, "shape"):
        return TensorSpec(name, (), "unknown")
    import torch

    dims: list[int | str] = []
    for i, d in enumerate(val.shape):
        if isinstance(d, torch.SymInt) and not isinstance(d.node.maybe_as_int(), int):
            dims.append("batch" if i == 0 else str(d))
        else:
            dims.append(int(d))
    return TensorSpec(name, tuple(dims), _dtype_name(val.dtype))


def _min_batch(ep: Any) -> int:
    """Smallest batch the program accepts (dynamic dims may be constrained to >= 2)."""
    lows = []
    for rng in ep.range_constraints.values():
        try:
            lows.append(int(rng.lower))
        except (TypeError, ValueError):
            continue
    return max([1] + [lo for lo in lows if lo < 1 << 20])
