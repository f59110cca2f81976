"""GIVEN each handler run alone on moto WHEN every AWS call it makes is recorded THEN the IAM
requests those calls need equal the committed ``policy/recorded_calls.json``.

That file is what the policy evaluation (``test_policies.py``, cdk session) asks an IAM
evaluator about, so the roles are checked against the calls the code really makes, not
against a list read from the code. Each function runs in a fresh container (new adapters, no
cached parameters) with only its own clients recorded; the scenarios reach every path that
calls AWS (repeat, undo, marker, alert, replay, rollups, pages, device reads, refusal).
After an intended change, regenerate with ``UPDATE_RECORDED_CALLS=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.handlers import ingestion, mqtt_ingest, processor, query

# The fault matrix's harness (moto stack, fake time, faults at the call boundary) and the
# handler suites' event builders, shared rather than copied.
from ..faults.conftest import Harness  # noqa: TID252
from ..handlers.conftest import api_event, sqs_event  # noqa: TID252
from .call_recording import Call, CallRecorder, iam_requests

RECORDED = Path(__file__).parent / "policy" / "recorded_calls.json"
T0 = 1_705_314_600_000  # 2024-01-15T10:30:00Z
DAY = "2024-01-15"


def _readings(device: str, first: int, count: int, *, hot: bool = False) -> dict[str, Any]:
    return {
        "readings": [
            {
                "device_id": device,
                "sensor_data": {"temperature": (35.0 if hot else 20.0) + i, "humidity": 50},
                "timestamp": T0 + (first + i) * 61_000,  # across minutes and an hour
                "reading_id": f"{device}-{first + i}",
            }
            for i in range(count)
        ]
    }


def _ok(response: dict[str, Any], status: int = 200) -> dict[str, Any]:
    assert response["statusCode"] == status, response.get("body")
    body: dict[str, Any] = json.loads(response["body"])
    return body


def _recorded(
    harness: Harness, run: Callable[[], None], *, session: boto3.Session | None = None
) -> set[Call]:
    """The calls ``run`` makes in a fresh container of the function under test (and of the
    clients ``session`` creates meanwhile)."""
    harness.new_container()
    settings = harness.stack.settings
    recorder = CallRecorder(
        names={
            settings.raw_table_name or "": "raw",
            settings.processed_table_name or "": "processed",
            settings.aggregates_table_name or "": "aggregates",
            settings.queue_url or "": "queue",
            settings.alert_topic_arn or "": "topic",
            settings.config_parameter_name or "": "config",
            settings.api_key_parameter_name or "": "api_key",
        }
    )
    for client in harness.adapters.clients.values():
        recorder.attach(client)
    if session is not None:
        recorder.attach_session(session)
    run()
    return recorder.calls


class _LostReply:
    """Fails the first call after AWS carried it out, as a reply lost on the way would."""

    lost = False

    def __call__(self, **_: Any) -> None:
        if not self.lost:
            self.lost = True
            error = {"Code": "InternalServerError", "Message": "reply lost"}
            raise ClientError(
                {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, "PutItem"
            )


def _ingest_paths(harness: Harness, ingest: Callable[[dict[str, Any], bool], None]) -> None:
    """Every path of an ingest that calls AWS; ``ingest(body, queue_down)`` sends one body."""
    ingest(_readings("dev-i", 0, 1), False)
    ingest(_readings("dev-i", 1, 3), False)
    ingest(_readings("dev-i", 1, 3), False)  # a repeat: answered from the stored originals
    # reading_id without timestamp: the idempotency marker path.
    marker = {"device_id": "dev-i", "sensor_data": {"temperature": 1}, "reading_id": "no-ts"}
    ingest({"readings": [marker]}, False)
    # A put whose reply is lost: its retry finds the item and takes hold of it.
    lost = _LostReply()
    harness.adapters.clients["dynamodb"].meta.events.register("after-call.dynamodb.PutItem", lost)
    ingest(_readings("dev-i", 20, 1), False)
    assert lost.lost
    # Another request claims the same marker between this one's lookup and its claim: the
    # claim's condition fails and the marker is read back.
    raw_table = harness.stack.settings.raw_table_name or ""
    claimed: list[str] = []

    def claim_first(params: dict[str, Any], **_: Any) -> None:
        sk = params.get("Item", {}).get("sk", {}).get("S", "")
        if sk.endswith("no-ts-race") and sk.startswith("id#") and not claimed:
            claimed.append(sk)
            harness.aws.client("dynamodb").put_item(TableName=raw_table, Item=params["Item"])

    harness.adapters.clients["dynamodb"].meta.events.register(
        "before-parameter-build.dynamodb.PutItem", claim_first
    )
    racing = {"device_id": "dev-i", "sensor_data": {"temperature": 1}, "reading_id": "no-ts-race"}
    ingest({"readings": [racing]}, False)
    assert claimed
    # The queue down: the undo deletes what was written, markers included.
    harness.inject("sqs", "SendMessageBatch", "persistent")
    undone = {"device_id": "dev-i", "sensor_data": {"temperature": 1}, "reading_id": "no-ts-2"}
    ingest({"readings": [*_readings("dev-i", 10, 2)["readings"], undone]}, True)
    harness.clear()
    assert not [
        i
        for i in harness.raw_items()
        if i.get("reading_id") == {"S": "dev-i-10"} or i["sk"]["S"].endswith("no-ts-2")
    ]


def _ingestion(harness: Harness) -> set[Call]:
    def ingest(body: dict[str, Any], queue_down: bool) -> None:
        response = ingestion.lambda_handler(api_event("POST", "/ingest", body=body), None)
        _ok(response, 503 if queue_down else 200)

    return _recorded(harness, lambda: _ingest_paths(harness, ingest))


def _fill(harness: Harness) -> None:
    """Readings of two devices, through the ingestion and processor handlers (not recorded)."""
    for device, hot in (("dev-q", False), ("dev-r", True)):
        _ok(
            ingestion.lambda_handler(
                api_event("POST", "/ingest", body=_readings(device, 0, 4, hot=hot)), None
            )
        )
    processor.lambda_handler(sqs_event([m["Body"] for m in harness.receive_messages()]), None)


def _processor(harness: Harness) -> set[Call]:
    _ok(
        ingestion.lambda_handler(
            api_event("POST", "/ingest", body=_readings("dev-p", 0, 3, hot=True)), None
        )
    )
    event = sqs_event([m["Body"] for m in harness.receive_messages()])

    def run() -> None:
        assert processor.lambda_handler(event, harness.time.context()) == {"batchItemFailures": []}
        replay = {"device_id": "dev-p", "event_date": DAY}
        _ok(processor.lambda_handler(api_event("POST", "/process", body=replay), None), 202)

    calls = _recorded(harness, run)
    assert harness.processed_items() and [
        i
        for i in harness.stack.session.client("dynamodb").scan(
            TableName=harness.stack.settings.aggregates_table_name or ""
        )["Items"]
    ], "the processor stored readings and maintained rollups"
    return calls


def _query(harness: Harness) -> set[Call]:
    _fill(harness)

    def run() -> None:
        base = {"device_id": "dev-q", "limit": "2"}
        page = _ok(query.lambda_handler(api_event("GET", "/query", query=base), None))
        assert page["next_token"]
        following = base | {"next_token": page["next_token"]}
        _ok(query.lambda_handler(api_event("GET", "/query", query=following), None))
        raw = base | {"table": "raw"}
        _ok(query.lambda_handler(api_event("GET", "/query", query=raw), None))
        window = {"start": str(T0 - 3_600_000), "end": str(T0 + 3_600_000)}
        buckets = {"device_id": "dev-q", "interval": "1m", **window}
        assert _ok(query.lambda_handler(api_event("GET", "/query", query=buckets), None))["items"]
        hours = buckets | {"interval": "1h"}
        _ok(query.lambda_handler(api_event("GET", "/query", query=hours), None))
        devices = _ok(
            query.lambda_handler(api_event("GET", "/devices", query={"limit": "1"}), None)
        )
        assert devices["next_token"]
        more = {"limit": "1", "next_token": devices["next_token"]}
        _ok(query.lambda_handler(api_event("GET", "/devices", query=more), None))
        _ok(query.lambda_handler(api_event("GET", "/devices/dev-q"), None))
        _ok(query.lambda_handler(api_event("GET", "/devices/nobody"), None), 404)

    return _recorded(harness, run)


def _mqtt(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> set[Call]:
    # The replies' iot-data client comes from boto3's default session, created on the first
    # refusal: a fresh default session whose clients are recorded too.
    session = boto3.Session(region_name=harness.stack.session.region_name)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    monkeypatch.setattr(mqtt_ingest, "_replies", [])

    def ingest(body: dict[str, Any], queue_down: bool) -> None:
        event = {"readings": [r | {"device_id": "thing-1"} for r in body["readings"]]}
        if queue_down:  # raised, for Lambda's asynchronous retries
            with pytest.raises(StoreUnavailableError):
                mqtt_ingest.lambda_handler(event | {"thing": "thing-1"}, None)
        else:
            assert mqtt_ingest.lambda_handler(event | {"thing": "thing-1"}, None)["stored"]

    def run() -> None:
        _ingest_paths(harness, ingest)
        # Refused: another device's reading, a reading without sensor data.
        stranger = _readings("other", 0, 1) | {"thing": "thing-2"}
        assert mqtt_ingest.lambda_handler(stranger, None)["stored"] == 0
        invalid = {"readings": [{"device_id": "thing-2"}], "thing": "thing-2"}
        assert mqtt_ingest.lambda_handler(invalid, None)["stored"] == 0

    return _recorded(harness, run, session=session)


SCENARIOS: dict[str, Callable[[Harness, pytest.MonkeyPatch], set[Call]]] = {
    "ingestion": lambda harness, _: _ingestion(harness),
    "processor": lambda harness, _: _processor(harness),
    "query": lambda harness, _: _query(harness),
    "mqtt_ingestion": _mqtt,
}


def _as_json(calls: set[Call]) -> dict[str, Any]:
    requests = {json.dumps(r, sort_keys=True) for call in calls for r in iam_requests(call)}
    return {
        "calls": [
            f"{c.service} {c.operation} {c.resource}" + (f" ({c.detail})" if c.detail else "")
            for c in sorted(calls)
        ],
        "iam": [
            dict(zip(("action", "resource", "context"), json.loads(r), strict=True))
            for r in sorted(requests)
        ],
    }


@pytest.mark.parametrize("function", list(SCENARIOS))
def test_the_calls_each_function_makes_equal_the_committed_recording(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    recorded = _as_json(SCENARIOS[function](harness, monkeypatch))
    committed = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
    if os.environ.get("UPDATE_RECORDED_CALLS") == "1":
        committed[function] = recorded
        RECORDED.write_text(json.dumps(committed, indent=1, sort_keys=True) + "\n")
    assert recorded == committed.get(function), (
        f"{function}'s AWS calls changed: rerun with UPDATE_RECORDED_CALLS=1, review the diff "
        "of policy/recorded_calls.json and grant what it needs (infra/stack.py)"
    )


def test_a_transaction_is_authorized_item_by_item_and_a_batch_as_its_single_action(
    aws: Any,
) -> None:
    # The mapping itself, on calls moto carries out (the handlers make no such mixed calls).
    settings = aws.settings
    recorder = CallRecorder(names={settings.raw_table_name: "raw", settings.queue_url: "queue"})
    dynamodb, sqs = aws.session.client("dynamodb"), aws.session.client("sqs")
    recorder.attach(dynamodb)
    recorder.attach(sqs)
    key = {"device_id": {"S": "d"}, "sk": {"S": "s"}}
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": settings.raw_table_name, "Item": key}},
            {
                "Update": {
                    "TableName": settings.raw_table_name,
                    "Key": key | {"sk": {"S": "t"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "1"}},
                }
            },
        ]
    )
    sqs.delete_message_batch(
        QueueUrl=settings.queue_url, Entries=[{"Id": "1", "ReceiptHandle": "gone"}]
    )
    requests = {(a, r) for call in recorder.calls for a, r, _ in iam_requests(call)}
    assert requests == {
        ("dynamodb:PutItem", "raw"),
        ("dynamodb:UpdateItem", "raw"),
        ("sqs:DeleteMessage", "queue"),
    }
    with pytest.raises(AssertionError, match="no resource of the stack"):
        dynamodb.get_item(TableName=settings.processed_table_name, Key=key)
