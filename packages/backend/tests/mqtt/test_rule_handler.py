"""The AWS IoT rule's Lambda: the rule event → the same ingest, on moto (DynamoDB, SQS, SSM,
iot-data). The event is what ``SELECT *, topic(2) AS thing`` makes of a device's payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers import mqtt_ingest
from iot_pipeline_backend.handlers.runtime import use_adapters
from iot_pipeline_common.errors import RequestValidationError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

SENSORS = {"temperature": 25.5, "humidity": 60, "pressure": 1013}


@pytest.fixture
def installed_aws(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(mqtt_ingest, "_replies", [])
    previous = use_adapters(aws.adapters)
    yield aws
    use_adapters(previous)


def _published(region: str) -> list[tuple[str, Any]]:
    backend = iotdata_backends[DEFAULT_ACCOUNT_ID][region]
    return [(topic, json.loads(payload)) for topic, payload in backend.published_payloads]


def _stored(aws: Any, device_id: str) -> list[str]:
    page = aws.adapters.raw.query_raw(
        device_id=device_id, start_ms=0, end_ms=2**53, limit=100, descending=False, after_sk=None
    )
    return [r.reading_id for r in page.records]


def test_given_the_things_own_readings_then_they_are_stored_and_queued(installed_aws: Any) -> None:
    event = {
        "readings": [
            {"device_id": "thing-1", "reading_id": "a", "sensor_data": SENSORS},
            {"device_id": "thing-1", "reading_id": "b", "sensor_data": SENSORS},
        ],
        "thing": "thing-1",
    }
    assert mqtt_ingest.lambda_handler(event, None) == {"stored": 2}
    assert _stored(installed_aws, "thing-1") == ["a", "b"]
    queued = [json.loads(body) for body in installed_aws.drain_queue()]
    assert sorted(r["reading_id"] for body in queued for r in body["readings"]) == ["a", "b"]


def test_given_another_devices_id_then_nothing_is_stored_and_the_thing_is_told(
    installed_aws: Any,
) -> None:
    event = {"device_id": "other", "sensor_data": SENSORS, "thing": "thing-2"}
    result = mqtt_ingest.lambda_handler(event, None)
    assert result["stored"] == 0
    assert result["error"]["details"][0]["field"] == "device_id"
    assert _stored(installed_aws, "other") == [] and _stored(installed_aws, "thing-2") == []
    assert installed_aws.drain_queue() == []
    [(topic, body)] = _published(installed_aws.session.region_name)
    assert topic == "iot-pipeline/thing-2/errors"
    assert body["error"] == "validation_error"


def test_given_an_event_without_a_thing_then_it_fails_loudly(installed_aws: Any) -> None:
    with pytest.raises(RequestValidationError):
        mqtt_ingest.lambda_handler({"device_id": "x", "sensor_data": SENSORS}, None)


def test_given_a_store_failure_then_the_invocation_fails_for_lambda_to_retry(
    installed_aws: Any,
) -> None:
    installed_aws.session.client("dynamodb").delete_table(
        TableName=installed_aws.settings.raw_table_name
    )
    with pytest.raises(StoreUnavailableError):
        mqtt_ingest.lambda_handler(
            {"device_id": "thing-3", "sensor_data": SENSORS, "thing": "thing-3"}, None
        )
    assert installed_aws.drain_queue() == []
