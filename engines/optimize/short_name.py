"""A variant's short name, for chart labels and narrow tables: ``ch50%+1ep int8``, ``un30%``, ``int8 s8/s8``.

Made from the stored recipe (not the long label), so it stays short whatever the recipe holds:

- pruning: ``ch`` channels removed (structured), ``un`` weights zeroed (unstructured), ``2:4`` semi-structured,
  any other mode by its name; then the amount, ``itN`` (iterative, N steps) or ``reg`` (regularized), and
  ``+Nep`` recovery epochs;
- quantization: ``int8`` for static INT8 with the defaults (QDQ, U8/S8, per-channel, min/max), what differs
  appended (``qop``, ``s8/s8``, ``pt``, ``entropy``); ``int8 dyn``, ``int8 QAT``, ``int4``, ``fp16``, ``OV int8``,
  ``tfl int8`` ...; an engine by its backend and precision.
"""

from __future__ import annotations

from typing import Any

PRUNE = {"structured": "ch", "unstructured": "un"}
QUANT = {"int8-dynamic": "int8 dyn", "int8-qat": "int8 QAT", "int4": "int4", "fp16": "fp16",
         "openvino-int8": "OV int8", "openvino-int8-acc": "OV int8 acc", "tflite-dynamic": "tfl dyn",
         "tflite-fp16": "tfl fp16", "tflite-int8": "tfl int8"}
LEGEND = ("ch/un = channels/weights pruned (structured/unstructured) · +Nep = recovery epochs · itN = iterative, "
          "N steps · reg = regularized · int8 = static INT8 QDQ U8/S8 per-channel")


def _prune(r: dict[str, Any]) -> str:
    mode = r.get("prune_mode") or "none"
    if mode == "none":
        return ""
    if mode == "2:4":
        p = "2:4"
    else:
        amount = float(r.get("prune_amount") or 0.0)
        p = f"{PRUNE.get(mode, mode)}{round(amount * 100)}%"
    schedule = r.get("prune_schedule") or "one-shot"
    if schedule == "iterative":
        p += f" it{r.get('prune_steps', 3)}"
    elif schedule == "regularized":
        p += " reg"
    if r.get("recover_epochs"):
        p += f"+{r['recover_epochs']}ep"
    return p


def _quant(r: dict[str, Any]) -> str:
    q = r.get("quant") or "none"
    if q == "none":
        return ""
    if q != "int8-static":
        return QUANT.get(q, q)
    parts = ["int8"]
    if r.get("quant_format", "qdq") != "qdq":
        parts.append("qop")
    act, wt = r.get("activation_type", "u8"), r.get("weight_type", "s8")
    if (act, wt) != ("u8", "s8"):
        parts.append(f"{act}/{wt}")
    if not r.get("per_channel", True):
        parts.append("pt")
    if r.get("calibration", "minmax") != "minmax":
        parts.append(str(r["calibration"]))
    return " ".join(parts)


def short_name(recipe: dict[str, Any] | None, name: str = "", kind: str = "") -> str:
    """The short name of a variant with this stored recipe (``base`` for the baseline)."""
    if kind == "baseline":
        return "base"
    r = recipe or {}
    engine = r.get("engine") or r.get("backend")
    if engine:
        return f"{engine} {r.get('precision', '')}".strip()
    text = " ".join(p for p in (_prune(r), _quant(r)) if p)
    return text or (name[:16] if name else kind or "?")
