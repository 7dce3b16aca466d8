"""The six labs: what each teaches, the model it needs, its steps (one key each) and what to try next.

A step names its action (``engines.labs.actions``) and its check
(``engines.labs.state``); ``needs`` lists the steps whose results it uses, so a
step asked for out of order can say which one comes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engines import formats as F
from engines.errors import WorkbenchError

STEP_KEYS = "abcde"   # the screen binds these keys to a lab's steps, in order


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    does: str                        # one line: what the action does
    needs: tuple[str, ...] = ()      # steps whose results this one uses


@dataclass(frozen=True)
class Lab:
    number: int
    title: str
    goal: str
    formats: tuple[str, ...]         # model formats the lab can use
    format_reason: str               # why, when the open model is not one of them
    steps: tuple[Step, ...]
    try_next: tuple[str, ...] = field(default_factory=tuple)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise WorkbenchError(f"lab {self.number} has no step {step_id!r}: its steps are "
                             f"{', '.join(s.id for s in self.steps)}")

    def key_of(self, step_id: str) -> str:
        return STEP_KEYS[[s.id for s in self.steps].index(step_id)]


TORCH = F.TORCH_FORMATS
ONNX_OR_TORCH = (F.ONNX,) + TORCH

BASELINE = Step("baseline", "Export the model to ONNX and benchmark it",
                "export the open model to ONNX (the baseline variant) and time it")
CLOUD = Step("cloud", "Start the practice cloud",
             "start moto's SageMaker/S3/CloudWatch on 127.0.0.1: real boto3 calls, nothing real created")

LABS: tuple[Lab, ...] = (
    Lab(1, "Convert to ONNX, quantize, benchmark",
        "Export a trained PyTorch model to ONNX, quantize it to INT8 with calibration data, and measure what "
        "that did to latency, size and accuracy, timed side by side.",
        ONNX_OR_TORCH, "INT8 static quantization here is ONNX Runtime's: it needs an ONNX model or a PyTorch "
        "model to export", (
            BASELINE,
            Step("int8", "Quantize to INT8 static", "INT8 static QDQ (U8 activations, S8 per-channel weights), "
                 "calibrated on the training split", needs=("baseline",)),
            Step("bench1", "Benchmark INT8 against FP32, interleaved",
                 "re-time the INT8 variant and the baseline in the same run, round by round", needs=("int8",)),
        ),
        ("Try INT8 dynamic or FP16 on the Optimize screen (2) and compare their rows",
         "Apply pruning first, then INT8: the two multiply (Optimize, prune slider + INT8 static)",
         "Open the 8x8 digits CNN (digits_cnn.onnx) and repeat: see why INT8 can be slower on a tiny model")),
    Lab(2, "Prune a CNN: speed and accuracy",
        "Remove half the channels of a CNN (structured) and zero half the weights (unstructured, masking); "
        "measure which one runs faster and what each costs in accuracy.",
        ONNX_OR_TORCH, "pruning works on PyTorch and ONNX models", (
            BASELINE,
            Step("structured", "Prune 50% of channels (structured)",
                 "remove 50% of the channels by L1 magnitude: smaller layers, fewer MACs", needs=("baseline",)),
            Step("unstructured", "Prune 50% of weights (unstructured)",
                 "zero the 50% smallest weights: same shapes, same MACs", needs=("baseline",)),
            Step("bench2", "Measure both against the baseline, interleaved",
                 "re-time both pruned variants against the baseline in the same run",
                 needs=("structured", "unstructured")),
        ),
        ("Add recovery epochs (Optimize: recover) to win back the accuracy structured pruning lost",
         "Quantize the structured variant to INT8: pruning and INT8 speedups multiply",
         "Try 2:4 semi-structured: it pays off only on GPUs with sparse tensor cores")),
    Lab(3, "Compile for the hardware (TensorRT on GPU, its CPU counterparts here)",
        "Compile a PyTorch model into an engine for the device it runs on and measure the speedup over the "
        "same model run plainly. TensorRT needs an NVIDIA GPU; on a CPU the same idea is OpenVINO and "
        "PyTorch's AOTInductor.",
        TORCH, "AOTInductor compiles PyTorch models (and TensorRT takes the ONNX exported from one): open a "
        ".pt/.pt2 file", (
            BASELINE,
            Step("openvino", "Build an OpenVINO engine (CPU)", "convert the baseline to OpenVINO IR, FP32, and "
                 "time it against the baseline", needs=("baseline",)),
            Step("aoti", "Compile with AOTInductor (CPU)", "compile the PyTorch model ahead of time to a .pt2 "
                 "package and time it against the baseline", needs=("baseline",)),
            Step("gpu", "Compare with published GPU figures",
                 "read the measured CPU engines beside TensorRT figures NVIDIA published (labelled as published)",
                 needs=("openvino",)),
        ),
        ("Build an INT8 OpenVINO engine (Engine screen, 3: precision int8) from the same baseline",
         "On a machine with an NVIDIA GPU, build TensorRT FP16 (Engine screen) and compare",
         "Sweep batch sizes of the engine (Batching screen, 5)")),
    Lab(4, "Deploy serverless, track performance and cost",
        "Package the model for SageMaker, deploy it as a serverless endpoint, watch its status, latency and "
        "cost, and tear everything down again. Without an AWS account the practice cloud answers every call.",
        ONNX_OR_TORCH, "SageMaker serverless here serves ONNX models on CPU", (
            BASELINE,
            CLOUD,
            Step("deploy", "Deploy a serverless endpoint", "package, upload, create model, config and endpoint, "
                 "wait for InService, invoke once", needs=("baseline", "cloud")),
            Step("monitor", "Track status, latency and cost", "read the endpoint's status and CloudWatch "
                 "metrics, and its cost so far from the price catalog", needs=("deploy",)),
            Step("teardown", "Tear everything down", "delete the endpoint, its config, model and uploaded "
                 "package", needs=("deploy",)),
        ),
        ("Deploy with provisioned concurrency (Deploy screen, 7) and compare the monthly estimate",
         "Price the same traffic on always-on instances (Cost screen, 6)",
         "With an AWS account: the Deploy screen runs the same plan for real")),
    Lab(5, "GPU vs CPU: cost and performance",
        "Turn measured throughput into cost per million inferences on cloud instances, find where serverless "
        "and always-on break even, and see what a GPU would have to deliver to be cheaper.",
        ONNX_OR_TORCH, "the cost model prices ONNX variants measured here", (
            BASELINE,
            Step("cost", "Project costs on CPU instances and serverless",
                 "price the measured throughput on the catalog's instances and serverless", needs=("baseline",)),
            Step("gpu_cost", "Price a GPU instance from a published figure",
                 "add a GPU throughput basis (labelled published) and compare cost per 1M", needs=("cost",)),
        ),
        ("Change the traffic profile on the Cost screen (6): at what average req/s does always-on win?",
         "Quantize first (lab 1): a faster variant is a cheaper one",
         "Measure the GPU yourself where one is available (Engine screen, device cuda)")),
    Lab(6, "Batch inference requests",
        "Measure throughput at growing batch sizes, then serve the model with dynamic batching on and off "
        "under concurrent load, and explain why batching helped (or not) on this machine.",
        ONNX_OR_TORCH, "the batching server runs ONNX models", (
            BASELINE,
            Step("sweep", "Sweep batch sizes", "time the model at batch 1, 2, 4, … and compare throughput",
                 needs=("baseline",)),
            Step("serve", "Serve with batching on and off under load",
                 "start the server on 127.0.0.1 with and without dynamic batching and load it concurrently",
                 needs=("baseline",)),
        ),
        ("Set a latency budget on the Batching screen (5): the largest batch that meets it",
         "Export a Triton model repository with these batch sizes (Batching screen)",
         "Deploy real-time with autoscaling in the practice cloud (Deploy screen, endpoint URL)")),
)


def lab(number: int) -> Lab:
    for entry in LABS:
        if entry.number == number:
            return entry
    raise WorkbenchError(f"there is no lab {number}: the labs are 1 to {len(LABS)}")
