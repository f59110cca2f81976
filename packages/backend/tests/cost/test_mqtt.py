"""The MQTT path's bill: IoT Core instead of API Gateway for ingest, the rest unchanged.

The IoT Core lines are checked against the pricing page's arithmetic written out here
(messages × started 5 KB units × price), not against the model's own helpers.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.cli import main
from iot_pipeline_backend.cost import Assumptions, estimate_monthly_cost
from iot_pipeline_backend.cost.assumptions import AssumptionError
from iot_pipeline_backend.cost.mqtt import estimate_mqtt_monthly_cost

MONTH_S = 730 * 3600


@pytest.mark.parametrize(("batch", "size"), [(1, 300), (10, 1024), (100, 1000)])
def test_iot_core_lines_follow_the_pricing_pages_arithmetic(batch: int, size: int) -> None:
    a = Assumptions(readings_per_second=50, batch_size=batch, bytes_per_reading=size)
    mqtt = estimate_mqtt_monthly_cost(a, connected_devices=200)
    messages = 50 * MONTH_S / batch
    body = size if batch == 1 else len('{"readings":[]}') + batch * size + batch - 1
    units = messages * math.ceil(body / 5120)
    iot = {line.item: line for line in mqtt.lines if line.service == "IoT Core"}
    assert iot["connectivity (200 devices)"].monthly_usd == pytest.approx(
        200 * 730 * 60 * 0.08 / 1e6
    )
    assert iot["messages published (5 KB units)"].monthly_usd == pytest.approx(units / 1e6)
    assert iot["rules triggered (5 KB units)"].monthly_usd == pytest.approx(units * 0.15 / 1e6)
    assert iot["Lambda actions (5 KB units)"].monthly_usd == pytest.approx(units * 0.15 / 1e6)


def test_only_the_ingest_side_changes() -> None:
    a = Assumptions(readings_per_second=100, batch_size=100)
    http, mqtt = estimate_monthly_cost(a), estimate_mqtt_monthly_cost(a)
    downstream = [line for line in http.lines if line.service != "API Gateway"]
    assert [line for line in mqtt.lines if line.service not in ("API Gateway", "IoT Core")] == (
        downstream
    )
    [api] = [line for line in mqtt.lines if line.service == "API Gateway"]
    assert api.quantity == pytest.approx(100 * MONTH_S * 1.0 / a.query_page_size)


def test_a_message_over_iot_cores_128_kb_is_refused_naming_the_batch_size() -> None:
    with pytest.raises(AssumptionError) as caught:
        estimate_mqtt_monthly_cost(Assumptions(readings_per_second=1, batch_size=200))
    assert caught.value.field == "batch_size" and "131072" in caught.value.message
    result = CliRunner().invoke(
        main, ["cost", "--readings-per-second", "1", "--batch-size", "200", "--protocol", "mqtt"]
    )
    assert result.exit_code == 2 and "--batch-size" in result.output


def test_cli_prices_the_mqtt_path_with_its_sources() -> None:
    result = CliRunner().invoke(
        main, ["cost", "--readings-per-second", "10", "--protocol", "mqtt", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["protocol"] == "mqtt"
    assert "IoT Core" in data["services"]
    sources = {p["source"] for p in data["prices"]}
    assert "https://aws.amazon.com/iot-core/pricing/" in sources
