"""Run the outside-models corpus (tests/unit/outside_corpus.py) through every operation; write JSON.

    flock /tmp/cpu.lock python benchmarks/outside_models.py out.json

Each row: architecture, operation, status (ok / failed / refused with the one-line reason), top-1 agreement
with the baseline, file size, p50 latency (timed once per variant: NOT a paired ratio) and seconds taken.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPS = {
    "onnx": [("int8-dynamic", {"quant": "int8-dynamic"}), ("int8-static", {"quant": "int8-static"}),
             ("int4", {"quant": "int4"}), ("fp16", {"quant": "fp16"}),
             ("prune unstructured 30%", {"prune_mode": "unstructured", "prune_amount": 0.3})],
    "torch": [("int8-static", {"quant": "int8-static"}),
              ("prune structured 30%", {"prune_mode": "structured", "prune_amount": 0.3}),
              ("prune unstructured 30%", {"prune_mode": "unstructured", "prune_amount": 0.3})],
    "keras": [("tflite-dynamic", {"quant": "tflite-dynamic"}), ("int8-dynamic (tf2onnx)", {"quant": "int8-dynamic"}),
              ("prune unstructured 30%", {"prune_mode": "unstructured", "prune_amount": 0.3})],
}


def _row(arch, op, fn):
    t0 = time.perf_counter()
    try:
        res = fn()
    except Exception as exc:  # noqa: BLE001 - a refusal is a result here
        return {"arch": arch, "op": op, "status": "refused", "reason": str(exc).splitlines()[0][:200],
                "seconds": round(time.perf_counter() - t0, 1)}
    v = res.variant if hasattr(res, "variant") else res
    m = v.metrics or {}
    return {"arch": arch, "op": op, "status": v.status, "reason": v.error,
            "agree": (m.get("fidelity") or {}).get("top1_agreement"), "size_bytes": m.get("size_bytes"),
            "p50_ms": (m.get("latency_ms") or {}).get("p50"), "seconds": round(time.perf_counter() - t0, 1)}


def main(out: str) -> None:
    from engines.build.builder import BuildOptions, build_for_model
    from engines.optimize.context import MeasureOptions
    from engines.optimize.pipeline import apply_recipe, open_context
    from engines.optimize.recipes import Recipe
    from tests.unit import outside_corpus as corpus

    tmp = Path(tempfile.mkdtemp(prefix="outside-"))
    os.environ.setdefault("WORKBENCH_HOME", str(tmp / "home"))
    models = [("torch.export CNN (.pt2)", corpus.torch_export_cnn(tmp), "torch", None),
              ("TorchScript CNN, no shapes", corpus.torchscript_cnn(tmp), "torch", "x=1x3x16x16"),
              ("legacy ONNX IR 3 (onnx.helper)", corpus.legacy_onnx(tmp), "onnx", None),
              ("BERT encoder (transformers)", corpus.bert_onnx(tmp), "onnx", "input_ids=1x64"),
              ("GPT-2 decoder (transformers)", corpus.gpt2_onnx(tmp), "onnx", "input_ids=1x64"),
              ("MobileNetV3Small (Keras)", corpus.keras_mobilenet(tmp), "keras", None)]
    rows = []
    measure = MeasureOptions(iterations=50, budget_s=1.0)
    for arch, path, kind, shape in models:
        ws = tmp / f"ws-{path.stem}"
        rows.append(_row(arch, "inspect + baseline", lambda: apply_recipe(
            open_context(path, workspace=ws, measure=measure, input_shapes=shape), Recipe())))
        for op, kw in OPS[kind]:
            rows.append(_row(arch, op, lambda kw=kw: apply_recipe(
                open_context(path, workspace=ws, measure=measure, input_shapes=shape), Recipe(**kw))))
        for backend in ("ort", "aoti") if kind == "torch" else ("ort",):
            rows.append(_row(arch, f"build --backend {backend}", lambda b=backend: build_for_model(
                path, b, "fp32", workspace=ws, input_shapes=shape, profile=(1, 4, 8),
                options=BuildOptions(bench_iterations=50, bench_budget_s=1.0))))
        print(json.dumps(rows[-1]), flush=True)
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": platform.processor() or platform.machine(),
           "load": os.getloadavg(), "rows": rows}
    Path(out).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "outside_models.json")
