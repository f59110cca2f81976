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
from botocore.exceptions import ClientError
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
    # GIVEN SQS and the undo's UpdateItem (taking its holds off) both failing, readings that
    # carry a reading_id
    body = {"readings": BATCH["readings"][:6]}
    harness.inject("sqs", "SendMessageBatch", mode)
    harness.inject("dynamodb", "UpdateItem", mode)
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


class _Interleaved:
    """Runs ``during`` (another request) inside this request's first SQS send, then fails
    the send if ``fail_outer``: the other request runs between this one's raw writes and
    its undo, as two Lambda containers may."""

    def __init__(self, during: Any, *, fail_outer: bool = True) -> None:
        self.during = during
        self.fail_outer = fail_outer
        self.inner: dict[str, Any] | None = None
        self._running = False

    def __call__(self, **_: Any) -> None:
        if self._running:
            return  # the other request's own send
        if self.inner is None:
            self._running = True
            try:
                self.inner = self.during()
            finally:
                self._running = False
        if self.fail_outer:
            raise ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                "SendMessageBatch",
            )


def _interleave(harness: Harness, during: Any, *, fail_outer: bool = True) -> _Interleaved:
    hook = _Interleaved(during, fail_outer=fail_outer)
    harness.adapters.clients["sqs"].meta.events.register("before-call.sqs.SendMessageBatch", hook)
    return hook


def test_given_a_repeat_acknowledged_while_the_first_request_fails_then_its_readings_stay(
    harness: Harness,
) -> None:
    # GIVEN a request whose SQS send fails for good, and the same readings sent again by
    # another request while the first one's raw items are written but not yet undone
    hook = _interleave(harness, lambda: _ingest(harness))
    # WHEN both finish: the repeat first, acknowledged; then the first one, undoing
    first = _ingest(harness)
    # THEN the repeat's 200 stays true: every reading it acknowledged is stored and queued
    assert hook.inner is not None and hook.inner["statusCode"] == 200
    stored = check_invariants(harness, hook.inner)
    # AND the first one's 503 says they may be stored: they are, held by the repeat
    assert first["statusCode"] == 503
    assert json.loads(first["body"])["message"] == MAYBE_STORED
    check_invariants(harness, first)
    # AND the markers of the readings kept are kept: a retry stores nothing twice
    harness.clear()
    hook.fail_outer = False
    retry = _ingest(harness)
    assert retry["statusCode"] == 200
    assert check_invariants(harness, retry) - stored == {
        (i["device_id"], f"{i['timestamp']:013d}#{i['reading_id']}")
        for i in json.loads(retry["body"])["items"]
        if not i["reading_id"].startswith(("sdk-", "no-ts-"))
    }


def test_given_a_concurrent_repeat_failing_too_then_the_last_undo_removes_the_readings(
    harness: Harness,
) -> None:
    # GIVEN two requests with the same readings, both of whose SQS sends fail, the second
    # running inside the first's
    hook = _interleave(harness, lambda: _ingest(harness), fail_outer=False)
    harness.inject("sqs", "SendMessageBatch", "persistent")
    # WHEN both have answered
    first = _ingest(harness)
    # THEN the second says they may be stored (the first still held them), the first that
    # nothing was stored, and nothing is: no reading is left unqueued
    assert hook.inner is not None
    assert json.loads(hook.inner["body"])["message"] == MAYBE_STORED
    assert json.loads(first["body"])["message"] == NOTHING_STORED
    for response in (hook.inner, first):
        assert response["statusCode"] == 503
        check_invariants(harness, response)
    assert harness.raw_items() == []


def test_given_an_acknowledged_batch_then_a_failing_repeat_leaves_it_stored(
    harness: Harness,
) -> None:
    # GIVEN a batch stored and queued (200)
    assert _ingest(harness)["statusCode"] == 200
    acknowledged = check_invariants(harness, _ingest(harness))
    # WHEN the same batch is sent again and its SQS send fails for good
    harness.inject("sqs", "SendMessageBatch", "persistent")
    repeat = _ingest(harness)
    # THEN the failing repeat's undo takes only its own holds: the readings stay stored
    assert repeat["statusCode"] == 503
    assert acknowledged <= _reading_keys(harness.raw_items())


def test_given_a_repeat_rewriting_a_reading_during_the_undo_then_its_marker_stays(
    harness: Harness,
) -> None:
    # GIVEN a reading with a reading_id and no timestamp (the marker path) whose request's
    # SQS send fails for good, and the same reading sent again by another request after the
    # first one's undo deleted the reading but before it deleted the marker
    body = {"readings": [{"device_id": "dev-m", "sensor_data": {"t": 1.0}, "reading_id": "m-1"}]}
    queue_down = [True]

    def failing_send(**_: Any) -> None:
        if queue_down[0]:
            raise ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                "SendMessageBatch",
            )

    repeat: list[dict[str, Any]] = []

    def repeat_before_marker_delete(**_: Any) -> None:
        if not repeat:
            queue_down[0] = False
            repeat.append(_ingest(harness, body))

    clients = harness.adapters.clients
    clients["sqs"].meta.events.register("before-call.sqs.SendMessageBatch", failing_send)
    for delete in ("TransactWriteItems", "BatchWriteItem"):  # the marker's delete, either way
        clients["dynamodb"].meta.events.register(
            f"before-call.dynamodb.{delete}", repeat_before_marker_delete
        )
    # WHEN both have answered
    first = _ingest(harness, body)
    # THEN the repeat's 200 is true, and the first one's 503 says the reading may be stored
    assert repeat and repeat[0]["statusCode"] == 200
    stored = check_invariants(harness, repeat[0])
    assert first["statusCode"] == 503
    assert json.loads(first["body"])["message"] == MAYBE_STORED
    # AND the marker still names the reading: a later repeat finds it, and nothing is stored
    # twice (the marker gone, it would get another server time, so another key)
    again = _ingest(harness, body)
    assert again["statusCode"] == 200
    assert check_invariants(harness, again) == stored and len(stored) == 1
