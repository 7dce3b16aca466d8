"""On-prem cost: the user's hardware amortized over its life, plus power, at a given utilization.

* hardware USD/hour = capex / (years x 8,760 h) (straight-line, no resale value)
* power USD/hour = watts / 1,000 x USD/kWh x PUE (drawn all hours: idle draw is taken as the given watts)
* cost per 1M inferences = (hardware + power) USD/hour / (inferences/s x utilization x 3,600) x 10^6,
  where utilization is the share of hours the machine does useful inference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from engines.errors import WorkbenchError

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class OnPremSpec:
    capex_usd: float
    years: float
    watts: float
    kwh_usd: float
    pue: float = 1.5
    utilization: float = 1.0

    def __post_init__(self) -> None:
        for flag, value in (("--onprem-capex", self.capex_usd), ("--onprem-years", self.years),
                            ("--onprem-watts", self.watts), ("--kwh-price", self.kwh_usd), ("--pue", self.pue),
                            ("--utilization", self.utilization)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise WorkbenchError(f"{flag} must be a positive number, got {value!r}")
        if self.pue < 1.0:
            raise WorkbenchError(f"--pue is total facility power / IT power, so >= 1.0; got {self.pue}")
        if self.utilization > 1.0:
            raise WorkbenchError(f"--utilization is a fraction in (0, 1], got {self.utilization}")

    @property
    def hardware_per_hour(self) -> float:
        return self.capex_usd / (self.years * HOURS_PER_YEAR)

    @property
    def power_per_hour(self) -> float:
        return self.watts / 1000.0 * self.kwh_usd * self.pue

    @property
    def per_hour(self) -> float:
        return self.hardware_per_hour + self.power_per_hour


def onprem_cost(spec: OnPremSpec, ips: float, days: float = 30.0) -> dict[str, Any]:
    if ips <= 0:
        raise WorkbenchError("throughput must be > 0 to price inferences")
    effective = ips * spec.utilization
    return {**asdict(spec), "hardware_per_hour": spec.hardware_per_hour, "power_per_hour": spec.power_per_hour,
            "usd_per_hour": spec.per_hour, "ips": ips, "effective_ips": effective,
            "cost_per_1m": spec.per_hour / (effective * 3600.0) * 1e6, "monthly": spec.per_hour * 24.0 * days,
            "basis": (f"{spec.capex_usd:g} USD over {spec.years:g} y = {spec.hardware_per_hour:.4f} USD/h + "
                      f"{spec.watts:g} W x {spec.kwh_usd:g} USD/kWh x PUE {spec.pue:g} = "
                      f"{spec.power_per_hour:.4f} USD/h; at {spec.utilization:.0%} utilization"),
            "label": "your figures"}
