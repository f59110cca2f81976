"""What the pipeline costs on AWS: a pure model of the monthly bill and ``iot-pipeline cost``.

``prices`` holds the dated list prices, ``assumptions`` what the model is told about a load,
``model`` the arithmetic, ``bill`` its answer, ``command`` the CLI.
"""

from iot_pipeline_backend.cost.assumptions import AssumptionError, Assumptions
from iot_pipeline_backend.cost.bill import CostEstimate, CostLine
from iot_pipeline_backend.cost.model import estimate_monthly_cost, one_reading_per_request

__all__ = [
    "AssumptionError",
    "Assumptions",
    "CostEstimate",
    "CostLine",
    "estimate_monthly_cost",
    "one_reading_per_request",
]
