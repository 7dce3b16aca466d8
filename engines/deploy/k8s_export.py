"""``workbench k8s export``: the manifests (and for Triton the model repository) written to one folder.

Layout of ``OUT``::

    OUT/inferenceservice.yaml     KServe InferenceService (validated against KServe's CRD schema)
    OUT/hpa.yaml                  autoscaling/v2 HorizontalPodAutoscaler (validated with kubernetes-validate)
    OUT/model_repository/NAME/    Triton runtime only: config.pbtxt + 1/model.onnx (upload it to STORAGE_URI)
    OUT/k8s.json                  the capacity figures and notes behind the HPA target

The folder is written under a temporary name and renamed when complete; an
existing ``OUT`` is refused (nothing the workbench did not create is replaced).
Nothing is written when a manifest fails validation.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import UnsupportedError, WorkbenchError
from engines.tasks import TaskContext, ensure_task


@dataclass
class K8sExport:
    out_dir: str
    files: list[str]
    capacity: dict[str, Any]
    runtime: str
    storage_uri: str
    notes: list[str] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "files": self.files, "capacity": self.capacity, "runtime": self.runtime,
                "storage_uri": self.storage_uri, "notes": self.notes}


def export_k8s(target: Any, out_dir: str | Path, *, runtime: str = "triton", storage_uri: str,
               latency_budget_ms: float, peak_rps: float, name: str | None = None, namespace: str = "default",
               image: str | None = None, safety: float = 0.7, min_replicas: int = 1, max_replicas: int | None = None,
               memory_mb: int | None = None, measured: Any = None, allow_measure: bool = True,
               task: TaskContext | None = None) -> K8sExport:
    import yaml

    from engines.deploy import k8s
    from engines.fsutil import atomic_dir
    from engines.measure.figures import measured_figures

    task = ensure_task(task)
    if runtime not in ("triton", "workbench"):
        raise WorkbenchError(f"unknown runtime {runtime!r}: use triton or workbench")
    if runtime == "triton" and (why := k8s.triton_refusal(target)):
        raise WorkbenchError(f"Triton cannot run {target.name}: it is {why}. Use --runtime workbench with an "
                             "image that serves it, or export the ONNX variant")
    if runtime == "workbench" and not image:
        raise WorkbenchError("--runtime workbench needs --image: an image with workbench installed")
    if not storage_uri or "://" not in storage_uri:
        raise WorkbenchError(f"--storage-uri {storage_uri!r}: give where the pods fetch the model from, e.g. "
                             "s3://bucket/models/NAME or pvc://claim/path")
    default = str(getattr(target.variant, "name", None) or target.name).lower()
    name = k8s.check_name(name or "".join(c if c.isalnum() else "-" for c in default).strip("-")[:45])
    out = Path(out_dir)
    if out.exists():
        raise WorkbenchError(f"{out} exists: give a new --out folder (an existing one is never replaced)")
    task.report(0.0, "reading the measured figures")
    measured = measured or measured_figures(target, allow_measure=allow_measure, task=task.sub(0.0, 0.5))
    from engines.cost.served import from_metrics

    served = from_metrics(getattr(target, "metrics", None))
    cap = k8s.capacity(measured, latency_budget_ms=latency_budget_ms, peak_rps=peak_rps, safety=safety,
                       min_replicas=min_replicas, max_replicas=max_replicas,
                       served=served.get("on") or served.get("off"))
    gpu = str(measured.device).startswith(("cuda", "gpu"))
    resources, notes = k8s._resources(measured, gpu, memory_mb)
    isvc = k8s.inference_service(name, runtime=runtime, storage_uri=storage_uri, cap=cap, resources=resources,
                                 namespace=namespace, image=image, model_name=target.name,
                                 model_file=Path(target.path).name)
    scaler = k8s.hpa(name, cap, namespace)
    problems = [f"InferenceService {p}" for p in k8s.validate_manifest(isvc)]
    problems += [f"HorizontalPodAutoscaler {p}" for p in k8s.validate_manifest(scaler)]
    if problems:
        raise WorkbenchError("generated manifests failed validation: " + "; ".join(problems[:5]))
    task.report(0.6, "writing manifests")
    with atomic_dir(out) as tmp:
        if runtime == "triton":
            from engines.serving.triton import export_triton_repo

            try:
                export_triton_repo(target.path, tmp / "model_repository", name=name,
                                   device="cuda" if gpu else "cpu", max_batch_size=max(cap.batch, 1) if cap.batch > 1
                                   else None, task=task.sub(0.6, 0.9))
            except UnsupportedError as exc:
                raise WorkbenchError(f"Triton cannot run {target.name}: {exc}") from None
        else:
            (tmp / "model").mkdir()
            shutil.copy2(target.path, tmp / "model" / Path(target.path).name)
        (tmp / "inferenceservice.yaml").write_text(yaml.safe_dump(isvc, sort_keys=False), encoding="utf-8")
        (tmp / "hpa.yaml").write_text(yaml.safe_dump(scaler, sort_keys=False), encoding="utf-8")
        info = {"capacity": cap.to_dict(), "runtime": runtime, "storage_uri": storage_uri, "notes": notes,
                "measured": measured.to_dict(), "schemas": {"kserve": k8s.isvc_schema()["source"],
                                                            "kubernetes": f"kubernetes-validate {k8s.K8S_VERSION}"}}
        (tmp / "k8s.json").write_text(json.dumps(info, indent=1, default=str), encoding="utf-8")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    task.report(1.0, f"wrote {out}")
    return K8sExport(str(out), files, cap.to_dict(), runtime, storage_uri, notes + cap.notes, [isvc, scaler])


def validate_files(paths: list[str | Path]) -> dict[str, list[str]]:
    """``workbench k8s validate``: every document of every YAML file -> its problems."""
    import yaml

    from engines.deploy.k8s import validate_manifest

    out: dict[str, list[str]] = {}
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise WorkbenchError(f"{p} does not exist")
        try:
            docs = [d for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d is not None]
        except yaml.YAMLError as exc:
            raise WorkbenchError(f"{p} is not valid YAML: {str(exc).splitlines()[0]}") from None
        for i, doc in enumerate(docs):
            key = f"{p}#{i}" if len(docs) > 1 else str(p)
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                out[key] = ["not a Kubernetes object (no kind/apiVersion)"]
                continue
            out[key] = validate_manifest(doc)
    return out
