"""Variants and the workspace folder that stores them.

A *variant* is a model file plus the exact recipe that made it and its measured
figures. Variants live in ``<workspace>/variants/<id>/`` and are listed in
``<workspace>/manifest.json``. The id is a hash of the recipe (which includes
the hashes of its inputs), so the same recipe is never computed twice and a
reopened session finds its variants again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from engines.errors import WorkbenchError
from engines.fsutil import atomic_dir, sha256_file, size_on_disk, write_text_atomic

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def recipe_key(recipe: dict[str, Any]) -> str:
    """Stable id of a recipe (which must already hold its input hashes)."""
    return hashlib.sha256(canonical_json(recipe).encode()).hexdigest()[:16]


@dataclass
class Variant:
    id: str
    name: str                     # short human label, e.g. "int8 static QDQ u8s8/pc"
    kind: str                     # baseline | quantized | pruned | engine | tflite | ...
    format: str                   # onnx | tflite | aoti | tensorrt | ...
    file: str                     # model path relative to the variant folder
    recipe: dict[str, Any]
    parent: str | None = None     # id of the variant it was made from
    status: str = "ok"            # ok | failed
    error: str | None = None
    created: float = field(default_factory=time.time)
    # Measured figures; keys used across the app:
    #   accuracy (0..1 or None), fidelity {top1_agreement, cosine, max_abs_err, nan_inf},
    #   size_bytes, latency_ms {p50, p90, p95, p99, mean}, throughput {batch, ips},
    #   threads, device, run_metrics {cpu_mean, cpu_peak, gpu_util_mean, gpu_util_peak, gpu_mem_peak}
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # reports (fusions, per-layer sparsity, ...)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Variant":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_home() -> Path:
    from engines.settings import home

    return home()


class Workspace:
    """A folder of variants with a manifest. Thread-safe within one process."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()
        self._variants: dict[str, Variant] = {}
        self._load()

    # -- construction -------------------------------------------------
    @classmethod
    def for_model(cls, model_path: str | os.PathLike, home: str | os.PathLike | None = None) -> "Workspace":
        """The default workspace of a model: ``<home>/workspaces/<stem>-<hash of its content>``."""
        model_path = Path(model_path).resolve()
        digest = sha256_file(model_path)[:10]
        base = Path(home) if home is not None else default_home()
        return cls(base / "workspaces" / f"{model_path.stem}-{digest}")

    def _load(self) -> None:
        path = self.root / MANIFEST
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkbenchError(f"workspace manifest {path} is unreadable: {exc}") from exc
        for d in data.get("variants", []):
            v = Variant.from_dict(d)
            # a variant whose folder vanished is dropped, not shown as if it existed
            if v.status != "ok" or (self.root / "variants" / v.id / v.file).exists():
                self._variants[v.id] = v

    def _save(self) -> None:
        data = {"version": MANIFEST_VERSION, "variants": [v.to_dict() for v in self._variants.values()]}
        write_text_atomic(self.root / MANIFEST, json.dumps(data, indent=1, default=str))

    # -- queries -------------------------------------------------------
    def variants(self) -> list[Variant]:
        with self._lock:
            return sorted(self._variants.values(), key=lambda v: v.created)

    def get(self, vid: str) -> Variant:
        with self._lock:
            try:
                return self._variants[vid]
            except KeyError:
                raise WorkbenchError(f"no variant {vid!r} in workspace {self.root}") from None

    def find(self, recipe: dict[str, Any]) -> Variant | None:
        with self._lock:
            return self._variants.get(recipe_key(recipe))

    def baseline(self) -> Variant | None:
        for v in self.variants():
            if v.kind == "baseline" and v.status == "ok":
                return v
        return None

    def variant_dir(self, vid: str) -> Path:
        return self.root / "variants" / vid

    def model_path(self, v: Variant | str) -> Path:
        v = self.get(v) if isinstance(v, str) else v
        return self.variant_dir(v.id) / v.file

    def resolve(self, ref: str) -> Variant:
        """A variant by id, id prefix or exact name."""
        with self._lock:
            if ref in self._variants:
                return self._variants[ref]
            hits = [v for v in self._variants.values() if v.id.startswith(ref) or v.name == ref]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise WorkbenchError(f"no variant matches {ref!r} in workspace {self.root}")
        raise WorkbenchError(f"{ref!r} matches {len(hits)} variants; give more of the id")

    # -- changes -------------------------------------------------------
    def create(
        self,
        recipe: dict[str, Any],
        build: Callable[[Path], dict[str, Any]],
        *,
        name: str,
        kind: str,
        parent: str | None = None,
    ) -> Variant:
        """Build a variant into a temp folder and publish it atomically.

        ``build(folder)`` writes the model into ``folder`` and returns at least
        ``{"file": ..., "format": ...}`` plus optional ``metrics``/``extra``.
        If the recipe exists already the stored variant is returned untouched.
        """
        vid = recipe_key(recipe)
        existing = self._variants.get(vid)
        if existing is not None and existing.status == "ok":
            return existing
        final = self.variant_dir(vid)
        with atomic_dir(final) as tmp:
            out = build(tmp)
        file = out["file"]
        metrics = dict(out.get("metrics") or {})
        metrics.setdefault("size_bytes", size_on_disk(final / file))
        v = Variant(id=vid, name=name, kind=kind, format=out["format"], file=file, recipe=recipe,
                    parent=parent, metrics=metrics, extra=dict(out.get("extra") or {}))
        with self._lock:
            self._variants[vid] = v
            self._save()
        return v

    def record_failure(self, recipe: dict[str, Any], *, name: str, kind: str, error: str,
                       parent: str | None = None) -> Variant:
        vid = recipe_key(recipe)
        v = Variant(id=vid, name=name, kind=kind, format="-", file="", recipe=recipe, parent=parent,
                    status="failed", error=error)
        with self._lock:
            self._variants[vid] = v
            self._save()
        return v

    def update_metrics(self, vid: str, **metrics: Any) -> Variant:
        with self._lock:
            v = self.get(vid)
            v.metrics.update(metrics)
            self._save()
            return v

    def update_extra(self, vid: str, **extra: Any) -> Variant:
        with self._lock:
            v = self.get(vid)
            v.extra.update(extra)
            self._save()
            return v

    def remove(self, vid: str) -> None:
        with self._lock:
            self._variants.pop(vid, None)
            shutil.rmtree(self.variant_dir(vid), ignore_errors=True)
            self._save()
