"""``GET /query`` through the query handler: pages, tokens, and bad input."""

from __future__ import annotations

from typing import Any

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.handlers import ingestion, query

from .conftest import api_event, body_of

T0 = 1_705_314_600_000


def ingest(count: int, device: str = "dev-q") -> None:
    readings = [
        {"device_id": device, "sensor_data": {"temperature": 20}, "timestamp": T0 + i}
        for i in range(count)
    ]
    ingestion.lambda_handler(api_event("POST", "/ingest", body={"readings": readings}), None)


def get(**params: str) -> dict[str, Any]:
    return query.lambda_handler(api_event("GET", "/query", query=params), None)


def test_given_raw_readings_when_paging_with_next_token_then_all_come_oldest_first(
    installed: LocalAdapters,
) -> None:
    ingest(5)
    stamps: list[int] = []
    token: str | None = None
    for _ in range(5):
        params = {"device_id": "dev-q", "table": "raw", "limit": "2"}
        if token:
            params["next_token"] = token
        body = body_of(get(**params))
        stamps += [item["timestamp"] for item in body["items"]]
        assert body["count"] == len(body["items"])
        token = body["next_token"]
        if token is None:
            break

    assert stamps == [T0 + i for i in range(5)]


def test_given_a_token_of_another_device_then_400_naming_next_token(
    installed: LocalAdapters,
) -> None:
    ingest(3)
    token = body_of(get(device_id="dev-q", table="raw", limit="1"))["next_token"]

    response = get(device_id="dev-other", table="raw", limit="1", next_token=token)

    assert response["statusCode"] == 400
    assert body_of(response)["details"][0]["field"] == "next_token"


def test_given_garbage_tokens_then_400_never_500(installed: LocalAdapters) -> None:
    for token in ("", ".", "a.b", "x" * 2000, "eyJ9.AAAA", "%%%.***"):
        response = get(device_id="dev-q", next_token=token)
        assert response["statusCode"] == 400, token


def test_given_bad_parameters_then_400_naming_each(installed: LocalAdapters) -> None:
    cases = [
        ({}, "device_id"),
        ({"device_id": "d", "limit": "0"}, "limit"),
        ({"device_id": "d", "order": "sideways"}, "order"),
        ({"device_id": "d", "table": "cooked"}, "table"),
        ({"device_id": "d", "event_date": "2024-01-15", "start": "1"}, "event_date"),
        ({"device_id": "d", "start": "10", "end": "5"}, "start"),
    ]
    for params, field in cases:
        response = get(**params)
        assert response["statusCode"] == 400, params
        assert field in {d["field"] for d in body_of(response)["details"]}, params


def test_given_no_readings_then_an_empty_page(installed: LocalAdapters) -> None:
    assert body_of(get(device_id="nobody")) == {"count": 0, "items": [], "next_token": None}
