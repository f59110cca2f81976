"""The processor under a failing AWS call boundary: once, persistently, throttled.

Invariants, read from moto's tables: a record reported successful (so deleted by the event
source mapping) has every reading processed; failed records are redelivered and, once the
fault is gone, processed once; an alert that cannot be delivered fails nothing and is counted
(``AlertFailures``); retry sleeps fit the invocation's time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from iot_pipeline_backend.deadline import MARGIN_SECONDS
from iot_pipeline_backend.domain.messages import unpack_message
from iot_pipeline_backend.handlers import ingestion, processor

# The handler suites' real-shaped event builders, shared rather than copied.
from ..handlers.conftest import api_event, sqs_event  # noqa: TID252
from .conftest import Harness, emitted_metrics

T0 = 1_705_314_600_000
MESSAGES = 6  # one per ingest call; above the default error_threshold of 5


def _queued_event(harness: Harness) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Ingest MESSAGES calls (two hot readings each, alert rule ``temperature > 30``)."""
    for call in range(MESSAGES):
        body = {
            "readings": [
                {
                    "device_id": "dev-p",
                    "sensor_data": {"temperature": 31.0 + i},
                    "timestamp": T0 + call * 10 + i,
                    "reading_id": f"m{call}-{i}",
                }
                for i in range(2)
            ]
        }
        response = ingestion.lambda_handler(api_event("POST", "/ingest", body=body), None)
        assert response["statusCode"] == 200
    bodies = [m["Body"] for m in harness.receive_messages()]
    event = sqs_event(bodies)
    readings = {
        record["messageId"]: [r.reading_id for r in unpack_message(record["body"])]
        for record in event["Records"]
    }
    return event, readings


def _processed_ids(harness: Harness) -> list[str]:
    return [item["reading_id"]["S"] for item in harness.processed_items()]


def _check(harness: Harness, response: dict[str, Any], readings: dict[str, list[str]]) -> set[str]:
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    processed = set(_processed_ids(harness))
    for message_id, ids in readings.items():
        if message_id not in failed:  # acknowledged: deleted from the queue
            assert set(ids) <= processed, f"record {message_id} acknowledged, not processed"
    assert harness.time.slept <= harness.time.budget - MARGIN_SECONDS
    return failed


BOUNDARIES = [("dynamodb", "BatchWriteItem"), ("sns", "Publish"), ("ssm", "GetParameter")]


@pytest.mark.parametrize("mode", ["once", "persistent", "throttled"])
@pytest.mark.parametrize(("service", "operation"), BOUNDARIES)
def test_given_a_failing_boundary_then_acknowledged_records_are_processed_and_redelivery_completes(
    harness: Harness, capsys: pytest.CaptureFixture[str], service: str, operation: str, mode: str
) -> None:
    event, readings = _queued_event(harness)
    capsys.readouterr()
    harness.new_container()  # the processor's own container: nothing cached yet
    fault = harness.inject(service, operation, mode)
    # WHEN the batch is processed with one AWS call failing
    try:
        response = processor.lambda_handler(event, harness.time.context())
    except Exception:
        # The whole batch failed (config unreadable): every message is redelivered.
        assert (service, mode) in {("ssm", "persistent"), ("ssm", "throttled"), ("ssm", "once")}
        response = {"batchItemFailures": [{"itemIdentifier": m} for m in readings]}
    assert fault.calls >= 1
    failed = _check(harness, response, readings)
    metrics = emitted_metrics(capsys.readouterr().out)
    if service == "sns":
        # Alerts are best effort: nothing fails, the failure is counted.
        assert failed == set()
        if mode != "once":
            assert metrics.get("AlertFailures", 0) >= 1
    if mode == "once" and service == "dynamodb":
        assert failed == set()  # absorbed by the retry layer
    if failed and service == "dynamodb":
        assert metrics.get("StoreFailures", 0) == len(failed)
    # AND the redelivered records, fault gone, are processed once
    harness.clear()
    redelivery = {"Records": [r for r in event["Records"] if r["messageId"] in failed]}
    if redelivery["Records"]:
        assert processor.lambda_handler(redelivery, harness.time.context()) == {
            "batchItemFailures": []
        }
    ids = _processed_ids(harness)
    assert sorted(ids) == sorted({i for group in readings.values() for i in group})


def test_given_every_record_failing_and_sns_down_then_the_threshold_alert_does_not_raise(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    event, readings = _queued_event(harness)
    capsys.readouterr()
    harness.new_container()
    harness.inject("dynamodb", "BatchWriteItem", "persistent")
    harness.inject("sns", "Publish", "persistent")
    # WHEN all 6 records fail (threshold 5) and the threshold alert cannot be published
    response = processor.lambda_handler(event, harness.time.context())
    # THEN the handler answers every record as failed instead of raising
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == set(readings)
    assert emitted_metrics(capsys.readouterr().out).get("AlertFailures", 0) >= 1
    assert harness.time.slept <= harness.time.budget - MARGIN_SECONDS
    assert json.dumps(response)  # a plain partial batch response
