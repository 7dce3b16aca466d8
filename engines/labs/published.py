"""Reference figures other people published, shown beside what was measured here and always labelled so.

Each figure names its source (title and URL) and the setting it was measured
in; none of them was measured on this machine, and none is for the lab sample.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    what: str
    figure: str
    setting: str
    source: str
    url: str


_TRT_ZOO = ("NVIDIA TensorRT, TensorFlow Quantization Toolkit: Model Zoo Results",
            "https://docs.nvidia.com/deeplearning/tensorrt/tensorflow-quantization-toolkit/docs/docs/model_zoo.html")

GPU_FIGURES: tuple[Published, ...] = (
    Published("ResNet50-v1, TensorFlow baseline", "7.95 ms (batch 1), 75.05 % top-1",
              "NVIDIA A100, TensorRT 8.4", *_TRT_ZOO),
    Published("ResNet50-v1, TensorRT INT8 (post-training quantization)", "0.46 ms (batch 1), 74.96 % top-1",
              "NVIDIA A100, TensorRT 8.4", *_TRT_ZOO),
    Published("MobileNet-v2, TensorFlow baseline", "3.71 ms (batch 1), 71.77 % top-1",
              "NVIDIA A100, TensorRT 8.4", *_TRT_ZOO),
    Published("MobileNet-v2, TensorRT INT8 (post-training quantization)", "0.30 ms (batch 1), 70.87 % top-1",
              "NVIDIA A100, TensorRT 8.4", *_TRT_ZOO),
)

BATCHING_FIGURES: tuple[Published, ...] = (
    Published("Inception (Triton's optimization example), no dynamic batching", "62.6 infer/s at concurrency 1, "
              "73.2 infer/s at concurrency 2", "Triton Inference Server on a GPU, perf_analyzer",
              "Triton Inference Server user guide: Optimization",
              "https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/optimization.html"),
)


def lines(figures: tuple[Published, ...]) -> list[str]:
    return [f"{f.what}: {f.figure} — {f.setting} (published: {f.source}, {f.url})" for f in figures]
