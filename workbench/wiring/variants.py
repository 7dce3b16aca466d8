"""The current variant, as every area shows and uses it: choices for the picker and a typed summary.

The session holds one current variant (``Session.selected_variant_id``; None means the baseline). Each
area accepts some formats (Cost prices ONNX/TFLite, Engine builds from ONNX); :func:`current` is the
variant an area acts on: the chosen one when that area can use it, else the baseline, said so in the
summary, never the newest variant silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from workbench.formatting import display_path, human_bytes, human_count

if TYPE_CHECKING:
    from workbench.session import Session

RUNNABLE = ("onnx", "tflite")
BUILD_SOURCES = ("onnx",)


@dataclass(frozen=True)
class VariantSummary:
    id: str
    name: str
    kind: str
    format: str
    path: str                    # as the user reads it (relative to the repo or ~)
    recipe: str                  # the recipe in words (prune, quantization)
    macs: int | None             # multiply-accumulates per sample at batch 1 (None: unknown)
    size_bytes: int | None
    measured_on: str | None      # CPU / device the figures come from
    measured_at: str | None      # UTC date and time of the figures
    why: str                     # why this variant: "chosen", "baseline (nothing chosen yet)", ...

    def line(self) -> str:
        """One line (wrapped by the widget): path, recipe, MACs, size, where and when measured."""
        where = " ".join(x for x in (self.measured_on, self.measured_at) if x) or "not measured yet"
        return (f"{self.path} · {self.recipe} · {human_count(self.macs, 'MACs')} · "
                f"{human_bytes(self.size_bytes)} · measured: {where}")


def _accepts(v: Any, formats: Iterable[str]) -> bool:
    return v.status == "ok" and v.format in tuple(formats)


def choices(session: "Session", formats: Iterable[str] = RUNNABLE) -> list[tuple[str, str]]:
    """(label, id) for every variant the area can use, the baseline first."""
    ws = session.workspace
    if ws is None:
        return []
    formats = tuple(formats)
    vs = [v for v in ws.variants() if _accepts(v, formats)]
    vs.sort(key=lambda v: (v.kind != "baseline", v.created))
    return [(f"{v.name} ({v.format})" if v.kind != "baseline" else f"baseline ({v.format})", v.id) for v in vs]


def current(session: "Session", formats: Iterable[str] = RUNNABLE) -> tuple[Any, str]:
    """(the variant this area acts on or None, why): the chosen one if the area takes it, else the baseline."""
    ws = session.workspace
    if ws is None:
        return None, "no model open"
    formats = tuple(formats)
    base = ws.baseline()
    chosen = session.selected_variant if session.selected_variant_id else None
    if chosen is not None and _accepts(chosen, formats):
        return chosen, "chosen"
    if base is not None and _accepts(base, formats):
        if chosen is not None and chosen.id != base.id:
            return base, f"baseline: the chosen {chosen.name} is {chosen.format}, not usable here"
        return base, "baseline (nothing chosen yet)" if chosen is None else "chosen"
    if chosen is not None:
        return None, f"the chosen {chosen.name} is {chosen.format}, not usable here; no baseline yet"
    return None, "no baseline yet"


def _macs(session: "Session", v: Any) -> int | None:
    """A pruned variant records its MACs; a quantized one keeps its parent's; the baseline is the model's."""
    ws = session.workspace
    seen = set()
    while v is not None and v.id not in seen:
        seen.add(v.id)
        if (v.metrics or {}).get("macs"):
            return int(v.metrics["macs"])
        if (v.recipe or {}).get("prune_mode") not in (None, "none", "unstructured", "2:4"):
            return None   # channels (or layers) removed and not recorded: not the model's MACs
        if v.kind == "baseline" or not v.parent:
            break
        try:
            v = ws.get(v.parent) if ws is not None else None
        except Exception:
            v = None
    if v is not None and (v.kind == "baseline" or not v.parent):
        recipe = v.recipe or {}
        if recipe.get("prune_mode", "none") in ("none", None):
            info = session.model_info
            return getattr(info, "macs", None)
    return None


def recipe_words(recipe: dict[str, Any], kind: str) -> str:
    parts = []
    if recipe.get("prune_mode") == "blocks":   # layer/block removal: a count, or a share of the removable blocks
        n = int(recipe.get("prune_blocks") or 0)
        parts.append((f"remove {n} block{'s' if n != 1 else ''}" if n else
                      f"remove {float(recipe.get('prune_amount') or 0):.0%} of the removable blocks")
                     + (f" + {recipe['recover_epochs']} recovery epochs" if recipe.get("recover_epochs") else ""))
    elif recipe.get("prune_mode") not in (None, "none"):
        parts.append(f"prune {recipe['prune_mode']} {float(recipe.get('prune_amount') or 0):.0%}"
                     + (f" + {recipe['recover_epochs']} recovery epochs" if recipe.get("recover_epochs") else ""))
    q = recipe.get("quant")
    if q not in (None, "none"):
        words = q
        if q == "int8-static":
            words += (f" {recipe.get('quant_format', 'qdq')} {recipe.get('activation_type', '?')}/"
                      f"{recipe.get('weight_type', '?')} {'per-channel' if recipe.get('per_channel') else 'per-tensor'}"
                      f" {recipe.get('calibration', '')}")
        parts.append(words.strip())
    if recipe.get("backend"):
        parts.append(f"engine {recipe['backend']} {recipe.get('precision', '')}".strip())
    return " + ".join(parts) or ("FP32, as exported" if kind == "baseline" else kind)


def summarize(session: "Session", v: Any, why: str = "chosen") -> VariantSummary:
    ws = session.workspace
    m = v.metrics or {}
    measured = m.get("measured") or {}
    when = measured.get("when")
    if isinstance(when, (int, float)):
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))
    on = measured.get("cpu") or (m.get("device") if m.get("latency_ms") else None)
    try:   # inside its workspace: <workspace>/variants/<id>/<file> (the workspace's place is on Overview)
        full = ws.model_path(v)
        path = f"{ws.root.name}/{full.relative_to(ws.root)}"
    except Exception:
        path = display_path(v.file)
    return VariantSummary(v.id, v.name, v.kind, v.format, path, recipe_words(v.recipe or {}, v.kind),
                          _macs(session, v), m.get("size_bytes"), on, when, why)


def current_summary(session: "Session", formats: Iterable[str] = RUNNABLE) -> tuple[VariantSummary | None, str]:
    v, why = current(session, formats)
    return (summarize(session, v, why) if v is not None else None), why


def area_target(session: "Session", formats: Iterable[str] = RUNNABLE) -> Any:
    """What an area runs or prices: the current variant (see :func:`current`), else the open model file when
    the area takes its format; never the newest variant by default. None when there is nothing usable."""
    from pathlib import Path

    from engines.targets import RUNNABLE_SUFFIXES, Target

    formats = tuple(formats)
    v, _ = current(session, formats)
    if v is not None:
        return Target.of_variant(session.workspace, v)
    p = session.model_path
    if p is not None and RUNNABLE_SUFFIXES.get(Path(p).suffix.lower()) in formats and Path(p).is_file():
        return Target(Path(p).stem, Path(p), RUNNABLE_SUFFIXES[Path(p).suffix.lower()])
    return None
