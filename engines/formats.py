"""One vocabulary of model formats, used by the loader, ModelInfo, runners, screens and formatting.

A format id names what a file *is* (``torchscript``, not "a .pt file"): the
loader maps suffixes to these ids, ModelInfo carries one, runners are keyed by
them and the UI shows :func:`label`. Engine outputs (``aoti``, ``tensorrt``)
are formats too, because variants in a workspace carry them.
"""

from __future__ import annotations

from dataclasses import dataclass

ONNX = "onnx"
TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch_export"
TORCH_PICKLE = "torch_pickle"
KERAS = "keras"
SAVEDMODEL = "savedmodel"
TFLITE = "tflite"
AOTI = "aoti"
TENSORRT = "tensorrt"
OPENVINO = "openvino"

TORCH_FORMATS = (TORCHSCRIPT, TORCH_EXPORT, TORCH_PICKLE)
TF_FORMATS = (KERAS, SAVEDMODEL)


@dataclass(frozen=True)
class Format:
    id: str
    label: str
    suffixes: tuple[str, ...]
    support: str          # what the workbench can do with it (shown by ``inspect`` and the Overview)


FORMATS: dict[str, Format] = {f.id: f for f in (
    Format(ONNX, "ONNX", (".onnx",),
           "ONNX: inspect, benchmark, ORT quantization (FP16/INT8/INT4), unstructured pruning, "
           "ORT/TensorRT engines, serving and SageMaker deployment."),
    Format(TORCHSCRIPT, "TorchScript", (".pt", ".pth", ".ts"),
           "TorchScript: inspect; exported to ONNX (the common currency) for quantization, "
           "benchmarks, engines and deployment; structured pruning when the architecture is known."),
    Format(TORCH_PICKLE, "PyTorch pickle", (),
           "Pickled PyTorch module (loaded only with --trust-pickle): inspect; exported to ONNX "
           "when given an input spec."),
    Format(TORCH_EXPORT, "torch.export", (".pt2",),
           "torch.export (.pt2): inspect; exported to ONNX for quantization and engines; "
           "AOTInductor packages."),
    Format(KERAS, "Keras", (".keras",),
           "Keras: inspect; optimized through the TFLite converter (dynamic range, float16, full integer)."),
    Format(SAVEDMODEL, "SavedModel", (),
           "SavedModel: inspect; optimized through the TFLite converter (dynamic range, float16, "
           "full integer)."),
    Format(TFLITE, "TFLite", (".tflite",),
           "TFLite: inspect and benchmark with the LiteRT interpreter; no ONNX engines."),
    Format(AOTI, "AOTInductor package", (), "An AOTInductor package built by the workbench."),
    Format(TENSORRT, "TensorRT engine", (".plan", ".engine"), "A TensorRT engine built by the workbench."),
    Format(OPENVINO, "OpenVINO IR", (".xml",), "An OpenVINO IR (model.xml + model.bin) built by the workbench: "
           "benchmark, sweeps and serving with the OpenVINO runtime."),
)}

# Suffixes the loader opens (TorchScript suffixes may turn out to hold a pickle: the loader looks inside).
SUFFIX_FORMATS: dict[str, str] = {s: f.id for f in FORMATS.values() if f.id not in (AOTI, TENSORRT, OPENVINO)
                                  for s in f.suffixes}


def label(fmt: str | None) -> str:
    """The name a person reads ("TorchScript"); unknown ids come back unchanged."""
    if fmt is None:
        return "n/a"
    known = FORMATS.get(fmt)
    return known.label if known else fmt


def is_torch(fmt: str | None) -> bool:
    return fmt in TORCH_FORMATS


def is_tf(fmt: str | None) -> bool:
    return fmt in TF_FORMATS
