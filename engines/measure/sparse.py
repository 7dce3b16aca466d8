"""Sparse kernels that really run: unstructured sparse Linear layers against dense, paired, on this CPU.

A Linear weight pruned to a sparsity ``s`` (smallest magnitudes zeroed, the
same ranking as :mod:`engines.optimize.prune_unstructured`) is multiplied
three ways in the same timing rounds (:func:`engines.measure.paired.time_paired`):

- ``dense``: ``torch.nn.functional.linear`` (MKL/oneDNN GEMM, multiplies the zeros);
- ``csr``: ``torch.sparse.mm`` on the weight as a CSR tensor (MKL sparse BLAS on x86);
- ``bsr``: the weight as a block-sparse (BSR) tensor, blocks of ``block`` x ``block``: only
  blocks that are all zero are skipped, so unstructured zeros buy it little (the block is the largest
  of 16, 8, 4 that divides both dimensions).

Two more kernels are checked and said, never faked: ``semi-structured``
(``torch.sparse.to_sparse_semi_structured``, 2:4 on CUDA Ampere+ only) and
``openvino-sparse`` (the OpenVINO CPU plugin's ``CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE``,
which acts only on INT8 fully connected layers on CPUs with AMX). A kernel on a
layer it cannot take (a Conv, a weight that is not 2-D or not float32, a BSR
shape the block does not divide) runs the dense kernel instead, and the
:class:`KernelPlan` says why. The crossover is the lowest sparsity from which
a kernel is faster than dense with its whole interval above 1.0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task

SPARSITIES = (0.5, 0.8, 0.9, 0.95)
TIMED_KERNELS = ("csr", "bsr")
KERNELS = ("csr", "bsr", "semi-structured", "openvino-sparse")
BLOCKS = (16, 8, 4)      # BSR block sides tried, largest first
LINEAR_OPS = ("Linear", "Gemm", "MatMul")


@dataclass(frozen=True)
class LayerShape:
    name: str
    in_features: int
    out_features: int

    @property
    def text(self) -> str:
        return f"{self.name} ({self.in_features}->{self.out_features})"


# real layer shapes (weights [out, in]); the CLI's --layer takes these names or INxOUT
REAL_SHAPES = {
    "bert-base-ffn-up": LayerShape("bert-base-ffn-up", 768, 3072),
    "bert-base-ffn-down": LayerShape("bert-base-ffn-down", 3072, 768),
    "resnet50-fc": LayerShape("resnet50-fc", 2048, 1000),
}


def parse_layer(text: str) -> LayerShape:
    """A name of :data:`REAL_SHAPES` or ``INxOUT`` (e.g. ``768x3072``)."""
    key = text.strip().lower()
    if key in REAL_SHAPES:
        return REAL_SHAPES[key]
    parts = key.split("x")
    try:
        fin, fout = (int(p) for p in parts)
    except ValueError:
        raise WorkbenchError(f"--layer {text!r}: give IN x OUT features such as 768x3072, or one of "
                             f"{', '.join(REAL_SHAPES)}") from None
    if fin < 1 or fout < 1 or fin * fout > 64_000_000:
        raise WorkbenchError(f"--layer {text!r}: features must be >= 1 and the weight at most 64 M values")
    return LayerShape(f"{fin}x{fout}", fin, fout)


def parse_sparsities(text: str | None) -> tuple[float, ...]:
    """``50,80,90,95`` (percent) or ``0.5,0.8`` (fractions) -> sorted fractions in [0, 0.99]."""
    if not text:
        return SPARSITIES
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise WorkbenchError(f"--sparsities {text!r}: give numbers separated by commas, e.g. 50,80,90,95") from None
    fracs = sorted({v / 100 if v > 1 else v for v in vals})
    if not fracs or fracs[0] < 0 or fracs[-1] > 0.99 or not all(math.isfinite(f) for f in fracs):
        raise WorkbenchError("--sparsities must lie between 0 and 99 %")
    return tuple(fracs)


# -- what a kernel can take -----------------------------------------------------------------
@dataclass
class KernelPlan:
    kernel: str                     # the kernel asked for
    layer: str
    runs: str                       # the kernel that actually runs: the asked one or "dense"
    fallback: str | None = None     # the sentence saying the dense kernel runs instead, and why
    reason: str | None = None       # just the why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _semi_structured_reason(device: str) -> str | None:
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not hasattr(torch.sparse, "to_sparse_semi_structured"):
        return "this PyTorch has no torch.sparse.to_sparse_semi_structured"
    if device != "cuda" or not torch.cuda.is_available():
        return ("torch.sparse.to_sparse_semi_structured is CUDA-only (2:4 sparse tensor cores, Ampere+); "
                "no CUDA GPU here")
    if torch.cuda.get_device_capability() < (8, 0):
        return "2:4 semi-structured kernels need compute capability 8.0 or newer"
    return None


def openvino_sparse_reason(cpu: Any = None) -> str | None:
    """Why OpenVINO's sparse weights decompression cannot speed up this CPU, or None when it can."""
    from engines.measure.cpu_features import cpu_features

    cpu = cpu or cpu_features()
    try:
        import openvino as ov

        props = ov.Core().get_property("CPU", "SUPPORTED_PROPERTIES")
    except Exception:  # noqa: BLE001 - not installed, or no CPU plugin
        return "OpenVINO (or its CPU plugin) is not available here"
    if "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE" not in props:
        return "this OpenVINO's CPU plugin has no CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE"
    if not cpu.amx:
        return (f"OpenVINO decompresses sparse weights only for INT8 fully connected layers on CPUs with AMX "
                f"(Sapphire Rapids and later); this CPU ({cpu.model}) has none, so the property is a no-op")
    return None


def bsr_block(weight_shape: Sequence[int]) -> int | None:
    """The largest block side of :data:`BLOCKS` dividing every dimension, or None."""
    return next((b for b in BLOCKS if all(d % b == 0 for d in weight_shape)), None)


def plan_kernel(kernel: str, layer: str, weight_shape: Sequence[int], *, op: str = "Linear",
                dtype: str = "float32", device: str = "cpu") -> KernelPlan:
    """Whether ``kernel`` can take this layer; when not, the dense kernel runs and ``fallback`` says why."""
    if kernel not in KERNELS:
        raise WorkbenchError(f"unknown sparse kernel {kernel!r}: choose {', '.join(KERNELS)}")

    def dense(why: str) -> KernelPlan:
        return KernelPlan(kernel, layer, "dense", f"{kernel} cannot take {layer}: {why}; kept dense", why)

    if op not in LINEAR_OPS:
        return dense(f"a {op} layer (the sparse kernels here take 2-D Linear/Gemm/MatMul weights; a convolution "
                     "would need im2col first)")
    if len(weight_shape) != 2:
        return dense(f"its weight is {len(weight_shape)}-D {tuple(weight_shape)}, not a 2-D matrix")
    if dtype != "float32":
        return dense(f"its weight is {dtype} (the sparse kernels here multiply float32)")
    if kernel == "bsr" and bsr_block(weight_shape) is None:
        return dense(f"its weight {tuple(weight_shape)} is not a multiple of a {BLOCKS[-1]}x{BLOCKS[-1]} "
                     "block (or larger)")
    if kernel == "semi-structured":
        why = _semi_structured_reason(device)
        if why:
            return dense(why)
    if kernel == "openvino-sparse":
        why = openvino_sparse_reason()
        if why:
            return dense(why)
        return dense("measuring it needs an INT8 OpenVINO model of the layer, which this sweep does not build")
    return KernelPlan(kernel, layer, kernel)


def prune_magnitude(weight: np.ndarray, sparsity: float) -> np.ndarray:
    """``weight`` with its smallest ``sparsity`` fraction of |values| set to zero."""
    from engines.optimize.prune_unstructured import magnitude_masks

    keep = magnitude_masks([weight], sparsity, "layer")[0]
    return np.where(keep, weight, np.float32(0)).astype(np.float32)


def kernel_call(kernel: str, weight: np.ndarray, x: Any) -> tuple[Callable[[], Any], float]:
    """A no-argument call computing ``x @ weight.T`` with ``kernel``, and the fraction of weights it stores."""
    import torch

    w = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
    if kernel == "dense":
        return (lambda: torch.nn.functional.linear(x, w)), 1.0
    import warnings

    xt = x.t().contiguous()
    with warnings.catch_warnings():   # "sparse CSR tensor support is in beta": not the user's to act on
        warnings.simplefilter("ignore", UserWarning)
        if kernel == "csr":
            sw = w.to_sparse_csr()
        elif kernel == "bsr":
            block = bsr_block(w.shape) or 1
            sw = w.to_sparse_bsr((block, block))
        else:
            raise WorkbenchError(f"the {kernel} kernel is not timed on this machine")
    stored = sw.values().numel() / max(1, w.numel())
    return (lambda: torch.sparse.mm(sw, xt)), stored


# -- the crossover ----------------------------------------------------------------------------
@dataclass
class KernelFigure:
    kernel: str
    p50_ms: float
    speedup: dict[str, Any] | None      # Ratio.to_dict(): dense time / kernel time, with its interval
    stored_fraction: float              # values the kernel keeps (CSR: non-zeros; BSR: non-empty blocks)
    max_abs_error: float                # against the dense result


@dataclass
class SparsityPoint:
    sparsity: float
    dense_p50_ms: float
    kernels: list[KernelFigure]
    actual_sparsity: float = 0.0        # zeros in the timed weight (more than asked when it was already sparse)
    load_warning: str | None = None


@dataclass
class CrossoverResult:
    layer: str
    in_features: int
    out_features: int
    batch: int
    threads: int
    points: list[SparsityPoint]
    crossover: dict[str, float | None]            # kernel -> lowest sparsity it wins from (None: never)
    plans: list[KernelPlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    weights: str = "random"                       # "random" or the model file the weights came from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def verdict(self) -> str:
        parts = []
        for k, s in self.crossover.items():
            if s is None:
                hi = self.points[-1].sparsity if self.points else 0
                parts.append(f"{k.upper()} never beats dense up to {hi:.0%} sparsity: sparsity buys only size here")
            else:
                fig = next(f for p in self.points if p.sparsity == s for f in p.kernels if f.kernel == k)
                parts.append(f"{k.upper()} beats dense from {s:.0%} sparsity ({fig.speedup['value']:.2f}x)")
        return "; ".join(parts) or "no sparse kernel was timed"


def crossover_of(points: Sequence[SparsityPoint], kernel: str) -> float | None:
    """Lowest sparsity from which ``kernel`` is faster than dense (interval above 1.0) at every higher one."""
    found = None
    for p in sorted(points, key=lambda p: p.sparsity, reverse=True):
        fig = next((f for f in p.kernels if f.kernel == kernel), None)
        iv = (fig.speedup or {}).get("interval") if fig else None
        if not iv or iv[0] <= 1.0:
            break
        found = p.sparsity
    return found


def measure_crossover(layer: LayerShape, *, sparsities: Sequence[float] = SPARSITIES,
                      kernels: Sequence[str] = TIMED_KERNELS, batch: int = 1, threads: int | None = None,
                      rounds: int = 7, iterations: int = 20, weight: np.ndarray | None = None,
                      weights_from: str = "random", seed: int = 0,
                      task: TaskContext | None = None) -> CrossoverResult:
    """Time dense against each sparse kernel at each sparsity, paired, for one Linear layer shape."""
    import torch

    from engines.measure.paired import available_cores, time_paired

    task = ensure_task(task)
    if batch < 1:
        raise WorkbenchError("--batch must be at least 1")
    threads = threads or available_cores()
    if threads < 1:
        raise WorkbenchError("--threads must be at least 1")
    shape = (layer.out_features, layer.in_features)
    rng = np.random.default_rng(seed)
    base = weight.astype(np.float32) if weight is not None else \
        rng.standard_normal(shape).astype(np.float32) / np.sqrt(layer.in_features)
    if base.shape != shape:
        raise WorkbenchError(f"weight {base.shape} does not match the layer {shape}")
    plans = [plan_kernel(k, layer.name, shape) for k in kernels]
    timed = [p.kernel for p in plans if p.runs != "dense"]
    notes = [p.fallback for p in plans if p.fallback]
    x = torch.from_numpy(rng.standard_normal((batch, layer.in_features)).astype(np.float32))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    points: list[SparsityPoint] = []
    measured: dict[str, Any] = {}
    load: Any = None
    try:
        with torch.inference_mode():
            for i, s in enumerate(sparsities):
                task.check()
                w = prune_magnitude(base, s)
                dense_call, _ = kernel_call("dense", w, x)
                calls: dict[str, Callable[[], Any]] = {"dense": dense_call}
                stored, errors = {}, {}
                ref = dense_call()
                for k in timed:
                    calls[k], stored[k] = kernel_call(k, w, x)
                    got = calls[k]().t()
                    errors[k] = float((got - ref).abs().max())
                pt = time_paired(calls, "dense", rounds=rounds, iterations=iterations, threads=threads,
                                 load=True if i == 0 else load, task=task.sub(i / len(sparsities),
                                                                            (i + 1) / len(sparsities)))
                load = pt.load
                measured = pt.measured
                figs = [KernelFigure(k, pt.latency_ms[k]["p50"], pt.ratios[k].to_dict(), round(stored[k], 4),
                                     errors[k]) for k in timed]
                points.append(SparsityPoint(s, pt.latency_ms["dense"]["p50"], figs,
                                            round(float(np.mean(w == 0)), 4),
                                            pt.load.message if pt.load is not None else None))
                task.report((i + 1) / len(sparsities), f"{layer.name}: {s:.0%} sparsity timed")
    finally:
        torch.set_num_threads(before)
    if "bsr" in timed and points and points[-1].kernels:
        bsr = next((f for f in points[-1].kernels if f.kernel == "bsr"), None)
        if bsr is not None and bsr.stored_fraction > 0.5:
            b = bsr_block(shape)
            notes.append(f"BSR keeps {bsr.stored_fraction:.0%} of its {b}x{b} blocks even at "
                         f"{points[-1].sparsity:.0%} unstructured sparsity: it pays only for block-pruned weights")
    return CrossoverResult(layer=layer.name, in_features=layer.in_features, out_features=layer.out_features,
                           batch=batch, threads=threads, points=points,
                           crossover={k: crossover_of(points, k) for k in timed}, plans=plans, notes=notes,
                           measured=measured, weights=weights_from)
