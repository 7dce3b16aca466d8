"""Traffic splitting: one real-time endpoint, several production variants with weights (e.g. FP32 vs INT8).

SageMaker routes each request to a variant with probability weight / sum of
weights. The models are SageMaker models that already exist (each
``workbench deploy --realtime`` creates ``NAME-model``); this module creates
the endpoint config with one production variant per model and the endpoint,
both tagged ``created-by=workbench`` + ``workbench-deployment=<id>``, shifts
weights later with ``update_endpoint_weights_and_capacities`` (instance counts
kept unless given), and removes only what it created.

Weights are checked before any call: finite, >= 0, not all zero; shares
written as fractions (any weight below 1 with a fractional part) must sum to 1,
so that ``0.9,0.2`` is refused rather than silently read as 82/18. Whole
numbers are relative weights (``3,1`` = 75/25).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from engines.errors import WorkbenchError

_VARIANT_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass
class SplitVariant:
    name: str                    # production variant name, e.g. fp32
    model_name: str              # an existing SageMaker model
    weight: float
    instance_type: str = "ml.c5.xlarge"
    initial_count: int = 1

    def production_variant(self) -> dict[str, Any]:
        return {"VariantName": self.name, "ModelName": self.model_name, "InstanceType": self.instance_type,
                "InitialInstanceCount": int(self.initial_count), "InitialVariantWeight": float(self.weight)}


@dataclass
class WeightChange:
    endpoint: str
    before: dict[str, float]
    after: dict[str, float]
    counts: dict[str, int]
    shares: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def one_weight(name: str, w: Any) -> float:
    try:
        w = float(w)
    except (TypeError, ValueError):
        raise WorkbenchError(f"weight of variant {name!r}: {w!r} is not a number") from None
    if not math.isfinite(w):
        raise WorkbenchError(f"weight of variant {name!r} is {w}: give a finite number")
    if w < 0:
        raise WorkbenchError(f"weight of variant {name!r} is {w:g}: weights must be >= 0")
    return w


def check_split_weights(weights: dict[str, float]) -> dict[str, float]:
    """The one check every weight path goes through (create and shift)."""
    if not weights:
        raise WorkbenchError("no variant weights given")
    out = {name: one_weight(name, w) for name, w in weights.items()}
    total = sum(out.values())
    if total <= 0:
        raise WorkbenchError("all variant weights are zero: no variant would get any traffic")
    fractional = [w for w in out.values() if w != int(w)]
    if fractional and max(out.values()) <= 1 and abs(total - 1.0) > 1e-6:
        shown = ", ".join(f"{k}={v:g}" for k, v in out.items())
        raise WorkbenchError(f"weights {shown} look like shares but sum to {total:g}: shares must sum to 1 "
                             "(or give relative whole numbers such as 3,1)")
    return out


def shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


def check_variants(variants: Sequence[SplitVariant]) -> None:
    if len(variants) < 2:
        raise WorkbenchError("a traffic split needs at least two variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise WorkbenchError(f"variant names must be unique: {', '.join(names)}")
    for v in variants:
        if not _VARIANT_RE.match(v.name):
            raise WorkbenchError(f"variant name {v.name!r}: letters, digits and '-', at most 63 characters")
        if v.initial_count < 1:
            raise WorkbenchError(f"variant {v.name}: instance count must be >= 1")
        if not v.instance_type.startswith("ml."):
            raise WorkbenchError(f"variant {v.name}: {v.instance_type!r} is not a SageMaker instance type (ml.*)")
    check_split_weights({v.name: v.weight for v in variants})


def split_calls(endpoint: str, variants: Sequence[SplitVariant], deploy_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The SageMaker calls, in order, with their parameters (what the dry run shows and what runs)."""
    from engines.deploy.plan import TAGS
    from engines.deploy.resources import DEPLOYMENT_TAG

    tags = [*TAGS, {"Key": DEPLOYMENT_TAG, "Value": deploy_id}]
    config = f"{endpoint}-config"
    return [("create_endpoint_config", {"EndpointConfigName": config,
                                        "ProductionVariants": [v.production_variant() for v in variants],
                                        "Tags": tags}),
            ("create_endpoint", {"EndpointName": endpoint, "EndpointConfigName": config, "Tags": tags})]


def _exists(call: Any, **kw: Any) -> bool:
    from engines.deploy.aws import error_code, error_text

    try:
        call(**kw)
        return True
    except Exception as exc:
        text = error_text(exc).lower()
        if error_code(exc) in ("ValidationException", "ResourceNotFound") or "could not find" in text \
                or "not found" in text or "does not exist" in text:
            return False
        raise WorkbenchError(f"cannot check {kw}: {error_text(exc)}") from None


def create_split(sagemaker: Any, endpoint: str, variants: Sequence[SplitVariant], *, deploy_id: str) -> dict[str, Any]:
    """Create the config and the endpoint; refuse taken names and missing models; undo on failure."""
    from engines.deploy.aws import error_text

    check_variants(variants)
    config = f"{endpoint}-config"
    missing = [v.model_name for v in variants if not _exists(sagemaker.describe_model, ModelName=v.model_name)]
    if missing:
        raise WorkbenchError(f"model(s) not found: {', '.join(missing)} (deploy each variant first: "
                             "workbench deploy VARIANT --realtime creates NAME-model)")
    taken = [f"endpoint {endpoint}"] if _exists(sagemaker.describe_endpoint, EndpointName=endpoint) else []
    if _exists(sagemaker.describe_endpoint_config, EndpointConfigName=config):
        taken.append(f"endpoint config {config}")
    if taken:
        raise WorkbenchError(f"already exists: {', '.join(taken)}; nothing was created (pick another name)")
    created: list[tuple[str, dict[str, Any]]] = []
    try:
        for op, params in split_calls(endpoint, variants, deploy_id):
            getattr(sagemaker, op)(**params)
            created.append((op, params))
    except Exception as exc:
        undone = []
        for op, params in reversed(created):
            try:
                if op == "create_endpoint":
                    sagemaker.delete_endpoint(EndpointName=params["EndpointName"])
                else:
                    sagemaker.delete_endpoint_config(EndpointConfigName=params["EndpointConfigName"])
                undone.append(op.replace("create_", ""))
            except Exception:
                pass
        raise WorkbenchError(f"traffic split failed at {op}: {error_text(exc)}; rolled back: "
                             f"{', '.join(undone) or 'nothing to roll back'}") from None
    return {"endpoint": endpoint, "config": config, "deployment_id": deploy_id,
            "variants": [asdict(v) for v in variants], "shares": shares({v.name: v.weight for v in variants})}


def current_variants(sagemaker: Any, endpoint: str) -> dict[str, dict[str, Any]]:
    from engines.deploy.monitor import describe

    ep, cfg = describe(sagemaker, endpoint)
    live = {v["VariantName"]: v for v in ep.get("ProductionVariants") or []}
    out = {}
    for v in cfg.get("ProductionVariants") or []:
        now = live.get(v["VariantName"], {})
        out[v["VariantName"]] = {
            "weight": float(now.get("CurrentWeight", v.get("InitialVariantWeight", 1.0)) or 0.0),
            "count": int(now.get("CurrentInstanceCount") or v.get("InitialInstanceCount") or 1),
            "instance_type": v.get("InstanceType"), "model_name": v.get("ModelName"),
            "serverless": bool(v.get("ServerlessConfig"))}
    return out


def shift_weights(sagemaker: Any, endpoint: str, weights: dict[str, float],
                  counts: dict[str, int] | None = None) -> WeightChange:
    """``update_endpoint_weights_and_capacities``; variants not named keep their weight."""
    from engines.deploy.aws import error_text

    if not weights:
        raise WorkbenchError("no variant weights given")
    weights = {k: one_weight(k, v) for k, v in weights.items()}  # bad numbers fail before any AWS call
    have = current_variants(sagemaker, endpoint)
    unknown = sorted(set(weights) - set(have))
    if unknown:
        raise WorkbenchError(f"endpoint {endpoint} has no variant {', '.join(unknown)} "
                             f"(it has {', '.join(have)})")
    before = {k: v["weight"] for k, v in have.items()}
    after = check_split_weights({**before, **weights})
    counts = {k: int(c) for k, c in (counts or {}).items()}
    if any(c < 1 for c in counts.values()):
        raise WorkbenchError("instance counts must be >= 1")
    desired = [{"VariantName": k, "DesiredWeight": after[k],
                "DesiredInstanceCount": counts.get(k, have[k]["count"])} for k in have]
    try:
        sagemaker.update_endpoint_weights_and_capacities(EndpointName=endpoint,
                                                         DesiredWeightsAndCapacities=desired)
    except Exception as exc:
        raise WorkbenchError(f"cannot shift weights of {endpoint}: {error_text(exc)}") from None
    return WeightChange(endpoint, before, after, {d["VariantName"]: d["DesiredInstanceCount"] for d in desired},
                        shares(after))


def delete_split(sagemaker: Any, endpoint: str) -> list[str]:
    """Remove the endpoint and its config, only when tagged ``created-by=workbench``."""
    from engines.deploy.aws import error_text

    try:
        ep = sagemaker.describe_endpoint(EndpointName=endpoint)
    except Exception as exc:
        raise WorkbenchError(f"no endpoint {endpoint!r}: {error_text(exc)}") from None
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=ep["EndpointArn"]).get("Tags", [])}
    if tags.get("created-by") != "workbench":
        raise WorkbenchError(f"endpoint {endpoint} was not created by workbench (no created-by tag): left alone")
    removed = []
    sagemaker.delete_endpoint(EndpointName=endpoint)
    removed.append(f"endpoint {endpoint}")
    try:
        cfg = sagemaker.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
        ctags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=cfg["EndpointConfigArn"]).get("Tags", [])}
        if ctags.get("created-by") == "workbench":
            sagemaker.delete_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
            removed.append(f"endpoint config {ep['EndpointConfigName']}")
    except Exception:
        pass
    return removed
