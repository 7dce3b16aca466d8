"""The GCP price catalog: Compute Engine machine types, each price with source, as-of date and ``verified``.

The bundled file is ``engines/cost/prices_gcp.json``; a user copy at
``$WORKBENCH_HOME/prices_gcp.json`` replaces it when present (same schema as the
AWS catalog, validated by :func:`engines.cost.prices.validate_catalog`). It is
not refreshed automatically: no GCP price API is queried. Every bundled
figure is *unverified*; a machine with ``usd: null`` has no known price.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engines.cost.prices import PriceCatalog, PriceEntry, Quote
from engines.errors import WorkbenchError

BUNDLED_GCP = Path(__file__).resolve().parent / "prices_gcp.json"
DEFAULT_CPU_MACHINE = "n2-standard-4"
GPU_MACHINES = {"T4": "n1-standard-4+nvidia-tesla-t4", "L4": "g2-standard-4", "A100": "a2-highgpu-1g",
                "H100": "a3-highgpu-1g"}


def user_gcp_catalog_path() -> Path:
    from engines.workspace import default_home

    return default_home() / "prices_gcp.json"


class GcpCatalog:
    def __init__(self, catalog: PriceCatalog) -> None:
        self.catalog = catalog
        self.as_of, self.origin = catalog.as_of, catalog.origin

    def machines(self) -> list[str]:
        return [e.item for e in self.catalog.entries.values() if e.service == "gce" and e.price_type == "on_demand"]

    def entry(self, machine: str) -> PriceEntry:
        e = self.catalog.entries.get(f"gce/{machine}/on_demand")
        if e is None:
            raise WorkbenchError(f"GCP machine type {machine!r} is not in the GCP catalog ({self.origin}); "
                                 f"known: {', '.join(self.machines())}")
        return e

    def hourly(self, machine: str) -> Quote:
        e = self.entry(machine)
        if e.usd is None:
            raise WorkbenchError(f"GCP machine type {machine!r} has no price in the catalog: add \"usd\" to its "
                                 f"entry in {user_gcp_catalog_path()}")
        return Quote(e.usd, "hour", e.label, f"GCP {machine} {e.usd} USD/h {e.region} {e.cite()}")

    def default_machine(self, device: str) -> str:
        for gpu, machine in GPU_MACHINES.items():
            if device.startswith("cuda") and gpu.lower() in device.lower():
                return machine
        return DEFAULT_CPU_MACHINE


def load_gcp_catalog(path: str | Path | None = None) -> GcpCatalog:
    if path is None:
        user = user_gcp_catalog_path()
        path = user if user.exists() else BUNDLED_GCP
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"GCP price catalog {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"GCP price catalog {path} is unreadable: {exc}") from None
    return GcpCatalog(PriceCatalog(data, str(path)))
