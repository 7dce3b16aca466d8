"""Kubernetes export: a KServe InferenceService for a variant plus a HorizontalPodAutoscaler.

Two runtimes:

* ``triton``: KServe's ``kserve-tritonserver`` runtime over the model repository
  :func:`engines.serving.triton.export_triton_repo` writes (ONNX only: the
  workbench exports Triton repositories for ONNX models; a TFLite file,
  OpenVINO IR, TensorRT engine built for one GPU or an ONNX model with a dtype
  Triton's config cannot express is refused with the reason).
* ``workbench``: the workbench's own server (``workbench serve``, SageMaker's
  ``/ping`` + ``/invocations`` contract) in an image you name, the model
  fetched by KServe's storage initializer from ``STORAGE_URI``.

The InferenceService runs in ``RawDeployment`` mode with the ``external``
autoscaler class, so KServe creates the Deployment ``NAME-predictor`` and our
HPA (``autoscaling/v2``) scales it. The HPA's target is a per-pod
``requests_per_second`` (a Pods metric: it needs a custom-metrics adapter such
as prometheus-adapter) set from the measured per-replica throughput x a safety
margin, within the latency budget; ``maxReplicas`` covers the peak rate.

:func:`validate_manifest` checks the documents offline: the HPA with
``kubernetes-validate`` (Kubernetes' own OpenAPI schemas, strict), the
InferenceService with jsonschema against KServe's CRD ``openAPIV3Schema``
(vendored from kserve v0.20.0, see ``schemas/``), also strict: a field the
schema does not know is an error (kubectl's ``--validate=strict``).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError

ISVC_SCHEMA = Path(__file__).with_name("schemas") / "kserve_v1beta1_inferenceservice.json.gz"
K8S_VERSION = "1.33"     # the Kubernetes schema version the HPA is validated against
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TRITON_RUNTIME = "kserve-tritonserver"


@dataclass
class Capacity:
    """What one replica sustains within the latency budget, from the measured figures."""

    per_replica_rps: float
    target_rps: float
    batch: int
    latency_ms: float
    basis: str
    min_replicas: int
    max_replicas: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(name: str, what: str = "name") -> str:
    if not name or len(name) > 45 or not _DNS1123.match(name):
        raise WorkbenchError(f"{what} {name!r}: lower-case letters, digits and '-', at most 45 characters "
                             "(KServe appends -predictor and more to it)")
    return name


def capacity(measured: Any, *, latency_budget_ms: float, peak_rps: float, safety: float = 0.7,
             min_replicas: int = 1, max_replicas: int | None = None, served: Any = None) -> Capacity:
    """Per-replica rate from the benchmark (or a recorded server run) within the latency budget, x the margin."""
    if not (latency_budget_ms > 0 and math.isfinite(latency_budget_ms)):
        raise WorkbenchError("--latency-budget must be a positive number of milliseconds")
    if not (peak_rps > 0 and math.isfinite(peak_rps)):
        raise WorkbenchError("--peak-rps must be a positive number of requests per second")
    if not 0 < safety <= 1:
        raise WorkbenchError("--safety must be in (0, 1]: the share of measured throughput the HPA aims for")
    if min_replicas < 1 or (max_replicas is not None and max_replicas < min_replicas):
        raise WorkbenchError("replicas: need 1 <= --min-replicas <= --max-replicas")
    from engines.deploy.capacity import replica_rate

    p99 = float(measured.latency_ms.get("p99") or measured.request_latency_ms)
    if p99 > latency_budget_ms:
        raise WorkbenchError(f"measured p99 latency {p99:.2f} ms at batch {measured.latency_batch} is over the "
                             f"{latency_budget_ms:g} ms budget: no replica count meets it (optimize the variant "
                             "or raise the budget)")
    # the same per-replica rate the SageMaker autoscaling target starts from (engines/deploy/capacity.py)
    rate = replica_rate(measured, latency_budget_ms=latency_budget_ms, batching=True, served=served)
    rps, batch, lat, basis, notes = rate.rps, rate.batch, rate.latency_ms, rate.basis, list(rate.notes)
    target = rps * safety
    needed = max(min_replicas, math.ceil(peak_rps / target))
    top = max_replicas if max_replicas is not None else needed
    if top < needed:
        notes.append(f"--max-replicas {top} is below the {needed} replicas the peak {peak_rps:g} req/s needs")
    notes.append(f"measured on this machine ({measured.device}, {measured.threads or '?'} threads, "
                 f"{measured.source}); pods on other hardware differ: re-measure there")
    return Capacity(rps, target, batch, lat, basis, min_replicas, top, notes)


def triton_refusal(target: Any) -> str | None:
    """Why Triton (through the workbench's repository export) cannot run this variant, or None."""
    from engines.deploy.prepare import gpu_only_reason

    if target.format == "onnx":
        return _onnx_dtype_refusal(Path(target.path))
    why = {"tflite": "a TFLite model (Triton has no TFLite backend)",
           "tensorrt": "a TensorRT engine, built for one GPU and TensorRT version (export the ONNX variant "
                       "and let Triton's runtime build for its GPU)",
           "openvino": "an OpenVINO IR (the workbench exports Triton repositories for ONNX only)"}
    return why.get(target.format, f"a {target.format} model (the workbench exports Triton repositories for ONNX "
                                  "only)") + (f"; {gpu_only_reason(target)}" if gpu_only_reason(target) else "")


def _onnx_dtype_refusal(path: Path) -> str | None:
    """Graph inputs/outputs whose dtype Triton's config cannot express (read with onnx, no runtime)."""
    import onnx

    from engines.serving.triton import TRITON_TYPES

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        return f"not a readable ONNX file ({type(exc).__name__})"
    bad = []
    for kind, values in (("input", proto.graph.input), ("output", proto.graph.output)):
        inits = {i.name for i in proto.graph.initializer}
        for v in values:
            if v.name in inits or not v.type.HasField("tensor_type"):
                continue
            elem = v.type.tensor_type.elem_type
            name = onnx.TensorProto.DataType.Name(elem).lower()
            name = {"float": "float32", "double": "float64", "string": "string"}.get(name, name)
            if name not in TRITON_TYPES:
                bad.append(f"{kind} {v.name} has dtype {name}")
    return ("a model whose " + ", ".join(bad) + ", which Triton's config cannot express") if bad else None


def _resources(measured: Any, gpu: bool, memory_mb: int | None) -> tuple[dict[str, Any], list[str]]:
    notes = []
    cpu = int(measured.threads or 1)
    rss = (measured.extra or {}).get("rss_peak")
    if memory_mb is None:
        if rss:
            memory_mb = max(256, int(math.ceil(float(rss) * 1.5 / (1024 * 1024) / 64.0) * 64))
            notes.append(f"memory {memory_mb}Mi = measured peak RSS {float(rss) / 1e6:.0f} MB x 1.5")
        else:
            memory_mb = 1024
            notes.append("memory 1024Mi: an assumption (no peak RSS recorded; set --memory-mb)")
    req: dict[str, Any] = {"cpu": str(cpu), "memory": f"{memory_mb}Mi"}
    lim: dict[str, Any] = {"cpu": str(cpu), "memory": f"{memory_mb}Mi"}
    if gpu:
        lim["nvidia.com/gpu"] = "1"
        req["nvidia.com/gpu"] = "1"
    notes.append(f"cpu {cpu}: the threads the benchmark ran with")
    return {"requests": req, "limits": lim}, notes


def inference_service(name: str, *, runtime: str, storage_uri: str, cap: Capacity, resources: dict[str, Any],
                      namespace: str = "default", image: str | None = None, model_name: str | None = None,
                      model_file: str = "model.onnx") -> dict[str, Any]:
    predictor: dict[str, Any] = {"minReplicas": cap.min_replicas, "maxReplicas": cap.max_replicas}
    if runtime == "triton":
        predictor["model"] = {"modelFormat": {"name": "onnx"}, "runtime": TRITON_RUNTIME, "protocolVersion": "v2",
                              "storageUri": storage_uri, "resources": resources}
    elif runtime == "workbench":
        if not image:
            raise WorkbenchError("--runtime workbench needs --image: an image with workbench installed "
                                 "(e.g. built from this repository and pushed to your registry)")
        predictor["containers"] = [{
            "name": "kserve-container", "image": image,
            "command": ["workbench"],
            "args": ["serve", f"/mnt/models/{model_file}", "--host", "0.0.0.0", "--port", "8080",
                     "--max-batch", str(max(cap.batch, 1))],
            "env": [{"name": "STORAGE_URI", "value": storage_uri}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 5},
            "resources": resources}]
    else:
        raise WorkbenchError(f"unknown runtime {runtime!r}: use triton or workbench")
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "workbench"},
                         "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment",
                                         "serving.kserve.io/autoscalerClass": "external",
                                         "workbench/per-replica-rps": f"{cap.per_replica_rps:.3f}",
                                         "workbench/model": model_name or name}},
            "spec": {"predictor": predictor}}


def hpa(name: str, cap: Capacity, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"{name}-predictor", "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "workbench"},
                         "annotations": {"workbench/target-basis": cap.basis[:250]}},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-predictor"},
                     "minReplicas": cap.min_replicas, "maxReplicas": cap.max_replicas,
                     "metrics": [{"type": "Pods", "pods": {
                         "metric": {"name": "requests_per_second"},
                         "target": {"type": "AverageValue", "averageValue": _quantity(cap.target_rps)}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}}


def _quantity(x: float) -> str:
    """A Kubernetes quantity: whole numbers plain, otherwise milli-units (12.5 -> 12500m)."""
    milli = int(math.floor(x * 1000))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


# -- validation ---------------------------------------------------------------------------------------------------

def _strict(schema: Any) -> Any:
    """Unknown fields become errors where the schema lists properties and does not keep unknown ones."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(x) for x in schema]
    return schema


_ISVC_CACHE: dict[str, Any] = {}


def isvc_schema() -> dict[str, Any]:
    if "doc" not in _ISVC_CACHE:
        with gzip.open(ISVC_SCHEMA, "rt", encoding="utf-8") as fh:
            _ISVC_CACHE["doc"] = json.load(fh)
        _ISVC_CACHE["strict"] = _strict(_ISVC_CACHE["doc"]["openAPIV3Schema"])
    return _ISVC_CACHE["doc"]


def _where(err: Any) -> str:
    return ".".join(str(p) for p in err.absolute_path) or "(top)"


def validate_manifest(doc: dict[str, Any], k8s_version: str = K8S_VERSION) -> list[str]:
    """Problems found (empty when valid). Raises only when a validator is missing."""
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if kind == "InferenceService" and api == "serving.kserve.io/v1beta1":
        try:
            import jsonschema
        except ImportError as exc:
            raise UnsupportedError("jsonschema is not installed: pip install 'workbench[k8s]'") from exc
        isvc_schema()
        validator = jsonschema.Draft7Validator(_ISVC_CACHE["strict"])
        problems = [f"{_where(e)}: {e.message}" for e in sorted(validator.iter_errors(doc), key=str)]
        name = (doc.get("metadata") or {}).get("name", "")
        if not _DNS1123.match(str(name)):
            problems.append(f"metadata.name: {name!r} is not a DNS-1123 label")
        return problems
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise UnsupportedError("kubernetes-validate is not installed: pip install 'workbench[k8s]'") from exc
    try:
        kubernetes_validate.validate(doc, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path) or '(top)'}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"{kind} {api}: no Kubernetes {k8s_version} schema ({exc})"]
    return []
