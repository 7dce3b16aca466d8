"""The price catalog: a data file whose every figure carries its source and as-of date.

The bundled catalog is ``engines/cost/prices.json``; a user file at
``$WORKBENCH_HOME/prices.json`` (written by ``workbench prices refresh`` or by
hand) replaces it when present. ``verified`` is true only for figures checked
against a named public source (or fetched from the AWS Price List API);
everything else is shown as *unverified*. Spot prices are *derived*: on-demand
price x (1 - spot saving), two figures with different dates.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import WorkbenchError
from engines.tasks import TaskContext, ensure_task

BUNDLED = Path(__file__).resolve().parent / "prices.json"
SERVICES = ("ec2", "sagemaker_realtime", "sagemaker_serverless", "lambda")
SERVICES += ("gce",)  # GCP Compute Engine: engines/cost/prices_gcp.json (engines/cost/gcp.py)
_REQUIRED = ("id", "service", "item", "price_type", "unit", "source", "as_of", "verified")
PRICE_LIST_SOURCE = "PL"


def user_catalog_path() -> Path:
    from engines.workspace import default_home

    return default_home() / "prices.json"


@dataclass(frozen=True)
class PriceEntry:
    id: str
    service: str
    item: str
    price_type: str
    usd: float | None
    unit: str
    region: str
    source: str
    source_text: str
    as_of: str
    verified: bool
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        return "verified" if self.verified else "unverified"

    def cite(self) -> str:
        return f"[{self.source}] {self.as_of}" + ("" if self.verified else " (unverified)")


@dataclass(frozen=True)
class Quote:
    """A price used in a computation, with how it was obtained."""

    usd: float
    unit: str
    label: str          # verified | unverified | derived
    basis: str          # one line: where the figure comes from

    def to_dict(self) -> dict[str, Any]:
        return {"usd": self.usd, "unit": self.unit, "label": self.label, "basis": self.basis}


class PriceCatalog:
    def __init__(self, data: dict[str, Any], origin: str) -> None:
        validate_catalog(data, origin)
        self.data = data
        self.origin = origin
        self.as_of: str = str(data["as_of"])
        self.currency: str = data.get("currency", "USD")
        self.sources: dict[str, dict[str, Any]] = data["sources"]
        self.entries: dict[str, PriceEntry] = {}
        for e in data["entries"]:
            extra = {k: v for k, v in e.items() if k not in PriceEntry.__dataclass_fields__}
            self.entries[e["id"]] = PriceEntry(
                id=e["id"], service=e["service"], item=e["item"], price_type=e["price_type"],
                usd=None if e.get("usd") is None else float(e["usd"]), unit=e["unit"],
                region=e.get("region", ""), source=e["source"],
                source_text=e.get("source_text") or self.sources[e["source"]]["text"], as_of=str(e["as_of"]),
                verified=bool(e["verified"]), note=e.get("note", ""), data=extra)

    # -- lookups --------------------------------------------------------
    def get(self, entry_id: str) -> PriceEntry:
        try:
            return self.entries[entry_id]
        except KeyError:
            raise WorkbenchError(f"the price catalog has no entry {entry_id!r}") from None

    def instances(self, service: str | None = None) -> list[str]:
        return [e.item for e in self.entries.values() if e.price_type == "on_demand"
                and (service is None or e.service == service)]

    def instance_entry(self, instance: str) -> PriceEntry:
        service = "sagemaker_realtime" if instance.startswith("ml.") else "ec2"
        entry = self.entries.get(f"{service}/{instance}/on_demand")
        if entry is None or entry.usd is None:
            known = ", ".join(self.instances())
            raise WorkbenchError(f"no price for instance {instance!r} in the catalog ({self.as_of}); known: {known}")
        return entry

    def specs(self, instance: str) -> dict[str, Any]:
        return dict(self.instance_entry(instance).data.get("specs") or {})

    def is_gpu(self, instance: str) -> bool:
        return int(self.specs(instance).get("gpus") or 0) > 0

    def hourly(self, instance: str) -> Quote:
        e = self.instance_entry(instance)
        return Quote(e.usd or 0.0, "hour", e.label, f"{instance} on-demand {e.usd} USD/h {e.cite()}")

    def spot_info(self, instance: str) -> PriceEntry | None:
        return self.entries.get(f"ec2/{instance}/spot_saving")

    def spot_hourly(self, instance: str) -> Quote | None:
        """Derived spot price: on-demand x (1 - average saving); None when no saving is known."""
        saving = self.spot_info(instance)
        if saving is None or saving.data.get("fraction") is None:
            return None
        od = self.instance_entry(instance)
        frac = float(saving.data["fraction"])
        usd = (od.usd or 0.0) * (1.0 - frac)
        return Quote(usd, "hour", "derived",
                     f"{instance} on-demand {od.usd} USD/h {od.cite()} x (1 - {frac:.0%} saving [{saving.source}] "
                     f"{saving.as_of})")

    def serverless_rate(self, memory_mb: int) -> Quote:
        e = self.entries.get(f"sagemaker_serverless/{int(memory_mb)}/compute")
        if e is None or e.usd is None:
            raise WorkbenchError(f"no serverless rate for {memory_mb} MB in the catalog: use 1024..6144 in 1024 steps")
        return Quote(e.usd, "second", e.label, f"serverless {memory_mb} MB {e.usd} USD/s {e.cite()}")

    def serverless_data_rate(self) -> Quote:
        e = self.get("sagemaker_serverless/data_processed")
        return Quote(e.usd or 0.0, "GB", e.label, f"data processed {e.usd} USD/GB {e.cite()}")

    def provisioned_rate(self) -> Quote:
        e = self.get("sagemaker_serverless/provisioned_concurrency")
        return Quote(e.usd or 0.0, "GB-second", e.label, f"provisioned concurrency {e.usd} USD/GB-s {e.cite()}")

    def lambda_rates(self, arch: str = "x86_64") -> tuple[Quote, Quote]:
        d = self.get(f"lambda/{arch}/duration")
        r = self.get("lambda/requests")
        return (Quote(d.usd or 0.0, "GB-second", d.label, f"Lambda {arch} {d.usd} USD/GB-s {d.cite()}"),
                Quote(r.usd or 0.0, "1M requests", r.label, f"Lambda requests {r.usd} USD/1M {r.cite()}"))

    # -- display ----------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One row per figure for tables: service, item, price, unit, label, source, as_of."""
        out = []
        for e in self.entries.values():
            if e.price_type == "spot_saving":
                spot = self.spot_hourly(e.item)
                out.append({"service": "ec2 spot", "item": e.item,
                            "price": None if spot is None else round(spot.usd, 6), "unit": "hour",
                            "label": "derived", "source": f"{self.instance_entry(e.item).source}+{e.source}",
                            "as_of": f"{self.instance_entry(e.item).as_of} / {e.as_of}",
                            "note": f"saving {e.data.get('fraction', 0):.0%}, interruption "
                                    f"{e.data.get('interruption_band', '?')}"})
                continue
            out.append({"service": e.service, "item": e.item, "price": e.usd, "unit": e.unit, "label": e.label,
                        "source": e.source, "as_of": e.as_of, "note": e.note})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "origin": self.origin, "currency": self.currency,
                "sources": self.sources, "rows": self.rows()}


def validate_catalog(data: Any, origin: str = "catalog") -> None:
    def bad(msg: str) -> WorkbenchError:
        return WorkbenchError(f"price catalog {origin} is invalid: {msg}")

    if not isinstance(data, dict):
        raise bad("top level must be a JSON object")
    for key in ("as_of", "sources", "entries"):
        if key not in data:
            raise bad(f"missing {key!r}")
    if not isinstance(data["entries"], list) or not isinstance(data["sources"], dict):
        raise bad("'entries' must be a list and 'sources' an object")
    seen: set[str] = set()
    for i, e in enumerate(data["entries"]):
        if not isinstance(e, dict):
            raise bad(f"entry {i} is not an object")
        missing = [k for k in _REQUIRED if k not in e]
        if missing:
            raise bad(f"entry {e.get('id', i)!r} lacks {', '.join(missing)}")
        if e["service"] not in SERVICES:
            raise bad(f"entry {e['id']!r} has unknown service {e['service']!r}")
        if e["source"] not in data["sources"]:
            raise bad(f"entry {e['id']!r} cites unknown source {e['source']!r}")
        usd = e.get("usd")
        if usd is not None and (not isinstance(usd, (int, float)) or isinstance(usd, bool)
                                or not math.isfinite(usd) or usd < 0):
            raise bad(f"entry {e['id']!r} has a bad price {usd!r}")
        if e["id"] in seen:
            raise bad(f"duplicate entry {e['id']!r}")
        seen.add(e["id"])


def load_catalog(path: str | os.PathLike | None = None) -> PriceCatalog:
    """The user's catalog when present, else the bundled one (or an explicit ``path``)."""
    if path is None:
        user = user_catalog_path()
        path = user if user.exists() else BUNDLED
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"price catalog {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"price catalog {path} is unreadable: {exc}") from None
    return PriceCatalog(data, str(path))


# -- refresh from the AWS Price List API -------------------------------------
def _parse_on_demand_usd(price_item: str | dict[str, Any]) -> float | None:
    """The hourly on-demand USD price in one Price List product document (None if absent or zero)."""
    doc = json.loads(price_item) if isinstance(price_item, str) else price_item
    for term in (doc.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            unit = str(dim.get("unit", "")).lower()
            usd = dim.get("pricePerUnit", {}).get("USD")
            if unit in ("hrs", "hours", "hour") and usd is not None and float(usd) > 0:
                return float(usd)
    return None


def _filters(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in pairs.items()]


def _query(client: Any, service_code: str, filters: dict[str, str]) -> list[Any]:
    items: list[Any] = []
    kw: dict[str, Any] = {"ServiceCode": service_code, "Filters": _filters(filters), "MaxResults": 100}
    for _ in range(20):  # bounded paging
        resp = client.get_products(**kw)
        items += resp.get("PriceList", [])
        token = resp.get("NextToken")
        if not token:
            break
        kw["NextToken"] = token
    return items


def _price_for(client: Any, entry: PriceEntry, region: str) -> float | None:
    if entry.service == "ec2":
        docs = _query(client, "AmazonEC2", {
            "regionCode": region, "instanceType": entry.item, "operatingSystem": "Linux", "tenancy": "Shared",
            "preInstalledSw": "NA", "capacitystatus": "Used", "marketoption": "OnDemand",
            "productFamily": "Compute Instance"})
    else:
        docs = _query(client, "AmazonSageMaker", {"regionCode": region, "instanceName": entry.item,
                                                  "productFamily": "ML Instance"})
        docs = [d for d in docs if "host" in str(
            (json.loads(d) if isinstance(d, str) else d).get("product", {}).get("attributes", {})
            .get("component", "")).lower()]
    prices = [p for p in (_parse_on_demand_usd(d) for d in docs) if p is not None]
    return min(prices) if prices else None


def refresh_prices(session_or_client: Any = None, region: str = "us-east-1", *, endpoint_url: str | None = None,
                   write: bool = True, task: TaskContext | None = None) -> dict[str, Any]:
    """Update on-demand instance prices from the AWS Price List API; write the user catalog.

    ``session_or_client`` is a boto3 Session, a ``pricing`` client, or None for
    the default credential chain. Serverless, data and Lambda rates are not
    queried (no checked Price List filter for them) and keep their sources.
    """
    from engines.deploy.aws import check_region, error_text, make_session, require_credentials

    task = ensure_task(task)
    check_region(region)
    client = session_or_client
    if client is None or hasattr(client, "get_credentials"):
        session = client or make_session("us-east-1")
        require_credentials(session)
        kw = {"endpoint_url": endpoint_url} if endpoint_url else {}
        client = session.client("pricing", region_name="us-east-1", **kw)
    catalog = load_catalog()
    data = json.loads(json.dumps(catalog.data))
    today = _dt.date.today().isoformat()
    data["sources"][PRICE_LIST_SOURCE] = {
        "title": "AWS Price List API", "as_of": today,
        "text": f"AWS Price List API get_products (on-demand, Linux, shared tenancy) for {region}, fetched {today}"}
    targets = [e for e in catalog.entries.values() if e.price_type == "on_demand"]
    updated, missing = [], []
    by_id = {e["id"]: e for e in data["entries"]}
    for i, entry in enumerate(targets):
        task.report(i / max(1, len(targets)), f"price of {entry.item}")
        try:
            usd = _price_for(client, entry, region)
        except Exception as exc:
            raise WorkbenchError(f"AWS Price List API failed for {entry.item}: {error_text(exc)}") from None
        if usd is None:
            missing.append(entry.item)
            continue
        e = by_id[entry.id]
        e.update(usd=usd, source=PRICE_LIST_SOURCE, as_of=today, verified=True, region=region,
                 source_text=data["sources"][PRICE_LIST_SOURCE]["text"], note=f"was {entry.usd} ({entry.cite()})")
        updated.append(entry.item)
    if updated:
        data["as_of"] = today
        data["region"] = region
    new = PriceCatalog(data, str(user_catalog_path()))
    if write and updated:
        from engines.fsutil import write_text_atomic

        write_text_atomic(user_catalog_path(), json.dumps(data, indent=1))
    task.report(1.0, f"updated {len(updated)} prices")
    return {"catalog": new, "updated": updated, "not_found": missing, "path": str(user_catalog_path()),
            "written": bool(write and updated)}
