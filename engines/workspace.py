"""Variants and the workspace folder that stores them.

A *variant* is a model file plus the exact recipe that made it and its measured
figures. Variants live in ``<workspace>/variants/<id>/`` and are listed in
``<workspace>/manifest.json``. The id is a hash of the recipe (which includes
the hashes of its inputs), so the same recipe is never computed twice and a
reopened session finds its variants again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from engines.errors import WorkbenchError
from engines.fsutil import atomic_dir, remove_stale_parts, sha256_file, size_on_disk, write_text_atomic
from engines.manifest import MANIFEST, MANIFEST_VERSION, VARIANT_ID, read_manifest

LOCK_FILE = ".manifest.lock"
LOCK_TIMEOUT_S = 120.0


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
    """A folder of variants with a manifest.

    Thread-safe within one process, and safe across processes: every change takes the manifest's file
    lock, re-reads the manifest, applies itself and writes it back, so two runs (two CLIs, the TUI and a
    CLI) on one workspace never drop each other's variants.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()
        self._variants: dict[str, Variant] = {}
        self._clean_debris()
        self._refresh(self._stored())

    # -- construction -------------------------------------------------
    @classmethod
    def for_model(cls, model_path: str | os.PathLike, home: str | os.PathLike | None = None) -> "Workspace":
        """The default workspace of a model: ``<home>/workspaces/<stem>-<hash of its content>``."""
        model_path = Path(model_path).resolve()
        digest = sha256_file(model_path)[:10]
        base = Path(home) if home is not None else default_home()
        return cls(base / "workspaces" / f"{model_path.stem}-{digest}")

    def _file_lock(self) -> Any:
        from filelock import FileLock

        return FileLock(str(self.root / LOCK_FILE), timeout=LOCK_TIMEOUT_S)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict[str, Variant]]:
        """Hold both locks, merge what other processes saved, yield the variants, then save them."""
        from filelock import Timeout

        with self._lock:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                lock = self._file_lock()
                lock.acquire()
            except Timeout:
                raise WorkbenchError(f"workspace {self.root} stayed locked by another workbench for "
                                     f"{LOCK_TIMEOUT_S:.0f} s: wait for it to finish or use another --workspace") from None
            except OSError as exc:
                raise WorkbenchError(f"cannot lock workspace {self.root}: {exc.strerror or exc}") from exc
            try:
                self._refresh(self._stored())
                yield self._variants
                self._save()
            finally:
                lock.release()

    def _refresh(self, stored: list[Variant]) -> None:
        """Merge the manifest on disk into memory (objects callers hold are updated in place)."""
        with self._lock:
            seen: dict[str, Variant] = {}
            for v in stored:
                # a variant whose folder vanished is dropped, not shown as if it existed
                if v.status != "ok" or (self.variant_dir(v.id) / v.file).exists():
                    mine = self._variants.get(v.id)
                    if mine is not None:
                        mine.__dict__.update(v.__dict__)
                        v = mine
                    seen[v.id] = v
            self._variants = seen

    def refresh(self) -> None:
        """Pick up variants other processes saved since this workspace was opened."""
        self._refresh(self._stored())

    def _stored(self) -> list[Variant]:
        return [Variant.from_dict(d) for d in read_manifest(self.root)]

    def _save(self) -> None:
        data = {"version": MANIFEST_VERSION, "variants": [v.to_dict() for v in self._variants.values()]}
        write_text_atomic(self.root / MANIFEST, json.dumps(data, indent=1, default=str))

    def _clean_debris(self) -> None:
        """Remove temp folders and files of runs that were killed (never those of live runs)."""
        if not self.root.is_dir():
            return
        remove_stale_parts(self.root / "variants", names=VARIANT_ID)
        try:
            with self._file_lock().acquire(timeout=0):  # manifest temp files exist only under this lock
                for part in self.root.glob(f".{MANIFEST}.*.part"):
                    part.unlink(missing_ok=True)
        except Exception:  # locked by a live writer, or a read-only workspace: leave it
            pass

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
        folder = self.variant_dir(v.id)
        path = folder / v.file
        if not path.resolve().is_relative_to(folder.resolve()):
            raise WorkbenchError(f"variant {v.id} points at {path} which resolves outside its folder "
                                 f"{folder}: refused")
        return path

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
        self.refresh()  # another process may have built it meanwhile
        existing = self._variants.get(vid)
        if existing is not None and existing.status == "ok":
            return existing
        final = self.variant_dir(vid)
        with atomic_dir(final, keep_existing=True) as tmp:  # same recipe published meanwhile: theirs is kept
            out = build(tmp)
        file = out["file"]
        metrics = dict(out.get("metrics") or {})
        metrics.setdefault("size_bytes", size_on_disk(final / file))
        v = Variant(id=vid, name=name, kind=kind, format=out["format"], file=file, recipe=recipe,
                    parent=parent, metrics=metrics, extra=dict(out.get("extra") or {}))
        with self._transaction() as variants:
            if vid in variants and variants[vid].status == "ok":
                return variants[vid]  # another run published the same recipe first
            variants[vid] = v
        return v

    def record_failure(self, recipe: dict[str, Any], *, name: str, kind: str, error: str,
                       parent: str | None = None) -> Variant:
        vid = recipe_key(recipe)
        v = Variant(id=vid, name=name, kind=kind, format="-", file="", recipe=recipe, parent=parent,
                    status="failed", error=error)
        with self._transaction() as variants:
            variants[vid] = v
        return v

    def update_metrics(self, vid: str, **metrics: Any) -> Variant:
        with self._transaction():
            v = self.get(vid)
            v.metrics.update(metrics)
        return v

    def update_extra(self, vid: str, **extra: Any) -> Variant:
        with self._transaction():
            v = self.get(vid)
            v.extra.update(extra)
        return v

    def remove(self, vid: str) -> None:
        with self._transaction() as variants:
            variants.pop(vid, None)
            folder = self.variant_dir(vid)
            if folder.is_dir():
                # renamed first (atomic), so a kill mid-delete leaves a stale part, never half a variant
                trash = folder.with_name(f".{vid}.{secrets.token_hex(6)}.part")
                os.replace(folder, trash)
                shutil.rmtree(trash, ignore_errors=True)
