"""Concrete input shapes: ``--input-shape`` parsing, dims from the data, and feeds for every input.

A model's dynamic dimensions other than the batch (dim 0) are never taken as 1 silently: they come from the
data's shape when there is data, else from ``--input-shape name=1x128`` (``name=1x3x224x224:float32`` also
sets the dtype of a TorchScript input that records none; several are given comma-separated or by repeating
the option). Inputs that share a dimension name (``attention_mask`` and ``input_ids`` sharing ``sequence``)
share its value. Feeds for the other inputs get meaningful values: masks are ones, token type ids zeros,
position ids ``0..n-1``, token ids within the vocabulary when the graph tells it (the rows of the embedding
they index), floats standard normal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

import numpy as np

from engines.errors import DataError, first_line
from engines.models.model_info import TensorSpec

OPTION = "--input-shape"
_DTYPES = {"float32", "float16", "float64", "bfloat16", "int64", "int32", "int8", "uint8", "bool"}
_ITEM = re.compile(r"^(?:(?P<name>[^=\s]+)=)?(?P<dims>\d+(?:[x×*]\d+)*)(?::(?P<dtype>\w+))?$")
DEFAULT_ID_RANGE = 100  # token ids when the vocabulary is not known from the graph


@dataclass(frozen=True)
class ShapeOverride:
    name: str            # "" = the first input
    dims: tuple[int, ...]
    dtype: str | None = None

    def text(self) -> str:
        return (f"{self.name}=" if self.name else "") + "x".join(map(str, self.dims)) + \
            (f":{self.dtype}" if self.dtype else "")


def parse_input_shapes(value: str | Iterable[str] | None) -> list[ShapeOverride]:
    """``"input_ids=1x128,attention_mask=1x128"`` (or a list of such) -> overrides; one-line error if bad."""
    if value is None:
        return []
    texts = [value] if isinstance(value, str) else list(value)
    out: list[ShapeOverride] = []
    for text in texts:
        for item in (t.strip() for t in str(text).split(",")):
            if not item:
                continue
            m = _ITEM.match(item)
            if m is None:
                raise DataError(f"{OPTION} {item!r} does not parse: write NAME=1x128 (dims joined by x, "
                                "optionally :dtype, e.g. x=1x3x224x224:float32)")
            dims = tuple(int(d) for d in re.split(r"[x×*]", m["dims"]))
            if any(d < 1 for d in dims):
                raise DataError(f"{OPTION} {item!r}: every dimension must be >= 1")
            dtype = m["dtype"]
            if dtype is not None and dtype not in _DTYPES:
                raise DataError(f"{OPTION} {item!r}: unknown dtype {dtype!r}; use one of {', '.join(sorted(_DTYPES))}")
            name = m["name"] or ""
            if any(o.name == name for o in out):
                raise DataError(f"{OPTION} gives {name or 'the first input'} twice: give each input once")
            out.append(ShapeOverride(name, dims, dtype))
    return out


def _unknown(spec: TensorSpec) -> bool:
    return spec.dtype == "unknown" or spec.shape == ("?",)


def _is_open(d: Any) -> bool:
    return not isinstance(d, int) or d < 1


def _bind(spec: TensorSpec, dims: Sequence[int], symbols: dict[str, int], origin: str) -> TensorSpec:
    """``spec`` with its open non-batch dims set from ``dims`` (static dims must agree)."""
    if len(dims) != len(spec.shape):
        raise DataError(f"{origin} has rank {len(dims)} but input '{spec.name}' is {spec.shape_text()} "
                        f"(rank {len(spec.shape)}): give all {len(spec.shape)} dims")
    shape: list[Any] = [spec.shape[0]]
    for axis in range(1, len(dims)):
        want, have = spec.shape[axis], int(dims[axis])
        if not _is_open(want):
            if want != have:
                raise DataError(f"{origin} does not match input '{spec.name}' {spec.shape_text()} "
                                f"(axis {axis}: {have} vs {want})")
            shape.append(want)
            continue
        if isinstance(want, str) and want not in ("?", ""):
            if symbols.get(want, have) != have:
                raise DataError(f"{origin} gives '{want}' = {have} but another input has it = {symbols[want]}")
            symbols[want] = have
        shape.append(have)
    return replace(spec, shape=tuple(shape))


def resolve_inputs(inputs: Sequence[TensorSpec], overrides: Sequence[ShapeOverride] = (),
                   data: np.ndarray | None = None) -> list[TensorSpec]:
    """Input specs with non-batch dynamic dims made concrete from ``overrides`` and ``data`` (first input).

    TorchScript inputs with no recorded shape take the override's (or the data's) shape and dtype. Raises
    :class:`DataError` naming ``--input-shape`` on a name that is not an input or a shape that contradicts
    the model or the data. Dims nothing tells stay open (see :func:`open_dims`).
    """
    specs = list(inputs)
    if not specs:
        return specs
    by_name = {s.name: i for i, s in enumerate(specs)}
    symbols: dict[str, int] = {}
    done: set[int] = set()
    for o in overrides:
        if o.name and o.name not in by_name:
            raise DataError(f"{OPTION} names '{o.name}' but the model's inputs are "
                            f"{', '.join(by_name) or 'none'}: use one of those names")
        i = by_name[o.name] if o.name else 0
        spec = specs[i]
        if _unknown(spec):
            spec = TensorSpec(spec.name, ("batch",) + tuple(o.dims[1:]), o.dtype or "float32")
        elif o.dtype and o.dtype != spec.dtype:
            raise DataError(f"{OPTION} {o.text()} sets dtype {o.dtype} but input '{spec.name}' is {spec.dtype}")
        specs[i] = _bind(spec, o.dims, symbols, f"{OPTION} {o.text()}")
        done.add(i)
    if data is not None:
        first = specs[0]
        data_shape = tuple(int(d) for d in data.shape)
        if _unknown(first):
            specs[0] = TensorSpec(first.name, ("batch",) + data_shape[1:], str(data.dtype))
        elif len(data_shape) == len(first.shape):  # a mismatch with the model is validate_data's to refuse
            declared = inputs[0]
            if 0 in done:
                given = next(o for o in overrides if (o.name or declared.name) == declared.name)
                for axis in range(1, len(data_shape)):
                    from_option = _unknown(declared) or _is_open(declared.shape[axis])
                    if from_option and first.shape[axis] != data_shape[axis]:
                        raise DataError(f"data x of shape {list(data_shape)} contradicts {OPTION} {given.text()} "
                                        f"(axis {axis}: {data_shape[axis]} vs {first.shape[axis]}): "
                                        f"drop {OPTION} or give data of that shape")
            for axis in range(1, len(data_shape)):
                d = first.shape[axis]
                if isinstance(d, str) and d not in ("?", ""):
                    symbols.setdefault(d, data_shape[axis])
            specs[0] = replace(first, shape=(first.shape[0],) + tuple(
                data_shape[a] if _is_open(first.shape[a]) else first.shape[a] for a in range(1, len(data_shape))))
    return _share(specs, symbols)


def _share(specs: list[TensorSpec], symbols: dict[str, int]) -> list[TensorSpec]:
    """Open dims named like a resolved one take its value; same-rank int inputs follow the first input."""
    first = specs[0]
    out = []
    for idx, spec in enumerate(specs):
        if _unknown(spec):
            out.append(spec)
            continue
        shape = list(spec.shape)
        for axis in range(1, len(shape)):
            d = shape[axis]
            if isinstance(d, str) and d in symbols:
                shape[axis] = symbols[d]
            elif (_is_open(d) and idx and not spec.dtype.startswith("float") and len(spec.shape) == len(first.shape)
                  and isinstance(first.shape[axis], int) and first.shape[axis] > 0):
                shape[axis] = first.shape[axis]  # attention_mask [batch, s1] beside input_ids [batch, s0]
        out.append(replace(spec, shape=tuple(shape)))
    return out


def open_dims(inputs: Sequence[TensorSpec]) -> list[str]:
    """``"name (axis 1: sequence)"`` for each non-batch dim still unknown, and inputs with no shape at all."""
    out = []
    for s in inputs:
        if _unknown(s):
            out.append(f"{s.name} (no recorded shape)")
            continue
        out += [f"{s.name} (axis {a}: {d})" for a, d in enumerate(s.shape) if a and _is_open(d)]
    return out


def require_concrete(inputs: Sequence[TensorSpec], model_name: str) -> None:
    """Refuse, naming the option, when a shape the measurements need is unknown."""
    missing = open_dims(inputs)
    if not missing:
        return
    example = ",".join(f"{s.name}=" + "x".join("1" if not a else (str(d) if not _is_open(d) else "128")
                                               for a, d in enumerate(s.shape if not _unknown(s) else (0, 3, 224, 224)))
                       for s in inputs if any(m.startswith(s.name + " ") for m in missing))
    raise DataError(f"{model_name}: the shape of {', '.join(missing[:4])} is not known: pass "
                    f"{OPTION} {example} (or --data with x of the real shape); it is never assumed to be 1")


def shapes_text(inputs: Sequence[TensorSpec]) -> str:
    return ", ".join(f"{s.name} {s.shape_text()}" for s in inputs)


def symbol_values(inputs: Sequence[TensorSpec], declared: Sequence[TensorSpec]) -> dict[str, int]:
    """Dim name -> value, pairing resolved specs with the model's declared ones (for MAC estimates)."""
    out: dict[str, int] = {}
    for got, want in zip(inputs, declared):
        for a, (g, w) in enumerate(zip(got.shape, want.shape)):
            if a and isinstance(w, str) and isinstance(g, int):
                out[w] = g
    return out


# ---------------------------------------------------------------------------------------------- feeds

def _fill_kind(spec: TensorSpec) -> str:
    name = spec.name.lower()
    if spec.dtype.startswith("float") or spec.dtype == "bfloat16":
        return "mask" if "mask" in name else "normal"
    if "mask" in name:
        return "ones"
    if "token_type" in name or "segment" in name:
        return "zeros"
    if "position" in name:
        return "positions"
    return "bool" if spec.dtype == "bool" else "ids"


def _feed(spec: TensorSpec, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    kind = _fill_kind(spec)
    dtype = spec.dtype if spec.dtype != "bfloat16" else "float32"
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    if kind in ("mask", "ones"):
        return np.ones(shape, dtype=dtype)
    if kind == "zeros":
        return np.zeros(shape, dtype=dtype)
    if kind == "positions":
        return np.broadcast_to(np.arange(shape[-1] if shape else 1), shape).astype(dtype).copy()
    if kind == "bool":
        return np.ones(shape, dtype=bool) if "mask" in spec.name.lower() else rng.integers(0, 2, shape).astype(bool)
    high = spec.vocab or DEFAULT_ID_RANGE
    return rng.integers(0, max(1, high), shape).astype(dtype)


def make_feeds(inputs: Sequence[TensorSpec], batch: int = 1, seed: int = 0,
               data: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Feeds for every input: rows of ``data`` (tiled to ``batch``) for the first, meaningful values otherwise.

    The other inputs' dynamic dims follow the data's (by dim name, or by position for same-rank integer
    inputs such as masks); a dim nothing tells is 1 only where no data and no ``--input-shape`` was given
    (callers that measure refuse that case first with :func:`require_concrete`).
    """
    rng = np.random.default_rng(seed)
    specs = list(inputs)
    if data is not None and specs and not _unknown(specs[0]) and data.ndim == len(specs[0].shape):
        try:
            specs = resolve_inputs(specs, (), data)
        except DataError:
            pass  # the data's own check reports a mismatch; feed what the caller gave
    feeds: dict[str, np.ndarray] = {}
    for idx, spec in enumerate(specs):
        if idx == 0 and data is not None:
            reps = int(np.ceil(batch / max(1, len(data))))
            arr = np.concatenate([data] * reps)[:batch] if reps > 1 else data[:batch]
            feeds[spec.name] = np.ascontiguousarray(arr.astype(spec.dtype if spec.dtype not in ("bfloat16", "unknown")
                                                               else "float32"))
            continue
        shape = [batch if i == 0 else (d if isinstance(d, int) and d > 0 else 1) for i, d in enumerate(spec.shape)]
        feeds[spec.name] = _feed(spec, shape, rng)
    return feeds


_SAME_VALUES = ("Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten")


def onnx_vocab(model: Any) -> dict[str, int]:
    """Graph input name -> number of embedding rows it indexes (Gather on an initializer, through reshapes)."""
    g = model.graph
    rows = {i.name: int(i.dims[0]) for i in g.initializer if len(i.dims) >= 1}
    names = {i.name for i in g.input} - set(rows)
    alias = {n: n for n in names}
    for node in g.node:  # follow the input through ops that keep its values (casts, reshapes)
        if node.op_type in _SAME_VALUES and node.input and node.input[0] in alias:
            alias[node.output[0]] = alias[node.input[0]]
    out: dict[str, int] = {}
    for node in g.node:
        if node.op_type == "Gather" and len(node.input) >= 2 and node.input[1] in alias and node.input[0] in rows:
            src = alias[node.input[1]]
            out[src] = min(out.get(src, rows[node.input[0]]), rows[node.input[0]])
    return out


def with_vocab(inputs: Sequence[TensorSpec], vocab: dict[str, int]) -> list[TensorSpec]:
    return [replace(s, vocab=vocab[s.name]) if s.name in vocab and not s.dtype.startswith("float") else s
            for s in inputs]


def annotate_onnx_inputs(path: Any, inputs: list[TensorSpec]) -> list[TensorSpec]:
    """``inputs`` of the ONNX file at ``path`` with the vocabulary of its integer id inputs, when known."""
    if all(s.dtype.startswith("float") or s.dtype == "bool" for s in inputs):
        return inputs
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # the runtime loaded it; a vocabulary is only a better default
        return inputs
    return with_vocab(inputs, onnx_vocab(model))


def info_at_shapes(info: Any, overrides: Sequence[ShapeOverride] = (), data: np.ndarray | None = None,
                   trust_pickle: bool = False) -> Any:
    """A copy of ``info`` whose inputs are resolved (see :func:`resolve_inputs`) and whose MACs are counted
    at those shapes (batch 1), with a note saying which shape was used.

    A pickled full module records no inputs at all: the data declares its first one (shape and dtype, named
    by ``--input-shape`` when given, else ``input``)."""
    inputs = list(info.inputs)
    if not inputs and getattr(info, "format", None) == "torch_pickle" and data is not None:
        name = next((o.name for o in overrides if o.name), None) or "input"
        inputs = [TensorSpec(name, ("batch",) + tuple(int(d) for d in data.shape[1:]), str(data.dtype))]
    resolved = resolve_inputs(inputs, overrides, data)
    if [s.shape for s in resolved] == [s.shape for s in info.inputs] and \
            [s.dtype for s in resolved] == [s.dtype for s in info.inputs]:
        return info
    notes = [n for n in info.notes if not n.startswith(("MACs assume 1", "TorchScript stores no input shapes"))]
    out = replace(info, inputs=resolved, notes=notes)
    if open_dims(resolved):
        return out
    try:
        if info.format == "onnx":
            out.macs = _onnx_macs_at(info.path, resolved)
        elif info.format in ("torchscript", "torch_pickle", "torch_export"):
            out.macs, outputs = _torch_macs_at(info.path, resolved, trust_pickle)
            out.outputs = outputs or out.outputs
    except Exception as exc:  # a count at a new shape is a best effort: say so, keep the rest
        out.notes.append(f"MACs not recounted at the given shapes: {first_line(exc, 160)}")
        return out
    out.notes.append(f"MACs counted at {shapes_text(resolved)} (batch 1)")
    return out


def _onnx_macs_at(path: str, inputs: Sequence[TensorSpec]) -> int | None:
    import onnx

    from engines.models.macs import estimate_macs

    model = onnx.load(str(path), load_external_data=False)
    by_name = {s.name: s for s in inputs}
    for vi in model.graph.input:
        spec = by_name.get(vi.name)
        if spec is None:
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            value = 1 if axis == 0 else spec.shape[axis]
            if isinstance(value, int) and value > 0:
                d.ClearField("dim_param")
                d.dim_value = value
    est = estimate_macs(model)
    return None if est.unknown_nodes and not est.total else est.total


def _torch_macs_at(path: str, inputs: Sequence[TensorSpec], trust_pickle: bool) -> tuple[int | None, list]:
    from engines.models.inspect_torch import forward_probe
    from engines.models.torch_load import load_torch_module

    module = load_torch_module(path, trust_pickle=trust_pickle)
    module.eval()
    macs, outputs, err = forward_probe(module, list(inputs))
    if err:
        raise DataError(f"the model does not run at {shapes_text(inputs)}: {err}")
    return macs, outputs


def shape_runner(runner: Any, overrides: Sequence[ShapeOverride], *, require: bool = True,
                 name: str = "the model") -> Any:
    """Resolve an open runner's inputs in place (its generated feeds then use those shapes); return it."""
    runner.inputs = resolve_inputs(runner.inputs, overrides)
    if require:
        require_concrete(runner.inputs, name)
    return runner
