"""PyTorch AOTInductor packages (``.pt2``): a model compiled ahead of time to native code.

``torch.export`` captures the model with a dynamic batch dimension (min/max
from the batch profile), ``torch._inductor.aoti_compile_and_package`` generates
and compiles C++ (CPU, needs a C++ compiler such as g++) or Triton/CUDA (GPU)
kernels into one ``.pt2`` file, and ``torch._inductor.aoti_load_package`` runs
it without Python graph overhead.

The compile takes from seconds to minutes, so it runs in a child process that
can be cancelled or stopped at a time limit (:mod:`engines.build.subproc`);
the package is written atomically. A sidecar ``<file>.json`` records the input
and output specs, the device and the CPU vector ISA the kernels were compiled
for: a CPU package uses this machine's SIMD instructions (e.g. AVX-512) and is
refused on a CPU that lacks them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engines.errors import ModelLoadError, UnsupportedError, WorkbenchError, first_line
from engines.fsutil import atomic_path, write_text_atomic
from engines.models.model_info import TensorSpec
from engines.tasks import TaskContext, ensure_task

SIDECAR_SUFFIX = ".json"
PRECISIONS = {"cpu": ("fp32",), "cuda": ("fp32", "fp16", "bf16")}


def sidecar_path(package: str | os.PathLike) -> Path:
    return Path(str(package) + SIDECAR_SUFFIX)


def compiler_status() -> tuple[bool, str]:
    """Whether a C++ compiler for AOTInductor's CPU build is on PATH."""
    for cxx in ("g++", "c++", "clang++"):
        if shutil.which(cxx):
            return True, f"C++ compiler {cxx} found"
    return False, ("AOTInductor on CPU needs a C++ compiler and none is on PATH: install g++ "
                   "(apt-get install g++) and build again")


def build_aoti(model_path: str | os.PathLike, out_path: str | os.PathLike, *, inputs: list[TensorSpec],
               profile: tuple[int, int, int] = (1, 8, 32), device: str = "cpu", precision: str = "fp32",
               trust_pickle: bool = False, timeout_s: float | None = None, memory_limit_mb: int | None = None,
               task: TaskContext | None = None) -> dict[str, Any]:
    """Compile a PyTorch model file into an AOTInductor package at ``out_path``; return its metadata."""
    from engines.build.subproc import run_step

    task = ensure_task(task)
    if device not in PRECISIONS:
        raise UnsupportedError(f"AOTInductor device {device!r} unknown: choose cpu or cuda")
    if precision not in PRECISIONS[device]:
        raise UnsupportedError(f"AOTInductor on {device} builds {', '.join(PRECISIONS[device])} here, not "
                               f"{precision}: for int8 use the ort backend on a quantized variant")
    if device == "cpu":
        ok, why = compiler_status()
        if not ok:
            raise UnsupportedError(why)
    lo, opt, hi = _check_profile(profile)
    out_path = Path(out_path).resolve()
    spec_list = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in inputs]
    task.report(0.02, f"AOTInductor build for {device} ({precision}) in a child process")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # the packager insists on a name ending in .pt2: compile into a private temp folder, then move
    with atomic_path(out_path) as tmp, tempfile.TemporaryDirectory(prefix=".aoti-", dir=out_path.parent) as work:
        package = Path(work) / "model.pt2"
        meta = run_step("engines.build.aoti:child_compile",
                        {"model_path": str(Path(model_path).resolve()), "package_path": str(package),
                         "inputs": spec_list, "profile": [lo, opt, hi], "device": device,
                         "precision": precision, "trust_pickle": trust_pickle},
                        what="AOTInductor build", timeout_s=timeout_s, memory_limit_mb=memory_limit_mb,
                        task=task.sub(0.02, 0.95))
        task.check()
        os.replace(package, tmp)
        write_text_atomic(sidecar_path(out_path), json.dumps(meta, indent=1))
    task.report(1.0, "package written")
    return meta


def _check_profile(profile: tuple[int, int, int]) -> tuple[int, int, int]:
    lo, opt, hi = (int(v) for v in profile)
    if not 1 <= lo <= opt <= hi:
        raise WorkbenchError(f"batch profile {lo}/{opt}/{hi} is invalid: need 1 <= min <= opt <= max")
    return lo, opt, hi


def child_compile(report: Callable[[float, str], None], model_path: str, package_path: str,
                  inputs: list[dict[str, Any]], profile: list[int], device: str, precision: str,
                  trust_pickle: bool) -> dict[str, Any]:
    """Runs in the child process: load, export with a dynamic batch, compile and package."""
    import torch

    from engines.models.torch_load import load_torch_module

    if device == "cuda" and not torch.cuda.is_available():
        raise UnsupportedError("AOTInductor for CUDA needs a PyTorch CUDA build and an NVIDIA GPU; this torch "
                               f"{torch.__version__} sees none: build for cpu or run on a GPU machine")
    report(0.02, "loading the PyTorch model")
    model = load_torch_module(model_path, trust_pickle=trust_pickle)
    if isinstance(model, torch.jit.ScriptModule):
        raise UnsupportedError(f"{Path(model_path).name} is TorchScript without a known architecture: "
                               "torch.export cannot capture it; save the model with torch.export (.pt2) "
                               "or from an engines.models.zoo architecture, then build again")
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    model = model.eval().to(device)
    if precision != "fp32":
        model = model.to(dtype)
    lo, opt, hi = profile
    example_batch = max(2, opt) if hi >= 2 else 1  # batch 1 would be specialized by torch.export
    args = tuple(_example(s, example_batch, device, dtype) for s in inputs)
    dynamic = None
    if hi > lo:
        batch = torch.export.Dim("batch", min=lo, max=hi)
        dynamic = tuple({0: batch} for _ in args)
    report(0.1, f"torch.export with batch {lo}..{hi}")
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            ep = torch.export.export(model, args, dynamic_shapes=dynamic)
    except Exception as exc:
        raise UnsupportedError(f"torch.export could not capture the model: {_first(exc)}") from exc
    export_s = time.perf_counter() - t0
    report(0.25, "compiling with AOTInductor (generates and compiles C++; can take a minute)")
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(report, stop, time.perf_counter()), daemon=True).start()
    t1 = time.perf_counter()
    try:
        torch._inductor.aoti_compile_and_package(ep, package_path=package_path)
    except Exception as exc:
        raise WorkbenchError(f"AOTInductor compilation failed: {_first(exc)}") from exc
    finally:
        stop.set()
    compile_s = time.perf_counter() - t1
    report(0.95, "checking the package")
    compiled = torch._inductor.aoti_load_package(package_path)
    with torch.no_grad():
        out = compiled(*args)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return {
        "format": "aoti", "device": device, "precision": precision, "profile": [lo, opt, hi],
        "inputs": inputs,
        "outputs": [{"name": f"output_{i}", "shape": ["batch"] + list(o.shape[1:]), "dtype": "float32"}
                    for i, o in enumerate(outs)],
        "torch": torch.__version__, "cpu_isa": _cpu_isa() if device == "cpu" else None,
        "export_s": round(export_s, 3), "compile_s": round(compile_s, 3),
    }


def _example(spec: dict[str, Any], batch: int, device: str, dtype: Any) -> Any:
    import torch

    shape = [batch] + [d if isinstance(d, int) and d > 0 else 1 for d in spec["shape"][1:]]
    if spec["dtype"].startswith("float"):
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.zeros(shape, device=device, dtype=getattr(torch, spec["dtype"]))


def _heartbeat(report: Callable[[float, str], None], stop: threading.Event, start: float) -> None:
    while not stop.wait(2.0):
        elapsed = time.perf_counter() - start
        report(min(0.9, 0.25 + 0.65 * (1 - 1 / (1 + elapsed / 30))), f"compiling… {elapsed:.0f} s")


def _first(exc: BaseException) -> str:
    return first_line(exc, 300)


def _cpu_isa() -> str:
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    return str(pick_vec_isa()) or "none"


class AotiRunner:
    """Runs an AOTInductor package on the device it was compiled for; feeds and outputs are numpy arrays."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                 trust_pickle: bool = False) -> None:
        import torch

        from engines.measure.runners import default_threads

        path = Path(path)
        meta_file = sidecar_path(path)
        if not path.is_file():
            raise ModelLoadError(f"{path} does not exist")
        if not _built_here(path):
            # a package from outside a workbench workspace is native code someone else compiled
            from engines.models.torch_export_load import check_pt2_archive

            check_pt2_archive(path, trust_pickle)
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
        # a package runs only on the device it was compiled for: follow it (the request is a hint)
        device = meta.get("device", "cpu")
        if device == "cuda" and not torch.cuda.is_available():
            raise UnsupportedError(f"{path.name} was compiled for CUDA and this machine has no CUDA GPU")
        if device == "cpu" and meta.get("cpu_isa") and meta["cpu_isa"] != _cpu_isa():
            raise UnsupportedError(f"{path.name} was compiled for CPU vector ISA {meta['cpu_isa']!r} but this CPU "
                                   f"offers {_cpu_isa()!r}: rebuild the package on this machine")
        self.threads = threads or default_threads()
        if device == "cpu":
            torch.set_num_threads(self.threads)
        self.device = device
        self._torch = torch
        self._dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(meta.get("precision", "fp32"))
        try:
            self.model = torch._inductor.aoti_load_package(str(path))
        except Exception as exc:
            raise ModelLoadError(f"cannot load AOTInductor package {path.name}: {_first(exc)}") from exc
        self.inputs = [TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in meta.get("inputs", [])]
        self.outputs = [TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in meta.get("outputs", [])]
        self.meta = meta

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        names = [s.name for s in self.inputs] or list(feeds)
        args = []
        for name in names:
            t = torch.from_numpy(np.ascontiguousarray(feeds[name])).to(self.device)
            if self._dtype is not None and t.is_floating_point():
                t = t.to(self._dtype)
            args.append(t)
        with torch.no_grad():
            out = self.model(*args)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return [o.detach().float().cpu().numpy() if o.is_floating_point() else o.cpu().numpy() for o in outs]


class EagerRunner:
    """The same PyTorch model run eagerly (no_grad), for a side-by-side reference to its AOTI package."""

    def __init__(self, model_path: str | os.PathLike, inputs: list[TensorSpec], threads: int | None = None,
                 trust_pickle: bool = False) -> None:
        import torch

        from engines.measure.runners import default_threads
        from engines.models.torch_load import load_torch_module

        self._torch = torch
        self.threads = threads or default_threads()
        torch.set_num_threads(self.threads)
        self.model = load_torch_module(model_path, trust_pickle=trust_pickle).eval()
        self.inputs, self.outputs, self.device = list(inputs), [], "cpu"

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        with torch.no_grad():
            out = self.model(*[torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in self.inputs])
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return [o.numpy() for o in outs]


def open_aoti_runner(path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                     trust_pickle: bool = False, **_: Any) -> AotiRunner:
    return AotiRunner(path, threads=threads, device=device, trust_pickle=trust_pickle)


def _built_here(package: Path) -> bool:
    """True when ``package`` sits in a variant folder of a workbench workspace (or a build's temp folder there).

    Those packages were compiled by this tool; any other ``.pt2`` carrying compiled code is refused unless
    the user trusts it (``--trust-pickle``).
    """
    from engines.manifest import MANIFEST

    folder = package.resolve().parent           # <root>/variants/<id>/ or <root>/variants/.<id>.*.part/
    variants = folder.parent
    return variants.name == "variants" and (variants.parent / MANIFEST).is_file() and sidecar_path(package).is_file()
