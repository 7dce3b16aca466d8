"""Reports of a workspace's variants: rows with deltas vs the baseline, Markdown and JSON.

Rows carry the measured figures and the plain-language notes the UI shows
too (a quantized variant slower than FP32 gets the reason from the CPU's
flags). Reports hold figures, recipes and file names only: no environment,
no credentials, no absolute paths outside the workspace.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

from engines.fsutil import write_text_atomic
from engines.optimize.pareto import pareto_ids, quality_key

SLOW_MODES = ("int8-static", "int8-dynamic", "fp16", "int4")


def slowdown_note(v: Any, baseline: Any) -> str | None:
    """Why a quantized variant came out slower than the FP32 baseline here, or None when it did not."""
    from engines.measure.cpu_features import cpu_features, explain_int8_slowdown

    recipe = v.recipe or {}
    if v.status != "ok" or v.id == baseline.id or recipe.get("quant") not in SLOW_MODES:
        return None
    a = (v.metrics.get("latency_ms") or {}).get("p50")
    b = (baseline.metrics.get("latency_ms") or {}).get("p50")
    if a is None or b is None or a <= b:
        return None
    mode = recipe.get("quant")
    why = explain_int8_slowdown({**recipe, "preprocessed": (v.extra.get("quant") or {}).get("preprocessed", True)})
    return f"{mode} is {a / b:.2f}x the FP32 latency on this CPU ({cpu_features().model}): {why}"


def variant_row(v: Any, baseline: Any | None, key: str = "accuracy", front: dict[str, set[str]] | None = None,
                ) -> dict[str, Any]:
    """Display figures and deltas vs the baseline for one variant."""
    m = v.metrics or {}
    fid = m.get("fidelity") or {}
    lat = m.get("latency_ms") or {}
    row: dict[str, Any] = {
        "id": v.id, "name": v.name, "kind": v.kind, "status": v.status, "error": v.error, "format": v.format,
        "accuracy": m.get("accuracy"), "top1_agreement": fid.get("top1_agreement"), "cosine": fid.get("cosine"),
        "max_abs_err": fid.get("max_abs_err"), "nan_inf": fid.get("nan_inf"),
        "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
        "throughput_ips": (m.get("throughput") or {}).get("ips"), "throughput_batch": (m.get("throughput") or {}).get("batch"),
        "size_bytes": m.get("size_bytes"), "threads": m.get("threads"), "parent": v.parent,
        "pareto_latency": bool(front and v.id in front.get("latency", set())),
        "pareto_size": bool(front and v.id in front.get("size", set())),
        "notes": [],
    }
    if baseline is not None and v.status == "ok" and baseline.status == "ok":
        bm = baseline.metrics or {}
        if row["accuracy"] is not None and bm.get("accuracy") is not None:
            row["accuracy_delta_points"] = (row["accuracy"] - bm["accuracy"]) * 100.0
        b50 = (bm.get("latency_ms") or {}).get("p50")
        if row["p50_ms"] and b50:
            row["speedup"] = b50 / row["p50_ms"]
        if row["size_bytes"] and bm.get("size_bytes"):
            row["size_ratio"] = row["size_bytes"] / bm["size_bytes"]
        note = slowdown_note(v, baseline)
        if note:
            row["notes"].append(note)
    if fid.get("nan_inf"):
        row["notes"].append(f"{fid['nan_inf']} NaN/Inf values in the outputs")
    extra_note = (v.extra or {}).get("note")
    if extra_note:
        row["notes"].append(extra_note)
    return row


def build_report(variants: Iterable[Any], baseline: Any | None, *, title: str, model_name: str,
                 threads: int | None = None, notes: Iterable[str] = (), recommended: Any | None = None,
                 front_ids: Iterable[str] | None = None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    from engines.measure.cpu_features import cpu_features

    vs = list(variants)
    key = quality_key(vs)
    front = pareto_ids(vs, key)
    if front_ids is not None:
        front["latency"] = set(front_ids)
    return {
        "title": title,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "model": Path(model_name).name,
        "cpu": cpu_features().to_dict(),
        "threads": threads,
        "quality": key,
        "baseline": baseline.id if baseline is not None else None,
        "recommended": recommended.id if recommended is not None else None,
        "settings": dict(settings or {}),
        "notes": list(notes),
        "variants": [dict(variant_row(v, baseline, key, front), recipe=_public_recipe(v.recipe)) for v in vs],
    }


def _public_recipe(recipe: dict[str, Any] | None) -> dict[str, Any]:
    r = dict(recipe or {})
    for k in ("source", "data"):  # hashes: useful for identity, shortened for reading
        if r.get(k):
            r[k] = str(r[k])[:12]
    return r


def _f(v: Any, fmt: str, dash: str = "-") -> str:
    return dash if v is None else format(v, fmt)


def render_markdown(report: dict[str, Any]) -> str:
    q = report["quality"]
    lines = [f"# {report['title']}", "",
             f"Model `{report['model']}` · generated {report['generated']} · CPU {report['cpu']['model']} "
             f"({', '.join(report['cpu']['flags']) or 'no SIMD flags'}) · threads {report.get('threads') or '-'}",
             f"Quality measure: {q}.", ""]
    lines += ["| variant | status | accuracy | Δ pts | top-1 agree | cosine | p50 ms | p99 ms | speedup | size KB | "
              "size × | Pareto |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["variants"]:
        star = "★" if r["pareto_latency"] else ""
        if r["id"] == report.get("recommended"):
            star += " (recommended)"
        status = r["status"] if r["status"] == "ok" else f"failed: {r['error']}"
        lines.append("| " + " | ".join([
            r["name"], status, _f(r["accuracy"], ".2%"), _f(r.get("accuracy_delta_points"), "+.2f"),
            _f(r["top1_agreement"], ".2%"), _f(r["cosine"], ".5f"), _f(r["p50_ms"], ".3f"), _f(r["p99_ms"], ".3f"),
            _f(r.get("speedup"), ".2f"), _f(r["size_bytes"] and r["size_bytes"] / 1024, ".1f"),
            _f(r.get("size_ratio"), ".2f"), star]) + " |")
    notes = list(report.get("notes") or [])
    for r in report["variants"]:
        notes += [f"{r['name']}: {n}" for n in r["notes"]]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_report(path: str | Path, report: dict[str, Any]) -> Path:
    """Markdown for ``.md``, JSON otherwise (both atomic)."""
    path = Path(path).expanduser()
    text = render_markdown(report) if path.suffix.lower() in (".md", ".markdown") else \
        json.dumps(report, indent=2, default=str) + "\n"
    write_text_atomic(path, text)
    return path
