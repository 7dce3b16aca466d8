"""Run a PyTorch model (TorchScript, torch.export ``.pt2``) eagerly on the CPU or a CUDA GPU.

The runner of the ``torch`` runtime entry in :mod:`engines.registry`: it lets the
dynamic-batching server, sweeps and the GPU check run a PyTorch model on CUDA
where ONNX Runtime's CUDA provider is not installed. Inputs come from the
model's recorded signature (``inspect``); ``dtype`` ``fp16``/``bf16`` casts the
module and its float inputs (outputs come back as float32 numpy arrays). On a
machine without CUDA, asking for ``cuda`` is refused with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engines.errors import UnsupportedError
from engines.models.model_info import TensorSpec

DTYPES = ("fp32", "fp16", "bf16")


def _cuda_or_refuse(torch: Any) -> None:
    if not torch.cuda.is_available():
        build = getattr(torch.version, "cuda", None)
        why = ("this PyTorch is a CPU build" if not build else f"PyTorch (CUDA {build}) sees no GPU")
        raise UnsupportedError(f"a CUDA runner was asked for but {why}: run on a machine with an NVIDIA GPU and "
                               "a CUDA build of PyTorch, or use --device cpu")


class TorchRunner:
    def __init__(self, path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                 dtype: str = "fp32", trust_pickle: bool = False, inputs: list[TensorSpec] | None = None) -> None:
        import torch

        from engines.measure.runners import default_threads
        from engines.models.torch_load import load_torch_module

        if dtype not in DTYPES:
            raise UnsupportedError(f"unknown PyTorch dtype {dtype!r}: choose {', '.join(DTYPES)}")
        device = "cuda" if str(device).startswith("cuda") else "cpu"
        if device == "cuda":
            _cuda_or_refuse(torch)
        self._torch = torch
        self.threads = threads or default_threads()
        if device == "cpu":
            torch.set_num_threads(self.threads)
        if inputs is None:
            from engines.models.loader import inspect_model

            inputs = inspect_model(path, trust_pickle=trust_pickle).inputs
        if not inputs:
            raise UnsupportedError(f"{Path(path).name} records no input signature: give its input shape "
                                   "(--input-shape) or export it to ONNX")
        self.inputs, self.outputs = list(inputs), []
        self._cast = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype)
        model = load_torch_module(path, trust_pickle=trust_pickle)
        if hasattr(model, "eval") and not hasattr(model, "graph_module"):
            try:
                model = model.eval()
            except (NotImplementedError, RuntimeError):   # exported programs' modules refuse eval()
                pass
        model = model.to(device)
        if self._cast is not None:
            model = model.to(self._cast)
        self.model, self.dtype = model, dtype
        self.device = device if device == "cpu" else f"cuda:0 ({torch.cuda.get_device_name(0)})"
        self._dev = device

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        args = []
        for spec in self.inputs:
            t = torch.from_numpy(np.ascontiguousarray(feeds[spec.name])).to(self._dev)
            if self._cast is not None and t.is_floating_point():
                t = t.to(self._cast)
            args.append(t)
        with torch.inference_mode():
            out = self.model(*args)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if self._dev == "cuda":
            torch.cuda.synchronize()
        return [o.detach().float().cpu().numpy() if o.is_floating_point() else o.cpu().numpy() for o in outs]


def open_torch_runner(path: str | os.PathLike, threads: int | None = None, device: str = "cpu",
                      **kw: Any) -> TorchRunner:
    return TorchRunner(path, threads=threads, device=device, dtype=kw.get("dtype", "fp32"),
                       trust_pickle=bool(kw.get("trust_pickle", False)), inputs=kw.get("inputs"))
