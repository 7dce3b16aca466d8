"""Reports of a workspace's variants: rows with deltas vs the baseline, Markdown and JSON.

Rows carry the measured figures and the plain-language notes the UI shows
too. Every speedup is the paired one (timed interleaved with the baseline,
with its interval over rounds; "within noise" when it includes 1.0), a
variant slower than its baseline gets the causes read from its graph and the
CPU, and figures measured elsewhere or long ago are marked stale. Reports hold figures, recipes and file names only: no environment,
no credentials, no absolute paths outside the workspace.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from engines.fsutil import write_text_atomic
from engines.optimize.pareto import pareto_ids, quality_key

SLOW_MODES = ("int8-static", "int8-dynamic", "fp16", "int4", "tflite-dynamic", "tflite-fp16", "tflite-int8")
RETIME_HINT = "re-time it with: workbench variants MODEL --retime"


def speed_figures(v: Any, baseline: Any) -> dict[str, Any]:
    """The variant's speedup over the baseline: the paired figure (timed interleaved with the baseline, with
    its interval) where there is one, else the ratio of two stored latencies, marked unpaired."""
    from engines.measure.paired import Ratio

    paired = (v.metrics or {}).get("paired") or {}
    r = Ratio.from_dict(paired.get("speedup")) if paired.get("reference") in (None, baseline.id) else None
    if r is not None:
        return {"speedup": r.value, "speedup_interval": [r.low, r.high], "within_noise": r.within_noise,
                "paired": True, "rounds": r.rounds}
    a = ((v.metrics or {}).get("latency_ms") or {}).get("p50")
    b = ((baseline.metrics or {}).get("latency_ms") or {}).get("p50")
    if a and b:
        return {"speedup": b / a, "speedup_interval": None, "within_noise": None, "paired": False}
    return {}


def _facts(v: Any, workspace: Any) -> Any:
    if workspace is None:
        return None
    try:
        path = workspace.model_path(v)
        st = path.stat()
    except (OSError, Exception):  # noqa: BLE001 - no file, no graph evidence
        return None
    return _cached_facts(str(path), v.format, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _cached_facts(path: str, fmt: str, _mtime: int, _size: int) -> Any:
    from engines.measure.causes import graph_facts

    return graph_facts(path, fmt)


def slowdown_note(v: Any, baseline: Any, workspace: Any = None) -> str | None:
    """Why a quantized variant came out slower than the float baseline here (from its graph and this CPU),
    or None when it did not, or when the difference is within the timing noise."""
    from engines.measure.causes import MODE_NAMES, slowdown_causes
    from engines.measure.cpu_features import cpu_features

    recipe = v.recipe or {}
    mode = recipe.get("quant")
    if v.status != "ok" or v.id == baseline.id or mode not in SLOW_MODES:
        return None
    sp = speed_figures(v, baseline)
    if not sp.get("speedup") or sp["speedup"] >= 1.0 or sp.get("within_noise"):
        return None
    facts = _facts(v, workspace)
    why = slowdown_causes(mode, facts, recipe={**recipe, "preprocessed": (v.extra.get("quant") or {}).get(
        "preprocessed", True)})
    base_name = "float" if mode.startswith("tflite") else "FP32"
    interval = sp.get("speedup_interval")
    spread = f" [{1 / interval[1]:.2f}-{1 / interval[0]:.2f}]" if interval else " (unpaired)"
    return (f"{MODE_NAMES.get(mode, mode)} is {1 / sp['speedup']:.2f}x{spread} the {base_name} latency on this "
            f"CPU ({cpu_features().model}): {'; '.join(why)}")


def variant_row(v: Any, baseline: Any | None, key: str = "accuracy", front: dict[str, set[str]] | None = None,
                workspace: Any = None) -> dict[str, Any]:
    """Display figures and deltas vs the baseline for one variant."""
    from engines.measure.paired import STALE_AFTER_S, stale_reason

    m = v.metrics or {}
    fid = m.get("fidelity") or {}
    lat = m.get("latency_ms") or {}
    measured = m.get("measured") or {}
    row: dict[str, Any] = {
        "id": v.id, "name": v.name, "kind": v.kind, "status": v.status, "error": v.error, "format": v.format,
        "accuracy": m.get("accuracy"), "top1_agreement": fid.get("top1_agreement"), "cosine": fid.get("cosine"),
        "max_abs_err": fid.get("max_abs_err"), "nan_inf": fid.get("nan_inf"),
        "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
        "throughput_ips": (m.get("throughput") or {}).get("ips"), "throughput_batch": (m.get("throughput") or {}).get("batch"),
        "size_bytes": m.get("size_bytes"), "threads": m.get("threads"), "parent": v.parent,
        "measured_at": measured.get("when"), "measured_on": measured.get("cpu"),
        "stale": stale_reason(m, max_age_s=STALE_AFTER_S) if v.status == "ok" else None,
        "pareto_latency": bool(front and v.id in front.get("latency", set())),
        "pareto_size": bool(front and v.id in front.get("size", set())),
        "notes": [],
    }
    if baseline is not None and v.status == "ok" and baseline.status == "ok":
        bm = baseline.metrics or {}
        if row["accuracy"] is not None and bm.get("accuracy") is not None:
            row["accuracy_delta_points"] = (row["accuracy"] - bm["accuracy"]) * 100.0
        row.update(speed_figures(v, baseline) if v.id != baseline.id else {"speedup": 1.0})
        if row["size_bytes"] and bm.get("size_bytes"):
            row["size_ratio"] = row["size_bytes"] / bm["size_bytes"]
        note = slowdown_note(v, baseline, workspace)
        if note:
            row["notes"].append(note)
    if row["stale"] and measured:   # figures with a record of another machine or an old date
        row["notes"].append(f"figures are stale ({row['stale']}): {RETIME_HINT}")
    if fid.get("nan_inf"):
        row["notes"].append(f"{fid['nan_inf']} NaN/Inf values in the outputs")
    if m.get("degenerate"):
        row["notes"].append(m["degenerate"])
    extra_note = (v.extra or {}).get("note")
    if extra_note:
        row["notes"].append(extra_note)
    return row


def build_report(variants: Iterable[Any], baseline: Any | None, *, title: str, model_name: str,
                 threads: int | None = None, notes: Iterable[str] = (), recommended: Any | None = None,
                 front_ids: Iterable[str] | None = None, settings: dict[str, Any] | None = None,
                 workspace: Any = None) -> dict[str, Any]:
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
        "variants": [dict(variant_row(v, baseline, key, front, workspace), recipe=_public_recipe(v.recipe))
                     for v in vs],
    }


def _public_recipe(recipe: dict[str, Any] | None) -> dict[str, Any]:
    r = dict(recipe or {})
    for k in ("source", "data"):  # hashes: useful for identity, shortened for reading
        if r.get(k):
            r[k] = str(r[k])[:12]
    return r


def _f(v: Any, fmt: str, dash: str = "-") -> str:
    return dash if v is None else format(v, fmt)


def _speed_text(r: dict[str, Any]) -> str:
    if r.get("speedup") is None:
        return "-"
    iv = r.get("speedup_interval")
    if not iv:
        return f"{r['speedup']:.2f} (unpaired)"
    return f"{r['speedup']:.2f} [{iv[0]:.2f}-{iv[1]:.2f}]" + (" ≈ noise" if r.get("within_noise") else "")


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
            _speed_text(r), _f(r["size_bytes"] and r["size_bytes"] / 1024, ".1f"),
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
