"""The MQTT path's bill: devices publish to AWS IoT Core instead of calling API Gateway.

A message carries what one ``POST /ingest`` body would (``batch_size`` readings); the topic
rule triggers once per message and runs one action (the Lambda invoke), and the MQTT
ingestion function does what the HTTP one does, so everything downstream of ingest (queue,
tables, processor, query, storage) is priced exactly as :func:`estimate_monthly_cost` prices
it. What changes:

* the API Gateway line keeps only ``GET /query`` requests;
* IoT Core adds connectivity (devices connected all month), messaging (each started 5 KB of
  a message is one message), rules triggered and actions executed (also per 5 KB);
* the ingest side's access-log and response lines are left as the HTTP path has them, an
  over-estimate of a few cents per million readings (IoT Core writes no access log and a
  PUBACK is a few bytes).

Prices: https://aws.amazon.com/iot-core/pricing/ (us-east-1, recalled as of
:data:`~iot_pipeline_backend.cost.prices.PRICES_AS_OF`, free tier left out, as every other
price of the model; check the page before relying on a figure).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

from iot_pipeline_backend.cost import prices
from iot_pipeline_backend.cost.assumptions import AssumptionError, Assumptions, ingest_body_bytes
from iot_pipeline_backend.cost.bill import CostEstimate, CostLine
from iot_pipeline_backend.cost.model import estimate_monthly_cost

IOT_CORE_PRICING: Final = "https://aws.amazon.com/iot-core/pricing/"
#: IoT Core meters messages, rules and actions in 5 KB increments.
IOT_METERING_BYTES: Final = 5 * 1024
MINUTES_PER_MONTH: Final = prices.HOURS_PER_MONTH * 60
#: IoT Core's largest publish payload
#: (https://docs.aws.amazon.com/general/latest/gr/iot-core.html#message-broker-limits).
IOT_MAX_PAYLOAD_BYTES: Final = 128 * 1024
#: Devices connected all month when nobody says otherwise.
DEFAULT_CONNECTED_DEVICES: Final = 100

IOT_CONNECTIVITY: Final = prices.Price(
    name="IoT Core connectivity (per million minutes of connection)",
    usd=0.08,
    per=1_000_000,
    unit="minute",
    source=IOT_CORE_PRICING,
)
IOT_MESSAGING: Final = prices.Price(
    name="IoT Core messaging (per million messages, each started 5 KB one message)",
    usd=1.00,
    per=1_000_000,
    unit="message",
    source=IOT_CORE_PRICING,
    # first billion a month at 1.00, next 4 billion at 0.80, then 0.70
    volume_tiers=((1e9, 0.80), (5e9, 0.70)),
)
IOT_RULES_TRIGGERED: Final = prices.Price(
    name="IoT Core rules triggered (per million, per 5 KB)",
    usd=0.15,
    per=1_000_000,
    unit="rule",
    source=IOT_CORE_PRICING,
)
IOT_ACTIONS_EXECUTED: Final = prices.Price(
    name="IoT Core actions executed (per million, per 5 KB)",
    usd=0.15,
    per=1_000_000,
    unit="action",
    source=IOT_CORE_PRICING,
)
MQTT_PRICES: Final = (IOT_CONNECTIVITY, IOT_MESSAGING, IOT_RULES_TRIGGERED, IOT_ACTIONS_EXECUTED)


def estimate_mqtt_monthly_cost(
    assumptions: Assumptions, *, connected_devices: int = DEFAULT_CONNECTED_DEVICES
) -> CostEstimate:
    """One month of ``assumptions``' load arriving over MQTT, ``batch_size`` readings a message."""
    a = assumptions
    if ingest_body_bytes(a) > IOT_MAX_PAYLOAD_BYTES:
        raise AssumptionError(
            "batch_size",
            f"{a.batch_size} readings of {a.bytes_per_reading} bytes make a "
            f"{ingest_body_bytes(a)}-byte message; IoT Core takes at most "
            f"{IOT_MAX_PAYLOAD_BYTES} bytes",
        )
    if connected_devices < 0:
        raise AssumptionError("connected_devices", f"must not be negative, not {connected_devices}")
    http = estimate_monthly_cost(a)
    messages = http.readings_per_month / a.batch_size
    metered = math.ceil(ingest_body_bytes(a) / IOT_METERING_BYTES)
    query_requests = http.readings_per_month * a.query_reads_per_reading / a.query_page_size

    def iot(item: str, quantity: float, price: prices.Price, kind: str = "usage") -> CostLine:
        return CostLine(
            service="IoT Core",
            item=item,
            quantity=quantity,
            unit=price.unit,
            monthly_usd=price.monthly_cost(quantity),
            kind="fixed" if kind == "fixed" else "usage",
            price=price,
        )

    lines: list[CostLine] = []
    for line in http.lines:
        if line.service == "API Gateway":
            lines.append(
                dataclasses.replace(
                    line,
                    item="REST requests (query only)",
                    quantity=query_requests,
                    monthly_usd=line.price.monthly_cost(query_requests),
                )
            )
            lines += [
                iot(
                    f"connectivity ({connected_devices} devices)",
                    connected_devices * MINUTES_PER_MONTH,
                    IOT_CONNECTIVITY,
                    "fixed",
                ),
                iot("messages published (5 KB units)", messages * metered, IOT_MESSAGING),
                iot("rules triggered (5 KB units)", messages * metered, IOT_RULES_TRIGGERED),
                iot("Lambda actions (5 KB units)", messages * metered, IOT_ACTIONS_EXECUTED),
            ]
        else:
            lines.append(line)
    return dataclasses.replace(http, lines=tuple(lines))


__all__ = ["DEFAULT_CONNECTED_DEVICES", "MQTT_PRICES", "estimate_mqtt_monthly_cost"]
