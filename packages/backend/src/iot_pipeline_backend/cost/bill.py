"""The cost model's answer: the monthly bill of one load, line by line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from iot_pipeline_backend.cost import prices
from iot_pipeline_backend.cost.assumptions import Assumptions

Kind = Literal["usage", "storage", "fixed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CostLine:
    """One line of the bill: ``quantity`` ``unit`` a month of ``price`` → ``monthly_usd``."""

    service: str
    item: str
    quantity: float
    unit: str
    monthly_usd: float
    kind: Kind
    price: prices.Price


@dataclass(frozen=True, slots=True, kw_only=True)
class CostEstimate:
    """The monthly bill of one load, line by line."""

    assumptions: Assumptions
    readings_per_month: float
    lines: tuple[CostLine, ...]

    @property
    def monthly_usd(self) -> float:
        """The whole month."""
        return sum(line.monthly_usd for line in self.lines)

    @property
    def cost_per_million_readings(self) -> float:
        """The month's bill divided by the month's readings, per million."""
        return self.monthly_usd / self.readings_per_month * 1_000_000

    def monthly_usd_by_service(self) -> dict[str, float]:
        """Monthly dollars per AWS service, in breakdown order."""
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.monthly_usd
        return totals

    def cost_per_million_readings_by_kind(self) -> dict[Kind, float]:
        """Per million readings, split into usage, storage (retention) and fixed costs."""
        totals: dict[Kind, float] = {"usage": 0.0, "storage": 0.0, "fixed": 0.0}
        for line in self.lines:
            totals[line.kind] += line.monthly_usd / self.readings_per_month * 1_000_000
        return totals

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: totals, per service, per line."""
        return {
            "batch_size": self.assumptions.batch_size,
            "readings_per_month": self.readings_per_month,
            "monthly_usd": self.monthly_usd,
            "cost_per_million_readings": self.cost_per_million_readings,
            "cost_per_million_readings_by_kind": self.cost_per_million_readings_by_kind(),
            "services": self.monthly_usd_by_service(),
            "breakdown": [
                {
                    "service": line.service,
                    "item": line.item,
                    "quantity": line.quantity,
                    "unit": line.unit,
                    "monthly_usd": line.monthly_usd,
                    "kind": line.kind,
                    "price": line.price.name,
                }
                for line in self.lines
            ],
        }
