"""``POST /ingest`` through the ingestion handler on local adapters."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.domain.messages import unpack_message
from iot_pipeline_backend.handlers import ingestion

from .conftest import api_event, body_of, content_type, load_fixture

T0 = 1_705_314_600_000


def raw_items(adapters: LocalAdapters, device: str = "device-123") -> list[Any]:
    return adapters.raw.query_raw(
        device_id=device,
        start_ms=0,
        end_ms=9_999_999_999_999,
        limit=1000,
        descending=False,
        after_sk=None,
    ).records


def test_given_the_design_example_when_ingested_then_200_and_stored_and_queued(
    installed: LocalAdapters, drain: Callable[[], list[str]]
) -> None:
    response = ingestion.lambda_handler(load_fixture("apigw_rest_event.json"), None)

    assert response["statusCode"] == 200
    assert content_type(response) == "application/json"
    body = body_of(response)
    assert body["message"] == "Data ingested successfully"
    assert body["device_id"] == "device-123"
    assert isinstance(body["timestamp"], int)
    [stored] = raw_items(installed)
    assert (stored.reading_id, stored.timestamp) == (body["reading_id"], body["timestamp"])
    assert [r.reading_id for b in drain() for r in unpack_message(b)] == [body["reading_id"]]


def test_given_the_same_reading_id_twice_then_one_raw_item_and_the_original_timestamp(
    installed: LocalAdapters,
) -> None:
    reading = {"device_id": "device-123", "sensor_data": {"temperature": 20}, "reading_id": "r-9"}
    first = body_of(ingestion.lambda_handler(api_event("POST", "/ingest", body=reading), None))
    second = body_of(ingestion.lambda_handler(api_event("POST", "/ingest", body=reading), None))

    assert second == first
    assert len(raw_items(installed)) == 1


def test_given_two_readings_in_the_same_millisecond_then_two_items(
    installed: LocalAdapters,
) -> None:
    readings = [
        {"device_id": "device-123", "sensor_data": {"temperature": t}, "timestamp": T0}
        for t in (20, 21)
    ]
    response = ingestion.lambda_handler(
        api_event("POST", "/ingest", body={"readings": readings}), None
    )

    body = body_of(response)
    assert response["statusCode"] == 200
    assert body["count"] == 2
    assert len({item["reading_id"] for item in body["items"]}) == 2
    stored = raw_items(installed)
    assert sorted(r.sensor_data["temperature"] for r in stored) == [20, 21]
    assert {r.timestamp for r in stored} == {T0}


def test_given_a_batch_with_invalid_readings_then_400_names_each_index_and_nothing_is_stored(
    installed: LocalAdapters, drain: Callable[[], list[str]]
) -> None:
    readings = [
        {"device_id": "device-123", "sensor_data": {"temperature": 20}},
        {"device_id": "device-123", "sensor_data": {"temperature": 500}},
        {"device_id": "bad id!", "sensor_data": {"humidity": 50}},
    ]
    response = ingestion.lambda_handler(
        api_event("POST", "/ingest", body={"readings": readings}), None
    )

    body = body_of(response)
    assert response["statusCode"] == 400
    assert body["error"] == "validation_error"
    fields = {d["field"] for d in body["details"]}
    assert "readings[1].sensor_data.temperature" in fields
    assert "readings[2].device_id" in fields
    assert raw_items(installed) == []
    assert drain() == []


def test_given_bad_bodies_then_4xx_json_naming_the_problem(installed: LocalAdapters) -> None:
    cases: list[tuple[Any, int, str]] = [
        ("{", 400, "not valid UTF-8 JSON"),
        ("[]", 400, "must be a JSON object"),
        (None, 400, "empty"),
        ({"device_id": "d", "sensor_data": {"temperature": "hot"}}, 400, "sensor_data"),
        ({"device_id": "d", "sensor_data": {"t": 1}, "extra": 1}, 400, "extra"),
        ("x" * (256 * 1024 + 1), 413, "limit"),
    ]
    for body, status, text in cases:
        response = ingestion.lambda_handler(api_event("POST", "/ingest", body=body), None)
        assert response["statusCode"] == status, body
        assert content_type(response) == "application/json"
        assert text in response["body"]
        assert set(body_of(response)) == {"message", "error", "details"}


def test_given_an_unknown_route_or_method_then_404_or_405(installed: LocalAdapters) -> None:
    missing = ingestion.lambda_handler(api_event("POST", "/nowhere", body={}), None)
    wrong = ingestion.lambda_handler(api_event("GET", "/ingest"), None)

    assert (missing["statusCode"], body_of(missing)["error"]) == (404, "not_found")
    assert (wrong["statusCode"], body_of(wrong)["error"]) == (405, "method_not_allowed")


def test_given_the_store_is_down_then_503_with_a_generic_message_and_no_internals(
    installed: LocalAdapters,
) -> None:
    installed.close()

    response = ingestion.lambda_handler(load_fixture("apigw_rest_event.json"), None)

    assert response["statusCode"] == 503
    body = body_of(response)
    assert body["error"] == "service_unavailable"
    assert "sqlite" not in response["body"].lower()
    assert "database" not in response["body"].lower()


def test_given_an_unexpected_error_then_500_without_a_stack_trace(
    installed: LocalAdapters,
) -> None:
    installed.config.path.write_text('{"batch_size": 0}')  # a ConfigError: an operator's fault

    response = ingestion.lambda_handler(load_fixture("apigw_rest_event.json"), None)

    assert response["statusCode"] == 500
    assert body_of(response) == {
        "message": "Internal server error",
        "error": "internal_error",
        "details": [],
    }


def test_given_metrics_enabled_then_the_ingested_count_is_emitted_as_emf(
    installed: LocalAdapters,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    readings = [{"device_id": "device-123", "sensor_data": {"temperature": 20}}] * 3

    ingestion.lambda_handler(api_event("POST", "/ingest", body={"readings": readings}), None)

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    [blob] = emf
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "IoTPipeline"
    assert blob["ReadingsIngested"] == [3.0]
