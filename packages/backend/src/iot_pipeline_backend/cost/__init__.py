"""What the pipeline costs on AWS: a pure model of the monthly bill and ``iot-pipeline cost``.

``prices`` holds the dated list prices, ``model`` the arithmetic, ``command`` the CLI.
"""

from iot_pipeline_backend.cost.model import (
    AssumptionError,
    Assumptions,
    CostEstimate,
    CostLine,
    estimate_monthly_cost,
    one_reading_per_request,
)

__all__ = [
    "AssumptionError",
    "Assumptions",
    "CostEstimate",
    "CostLine",
    "estimate_monthly_cost",
    "one_reading_per_request",
]
