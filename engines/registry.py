"""The capability registry: every quantization mode, pruning mode, engine backend, runtime and deploy target, once.

Each :class:`Capability` says what it is (id, label, kind), what it takes
(input formats, precisions, devices, whether it needs calibration data), what
hardware it speeds up, where its code lives (a lazy ``module:function`` entry
point, imported only when used), what file it writes, and how to ask whether
this machine can use it (``check``, a lazy ``module:function`` returning an
:class:`Availability` that names exactly what is missing).

CLI choices, screen selects and their availability text, pre-flight checks,
the tuner's candidate modes and the reports are derived from :data:`REGISTRY`.
Adding a backend means one entry here, one implementation module and its tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from engines import formats as F

Kind = Literal["quantize", "prune", "engine", "runtime", "deploy"]


@dataclass(frozen=True)
class Availability:
    """Whether a capability can be used here; when not, ``missing`` lists what to install or provide."""

    ok: bool
    detail: str = ""
    missing: tuple[str, ...] = ()

    def text(self) -> str:
        if self.ok:
            return f"✓ {self.detail}" if self.detail else "✓ available"
        lines = [f"✗ {self.detail}" if self.detail else "✗ not available here"]
        lines += [f"  • {m}" for m in self.missing]
        return "\n".join(lines)


@dataclass(frozen=True)
class Capability:
    id: str
    kind: Kind
    label: str
    help: str
    input_formats: tuple[str, ...]
    entry: str                                   # "module:function" doing the work, imported lazily
    precisions: tuple[str, ...] = ()
    devices: tuple[str, ...] = ("cpu",)
    needs_calibration: bool = False
    speeds_up: str = ""                          # the hardware it makes faster, in words
    output_file: str | None = None
    output_format: str | None = None
    check: str | None = None                     # "module:function" -> Availability; None: always available
    aliases: tuple[str, ...] = ()
    tunable: bool = False                        # the auto-tuner tries it
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Callable[..., Any]:
        return load_entry(self.entry)

    def availability(self, **kw: Any) -> Availability:
        if self.check is None:
            return Availability(True)
        return load_entry(self.check)(**kw)

    def takes(self, fmt: str | None) -> bool:
        return fmt in self.input_formats


def load_entry(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


_ONNX_IN = (F.ONNX, *F.TORCH_FORMATS)        # PyTorch models are exported to ONNX first
_Q = "engines.optimize.quantize_ort"
_T = "engines.optimize.quantize_tflite:convert_keras"
_AV = "engines.availability"

REGISTRY: tuple[Capability, ...] = (
    # -- quantization -------------------------------------------------------------------------------
    Capability("fp16", "quantize", "FP16", "float16 weights and math, float32 inputs/outputs (pays off on GPUs)",
               _ONNX_IN, f"{_Q}:quantize_fp16", precisions=("fp16",), devices=("cpu", "cuda"),
               speeds_up="GPUs with tensor cores (and CPUs with AVX512-FP16/AMX-FP16); halves size; on most CPUs "
                         "ONNX Runtime runs it slower than FP32", output_file="model.onnx",
               output_format=F.ONNX, check=f"{_AV}:onnxruntime", aliases=("float16",)),
    Capability("int8-dynamic", "quantize", "INT8 dynamic",
               "INT8 weights, activations quantized at run time (transformers, RNNs)",
               _ONNX_IN, f"{_Q}:quantize_int8_dynamic", precisions=("int8",),
               speeds_up="CPUs with VNNI/dotprod on MatMul-heavy models (transformers, RNNs); weights 4x "
                         "smaller; little gain on convolutions",
               output_file="model.onnx", output_format=F.ONNX, check=f"{_AV}:onnxruntime",
               aliases=("dynamic",), tunable=True),
    Capability("int8-static", "quantize", "INT8 static",
               "INT8 weights and activations calibrated on data (CNNs)",
               _ONNX_IN, f"{_Q}:quantize_int8_static", precisions=("int8",), needs_calibration=True,
               speeds_up="CPUs with VNNI/AMX (x86: U8 activations / S8 weights) or ARM dotprod, and GPUs with "
                         "INT8 tensor cores (TensorRT); best for CNNs; weights 4x smaller",
               output_file="model.onnx", output_format=F.ONNX, check=f"{_AV}:onnxruntime",
               aliases=("int8", "static"), tunable=True),
    Capability("int8-qat", "quantize", "INT8 QAT",
               "INT8 after quantization-aware fine-tuning (fake-quant training on labelled data, PyTorch models)",
               F.TORCH_FORMATS, "engines.optimize.qat:quantize_aware_train", precisions=("int8",),
               needs_calibration=True,
               speeds_up="the same hardware as INT8 static (VNNI/AMX CPUs, ARM dotprod, INT8 GPUs): the file is "
                         "the same QDQ U8/S8 graph; QAT buys accuracy, not extra speed",
               output_file="model.onnx", output_format=F.ONNX, check=f"{_AV}:torch", aliases=("qat",),
               meta={"needs_labels": True}),
    Capability("int4", "quantize", "INT4 weight-only", "4-bit blocked weights for MatMul layers (LLM-style)",
               _ONNX_IN, f"{_Q}:quantize_int4", precisions=("int4",),
               speeds_up="memory-bound MatMul (large language/transformer models) on CPUs and GPUs: weights ~8x "
                         "smaller; convolutions are not touched",
               output_file="model.onnx", output_format=F.ONNX, check=f"{_AV}:onnxruntime",
               aliases=("int4-weight",), tunable=True),
    Capability("tflite-dynamic", "quantize", "TFLite dynamic", "TFLite converter, INT8 weights",
               F.TF_FORMATS, _T, precisions=("int8",),
               speeds_up="CPUs (ARM and x86 via XNNPACK): weights stored int8 (4x smaller), activations "
                         "quantized on the fly for the heavy ops",
               output_file="model.tflite", output_format=F.TFLITE, check=f"{_AV}:tensorflow", tunable=True),
    Capability("tflite-fp16", "quantize", "TFLite FP16", "TFLite converter, float16 weights",
               F.TF_FORMATS, _T, precisions=("fp16",),
               speeds_up="mobile GPUs (GPU delegate) and ARM CPUs with FP16 arithmetic; halves size; on x86 "
                         "CPUs the weights are expanded to float32 and speed is unchanged",
               output_file="model.tflite", output_format=F.TFLITE, check=f"{_AV}:tensorflow", tunable=True),
    Capability("tflite-int8", "quantize", "TFLite INT8 full", "TFLite converter, INT8 calibrated on data",
               F.TF_FORMATS, _T, precisions=("int8",), needs_calibration=True,
               speeds_up="CPUs with int8 dot products (ARM dotprod, x86 VNNI via XNNPACK), Edge TPUs, DSPs and "
                         "NPUs; weights and activations int8", output_file="model.tflite", output_format=F.TFLITE,
               check=f"{_AV}:tensorflow", tunable=True),
    Capability("openvino-int8", "quantize", "OpenVINO INT8 (NNCF)",
               "OpenVINO IR with INT8 weights and activations, calibrated on data by NNCF (CPUs)",
               _ONNX_IN, "engines.optimize.quantize_openvino:quantize_openvino", precisions=("int8",),
               needs_calibration=True, speeds_up="x86 CPUs with VNNI/AMX (OpenVINO's INT8 kernels); weights 4x "
                                                 "smaller", output_file="model.xml", output_format=F.OPENVINO,
               check=f"{_AV}:openvino_backend", aliases=("ov-int8",), tunable=True),
    Capability("openvino-int8-acc", "quantize", "OpenVINO INT8, accuracy-controlled",
               "NNCF quantize_with_accuracy_control: INT8 with the layers that cost over 1 accuracy point kept in "
               "float (needs labels)", _ONNX_IN, "engines.optimize.quantize_openvino:quantize_openvino",
               precisions=("int8",), needs_calibration=True,
               speeds_up="x86 CPUs with VNNI/AMX, a little less than full INT8 where layers stay float",
               output_file="model.xml", output_format=F.OPENVINO, check=f"{_AV}:openvino_backend",
               aliases=("ov-int8-acc",), tunable=True, meta={"needs_labels": True}),
    # -- pruning ------------------------------------------------------------------------------------
    Capability("structured", "prune", "structured (channels)",
               "removes whole channels (Torch-Pruning DepGraph): fewer MACs on any hardware",
               F.TORCH_FORMATS, "engines.optimize.prune:prune_structured", speeds_up="any hardware",
               check=f"{_AV}:torch_pruning", tunable=True),
    Capability("unstructured", "prune", "unstructured (weights)",
               "zeroes the smallest weights: a smaller compressed file, no speedup on dense kernels",
               (F.ONNX, *F.TORCH_FORMATS), "engines.optimize.prune:prune_unstructured_torch",
               speeds_up="nothing on dense kernels (size only)", meta={"onnx_entry":
                                                                         "engines.optimize.prune:prune_unstructured_onnx"}),
    Capability("2:4", "prune", "2:4 semi-structured",
               "2 of every 4 weights zero: faster only on sparse tensor cores (NVIDIA Ampere+, TensorRT)",
               (F.ONNX, *F.TORCH_FORMATS), "engines.optimize.prune:prune_24_torch",
               speeds_up="NVIDIA Ampere+ sparse tensor cores (TensorRT sparse weights)",
               meta={"onnx_entry": "engines.optimize.prune:prune_24_onnx"}),
    Capability("blocks", "prune", "layer/block removal",
               "removes whole residual blocks (identity shortcut) or transformer encoder layers, the least "
               "important on your data first: fewer layers on any hardware", F.TORCH_FORMATS,
               "engines.optimize.remove_blocks:remove_blocks", speeds_up="any hardware (fewer layers to run)",
               check=f"{_AV}:torch"),
    # -- engine backends ----------------------------------------------------------------------------
    Capability("ort", "engine", "ORT optimized", "ONNX Runtime offline-optimized model (graph fusions saved)",
               (F.ONNX,), "engines.build.ort_optimize:optimize_onnx", precisions=("fp32", "fp16", "int8"),
               devices=("cpu", "cuda"), speeds_up="CPUs (fusions); CUDA with the CUDA provider",
               output_file="model.onnx", output_format=F.ONNX, check=f"{_AV}:ort_backend"),
    Capability("aoti", "engine", "AOTInductor", "PyTorch AOTInductor package (.pt2), compiled ahead of time",
               (F.TORCHSCRIPT, F.TORCH_EXPORT, F.TORCH_PICKLE), "engines.build.aoti:build_aoti",
               precisions=("fp32", "fp16"), devices=("cpu", "cuda"),
               speeds_up="CPUs and NVIDIA GPUs (Inductor kernels)", output_file="model.pt2",
               output_format=F.AOTI, check=f"{_AV}:aoti_backend"),
    Capability("tensorrt", "engine", "TensorRT", "TensorRT engine for NVIDIA GPUs",
               (F.ONNX,), "engines.build.tensorrt_engine:build_tensorrt_engine",
               precisions=("fp32", "fp16", "int8"), devices=("cuda",), speeds_up="NVIDIA GPUs",
               output_file="model.plan", output_format=F.TENSORRT, check=f"{_AV}:tensorrt_backend"),
    Capability("openvino", "engine", "OpenVINO", "OpenVINO IR (.xml + .bin) for CPUs; int8 calibrated with NNCF",
               (F.ONNX,), "engines.build.openvino:build_openvino", precisions=("fp32", "fp16", "int8"),
               speeds_up="x86 CPUs (Intel and AMD: AVX2/AVX-512/VNNI/AMX kernels); INT8 via NNCF",
               output_file="model.xml", output_format=F.OPENVINO, check=f"{_AV}:openvino_backend",
               meta={"int8_from_float": True, "options": ("hint", "streams", "frontend", "accuracy_control")}),
    # -- runtimes (what runs a file) ----------------------------------------------------------------
    Capability("onnx", "runtime", "ONNX Runtime", "ONNX Runtime session", (F.ONNX,),
               "engines.measure.runners:open_onnx_runner", devices=("cpu", "cuda"),
               check=f"{_AV}:onnxruntime"),
    Capability("tflite", "runtime", "LiteRT", "LiteRT (TFLite) interpreter", (F.TFLITE,),
               "engines.measure.tflite_runner:open_tflite_runner", check=f"{_AV}:litert"),
    Capability("torch", "runtime", "PyTorch eager", "TorchScript or torch.export run eagerly (CPU or CUDA)",
               (F.TORCHSCRIPT, F.TORCH_EXPORT, F.TORCH_PICKLE), "engines.measure.torch_runner:open_torch_runner",
               precisions=("fp32", "fp16", "bf16"), devices=("cpu", "cuda"), check=f"{_AV}:torch"),
    Capability("aoti-runtime", "runtime", "AOTInductor runner", "a compiled AOTInductor package", (F.AOTI,),
               "engines.build.aoti:open_aoti_runner", devices=("cpu", "cuda"), check=f"{_AV}:torch"),
    Capability("tensorrt-runtime", "runtime", "TensorRT runner", "a TensorRT engine", (F.TENSORRT,),
               "engines.build.tensorrt_engine:open_tensorrt_runner", devices=("cuda",),
               check=f"{_AV}:tensorrt_backend"),
    Capability("openvino-runtime", "runtime", "OpenVINO runtime", "an OpenVINO IR", (F.OPENVINO,),
               "engines.build.openvino:open_openvino_runner", check=f"{_AV}:openvino"),
    # -- deploy targets -----------------------------------------------------------------------------
    Capability("serverless", "deploy", "SageMaker serverless", "pay per request, CPU only, 1-6 GB memory",
               (F.ONNX,), "engines.deploy.sagemaker_ops:deploy", check=f"{_AV}:boto3"),
    Capability("realtime", "deploy", "SageMaker real-time", "always-on instances (CPU or GPU)",
               (F.ONNX,), "engines.deploy.sagemaker_ops:deploy", check=f"{_AV}:boto3"),
)

NO_MODE = "none"


def by_kind(kind: Kind) -> tuple[Capability, ...]:
    return tuple(c for c in REGISTRY if c.kind == kind)


def ids(kind: Kind) -> tuple[str, ...]:
    return tuple(c.id for c in by_kind(kind))


def get(kind: Kind, cid: str) -> Capability:
    from engines.errors import WorkbenchError

    for c in by_kind(kind):
        if cid == c.id or cid in c.aliases:
            return c
    raise WorkbenchError(f"unknown {kind} {cid!r}: choose one of {', '.join(ids(kind))}")


def aliases(kind: Kind) -> dict[str, str]:
    return {a: c.id for c in by_kind(kind) for a in c.aliases}


def runtime_for(fmt: str) -> Capability | None:
    for c in by_kind("runtime"):
        if c.takes(fmt):
            return c
    return None


def for_format(kind: Kind, fmt: str | None) -> tuple[Capability, ...]:
    """The capabilities of ``kind`` that take a model of format ``fmt``."""
    return tuple(c for c in by_kind(kind) if c.takes(fmt))
