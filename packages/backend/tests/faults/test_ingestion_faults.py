"""Ingestion under a failing AWS call boundary: once, persistently, throttled.

After each scenario, read straight from moto's table and queue: nothing acknowledged is lost,
no raw reading is left without a queue message to carry it, a 503 says only what is true
and carries Retry-After, and retry sleeps fit the invocation's time. Then the client retries
the same request with the fault gone, and every reading is stored once and queued.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from iot_pipeline_backend.deadline import MARGIN_SECONDS
from iot_pipeline_backend.handlers import ingestion
from iot_pipeline_backend.handlers.http import MAYBE_STORED, NOTHING_STORED

# The handler suites' real-shaped event builders, shared rather than copied.
from ..handlers.conftest import api_event  # noqa: TID252
from .conftest import Harness, emitted_dimensions, emitted_metrics, header

T0 = 1_705_314_600_000
#: Each key shape once or more: device timestamp + reading_id (the SDK's), reading_id alone,
#: neither (the seed's).
BATCH = {
    "readings": [
        *(
            {
                "device_id": "dev-a",
                "sensor_data": {"temperature": 20.0 + i},
                "timestamp": T0 + i,
                "reading_id": f"sdk-{i}",
            }
            for i in range(4)
        ),
        {"device_id": "dev-a", "sensor_data": {"temperature": 21.0}, "reading_id": "no-ts-1"},
        {"device_id": "dev-b", "sensor_data": {"temperature": 22.0}, "reading_id": "no-ts-2"},
        {"device_id": "dev-b", "sensor_data": {"temperature": 23.0}},
    ]
}
BOUNDARIES = [
    ("dynamodb", "BatchGetItem"),
    ("dynamodb", "PutItem"),
    ("sqs", "SendMessageBatch"),
    ("ssm", "GetParameter"),
]
#: Boundaries the adapters' retry layer covers: a single failure there is absorbed.
RETRIED = {"BatchGetItem", "PutItem", "SendMessageBatch"}


def _ingest(harness: Harness, body: dict[str, Any] = BATCH) -> dict[str, Any]:
    response: dict[str, Any] = ingestion.lambda_handler(
        api_event("POST", "/ingest", body=body), harness.time.context()
    )
    return response


def _reading_keys(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (i["device_id"]["S"], i["sk"]["S"]) for i in items if not i["sk"]["S"].startswith("id#")
    }


def check_invariants(harness: Harness, response: dict[str, Any]) -> set[tuple[str, str]]:
    """The four invariants; returns the stored reading keys."""
    stored = _reading_keys(harness.raw_items())
    queued = set(harness.queued_readings())
    body = json.loads(response["body"])
    # No orphan: every stored raw reading travels in a queue message.
    assert stored <= queued, f"stored but never queued: {sorted(stored - queued)}"
    if response["statusCode"] == 200:
        # Nothing acknowledged is lost: each item answered is stored and queued.
        acknowledged = {
            (i["device_id"], f"{i['timestamp']:013d}#{i['reading_id']}") for i in body["items"]
        }
        assert acknowledged <= stored and acknowledged <= queued
    else:
        assert response["statusCode"] == 503, body
        assert header(response, "Retry-After").isdigit()
        # The message is true: "nothing was stored" only when nothing is.
        if body["message"] == NOTHING_STORED:
            assert stored == set(), f"503 said nothing was stored, yet {sorted(stored)}"
        else:
            assert body["message"] == MAYBE_STORED
        for internal in ("DynamoDB", "SQS", "InternalServerError", "Throttling"):
            assert internal not in response["body"]
    # Retry sleeps never outlive the invocation.
    assert harness.time.slept <= harness.time.budget - MARGIN_SECONDS
    return stored


@pytest.mark.parametrize("mode", ["once", "persistent", "throttled"])
@pytest.mark.parametrize(("service", "operation"), BOUNDARIES)
def test_given_a_failing_boundary_then_the_invariants_hold_and_a_retry_completes(
    harness: Harness, capsys: pytest.CaptureFixture[str], service: str, operation: str, mode: str
) -> None:
    # GIVEN one AWS call of ingestion failing
    fault = harness.inject(service, operation, mode)
    # WHEN a batch of every key shape is ingested
    response = _ingest(harness)
    # THEN the invariants hold, whatever the outcome
    assert fault.calls >= 1
    check_invariants(harness, response)
    if mode == "once" and operation in RETRIED:
        assert response["statusCode"] == 200  # one failure is absorbed by the retry layer
    if response["statusCode"] == 503:
        out = capsys.readouterr().out
        assert emitted_metrics(out).get("StoreFailures") == 1
        # AND it carries the dimensions the deployment's alarm watches (tests/infra/test_alarms)
        assert emitted_dimensions(out, "StoreFailures") == [
            {"service": "iot-pipeline", "environment": "dev"}
        ]
    # AND once the fault is gone, the client's retry stores each reading once, all queued
    harness.clear()
    retry = _ingest(harness)
    assert retry["statusCode"] == 200
    stored = check_invariants(harness, retry)
    ids = [sk.split("#", 1)[1] for _, sk in stored]
    with_ids = [i for i in ids if i.startswith(("sdk-", "no-ts-"))]
    assert (
        sorted(with_ids)
        == sorted({*with_ids})
        == sorted([f"sdk-{i}" for i in range(4)] + ["no-ts-1", "no-ts-2"])
    )


@pytest.mark.parametrize("mode", ["persistent", "throttled"])
def test_given_the_send_and_the_undo_both_failing_then_503_says_the_readings_may_be_stored(
    harness: Harness, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    # GIVEN SQS and the undo's BatchWriteItem both failing, readings that carry a reading_id
    body = {"readings": BATCH["readings"][:6]}
    harness.inject("sqs", "SendMessageBatch", mode)
    harness.inject("dynamodb", "BatchWriteItem", mode)
    # WHEN ingested
    response = _ingest(harness, body)
    # THEN the 503 says they may be stored, and counts both failures
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["message"] == MAYBE_STORED
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics.get("StoreFailures") == 1 and metrics.get("CompensationFailures") == 1
    assert len(_reading_keys(harness.raw_items())) == 6  # stored, not queued: as it said
    assert harness.time.slept <= harness.time.budget - MARGIN_SECONDS
    # AND the retry the message asks for stores nothing twice and queues every reading
    harness.clear()
    retry = _ingest(harness, body)
    assert retry["statusCode"] == 200
    assert len(check_invariants(harness, retry)) == 6


def test_given_little_time_left_then_throttled_retries_stop_in_time(harness: Harness) -> None:
    # GIVEN an invocation with 4 s left and SQS throttling every call
    harness.time.budget = 4.0
    harness.inject("sqs", "SendMessageBatch", "throttled")
    # WHEN a batch is ingested
    response = _ingest(harness)
    # THEN the retries stop while the undo and the answer still fit: a truthful 503
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["message"] == NOTHING_STORED
    check_invariants(harness, response)


def test_given_puts_failing_midway_then_the_written_readings_are_undone(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN DynamoDB accepting three puts, then failing every one
    harness.inject("dynamodb", "PutItem", "midway")
    # WHEN a batch is ingested
    response = _ingest(harness)
    # THEN the readings already written are removed again, so "nothing was stored" is true
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["message"] == NOTHING_STORED
    assert check_invariants(harness, response) == set()
    assert harness.raw_items() == []  # markers undone too
