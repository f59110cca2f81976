"""The processor handler: SQS batches (partial failures, alerts) and ``POST /process``."""

from __future__ import annotations

import json
from collections.abc import Callable

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.domain.messages import pack_messages, unpack_message
from iot_pipeline_backend.domain.reprocess import reprocess_readings
from iot_pipeline_backend.handlers import ingestion, processor, query
from iot_pipeline_common.models import PipelineConfig, ProcessedItem, ProcessRequest, Reading

from .conftest import api_event, body_of, load_fixture, sqs_event

T0 = 1_705_314_600_000
GOOD = load_fixture("sqs_event.json")["Records"][0]["body"]


def processed(adapters: LocalAdapters, device: str = "device-123") -> list[ProcessedItem]:
    return adapters.processed.query_processed(
        device_id=device,
        start_ms=0,
        end_ms=9_999_999_999_999,
        limit=1000,
        descending=False,
        after_sk=None,
    ).records


def test_given_the_design_reading_when_processed_then_the_query_returns_the_design_item(
    installed: LocalAdapters,
) -> None:
    result = processor.lambda_handler(load_fixture("sqs_event.json"), None)

    assert result == {"batchItemFailures": []}
    response = query.lambda_handler(
        api_event("GET", "/query", query={"device_id": "device-123", "event_date": "2024-01-15"}),
        None,
    )
    body = body_of(response)
    assert response["statusCode"] == 200
    assert body["count"] == 1
    assert body["next_token"] is None
    [item] = body["items"]
    expected = {
        "device_id": "device-123",
        "event_date": "2024-01-15",
        "timestamp": 1705314600000,
        "reading_id": "r-1",
        "temperature": 25.5,
        "temperature_celsius": 25.5,
        "temperature_fahrenheit": 77.9,
        "humidity": 60,
        "pressure": 1013,
        "status": "processed",
    }
    assert {k: item[k] for k in expected} == expected
    assert item["processed_at"].endswith("Z")
    # Integers the device sent come back as integers (60, not 60.0).
    assert (type(item["humidity"]), type(item["sensor_data"]["pressure"])) == (int, int)


def test_given_a_batch_with_failing_records_then_exactly_those_are_reported(
    installed: LocalAdapters,
) -> None:
    bodies = [GOOD, "not json", GOOD.replace("device-123", "device-456"), '{"readings": [{}]}']

    result = processor.lambda_handler(sqs_event(bodies), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert len(processed(installed)) == 1
    assert len(processed(installed, "device-456")) == 1


def test_given_failures_reaching_the_error_threshold_then_an_alert_is_published(
    installed: LocalAdapters,
) -> None:
    installed.config.path.write_text(json.dumps({"error_threshold": 2}))

    processor.lambda_handler(sqs_event([GOOD, "bad"]), None)
    assert installed.alerts.read_alerts() == []
    processor.lambda_handler(sqs_event(["bad", "worse", GOOD]), None)

    [alert] = installed.alerts.read_alerts()
    assert alert["kind"] == "error_threshold"
    assert alert["details"] == {"failed": 2, "total": 3, "threshold": 2}


def test_given_every_record_fails_then_all_are_reported_not_raised(
    installed: LocalAdapters,
) -> None:
    result = processor.lambda_handler(sqs_event(["x", "y"]), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}


def test_given_alert_rules_and_ranges_then_anomalies_and_rule_alerts(
    installed: LocalAdapters,
) -> None:
    installed.config.path.write_text(
        json.dumps({"alert_rules": [{"name": "too-hot", "field": "temperature", "above": 40}]})
    )
    hot = GOOD.replace('"temperature":25.5', '"temperature":65.0')

    processor.lambda_handler(sqs_event([hot]), None)

    [item] = processed(installed)
    assert item.status == "anomaly"
    assert [(a.field, a.rule, a.limit) for a in item.anomalies or []] == [
        ("temperature", "max", 50)
    ]
    assert item.temperature_fahrenheit == 149.0
    [alert] = installed.alerts.read_alerts()
    assert (alert["kind"], alert["device_id"]) == ("alert_rule", "device-123")


def test_given_a_repeated_reading_id_when_processed_twice_then_one_processed_item(
    installed: LocalAdapters, drain: Callable[[], list[str]]
) -> None:
    reading = {"device_id": "device-123", "sensor_data": {"temperature": 20}, "reading_id": "r-7"}
    for _ in range(2):
        ingestion.lambda_handler(api_event("POST", "/ingest", body=reading), None)

    result = processor.lambda_handler(sqs_event(drain()), None)

    assert result == {"batchItemFailures": []}
    assert [p.reading_id for p in processed(installed)] == ["r-7"]


def test_given_raw_readings_when_reprocess_is_posted_then_202_and_they_are_requeued(
    installed: LocalAdapters, drain: Callable[[], list[str]]
) -> None:
    readings = [
        {
            "device_id": "device-123",
            "sensor_data": {"temperature": t},
            "timestamp": 1705314600000 + t,
        }
        for t in range(5)
    ]
    ingestion.lambda_handler(api_event("POST", "/ingest", body={"readings": readings}), None)
    processor.lambda_handler(sqs_event(drain()), None)

    response = processor.lambda_handler(
        api_event("POST", "/process", body={"device_id": "device-123", "event_date": "2024-01-15"}),
        None,
    )

    assert response["statusCode"] == 202
    assert body_of(response) == {"queued": 5, "next_token": None}
    requeued = drain()
    assert len([r for b in requeued for r in unpack_message(b)]) == 5
    processor.lambda_handler(sqs_event(requeued), None)
    assert len(processed(installed)) == 5


def test_given_an_invalid_process_request_then_400_naming_the_field(
    installed: LocalAdapters,
) -> None:
    response = processor.lambda_handler(
        api_event("POST", "/process", body={"device_id": "d", "event_date": "2024-02-30"}), None
    )

    assert response["statusCode"] == 400
    assert [d["field"] for d in body_of(response)["details"]] == ["event_date"]


def test_given_a_message_packing_many_readings_then_all_are_processed(
    installed: LocalAdapters,
) -> None:
    raw = [
        r.model_copy(update={"reading_id": f"r-{i}"})
        for i in range(40)
        for r in unpack_message(GOOD)
    ]
    bodies = pack_messages(raw)

    assert processor.lambda_handler(sqs_event(bodies), None) == {"batchItemFailures": []}
    assert len(processed(installed)) == 40


def test_given_more_readings_than_one_call_replays_then_next_token_continues_to_the_end(
    installed: LocalAdapters, drain: Callable[[], list[str]]
) -> None:
    # GIVEN 7 raw readings, and a replay bounded to 3 readings a call (pages of 2)
    readings = [
        Reading(
            device_id="device-123",
            sensor_data={"temperature": 20.5},
            reading_id=f"r-{i}",
            timestamp=1705314600000 + i,
        )
        for i in range(7)
    ]
    ingest_readings(
        readings,
        raw_store=installed.raw,
        queue=installed.queue,
        config=PipelineConfig(),
        now_ms=1705314600000,
    )
    drain()
    request = ProcessRequest(device_id="device-123", event_date="2024-01-15")
    # WHEN the caller follows next_token until it is None
    answers = []
    while True:
        answer = reprocess_readings(
            request,
            raw_store=installed.raw,
            queue=installed.queue,
            page_size=2,
            max_readings=3,
        )
        answers.append(answer.queued)
        if answer.next_token is None:
            break
        request = request.model_copy(update={"next_token": answer.next_token})
    # THEN every reading was queued exactly once, in bounded calls
    assert answers == [3, 3, 1]
    queued = sorted(r.reading_id for b in drain() for r in unpack_message(b))
    assert queued == sorted(f"r-{i}" for i in range(7))


def test_given_a_forged_or_foreign_process_token_then_400_naming_next_token(
    installed: LocalAdapters,
) -> None:
    for body in (
        {"device_id": "device-123", "next_token": "forged.token"},
        {"device_id": "device-123", "event_date": "2024-01-15", "next_token": "x"},
    ):
        response = processor.lambda_handler(api_event("POST", "/process", body=body), None)
        assert response["statusCode"] == 400
        assert body_of(response)["details"][0]["field"] == "next_token"
