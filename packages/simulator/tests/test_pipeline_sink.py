"""The SDK adapter's unchecked path: invalid readings are signed and posted as they are."""

from __future__ import annotations

import json

import httpx
import pytest
from iot_pipeline_sdk import APIError, AsyncClient, ServerError, ValidationError
from iot_pipeline_simulator.pipeline import PipelineSink

INVALID = {
    "device_id": "factory-00001",
    "sensor_data": {"humidity": 131.5},
    "timestamp": 1_700_000_000_000,
    "reading_id": "factory-00001-s7-3",
    "seq": 3,
}


def _sink(handler: httpx.MockTransport) -> PipelineSink:
    client = AsyncClient(
        endpoint="http://127.0.0.1:8000/prod",
        region="us-east-1",
        credentials=("AKIDEXAMPLE", "secret-key"),
        transport=handler,
        retries=0,
    )
    return PipelineSink(client)


async def test_given_an_invalid_reading_then_it_is_posted_unchanged_and_signed() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            400,
            json={
                "message": "Invalid reading: sensor_data.humidity: must be between 0 and 100",
                "error": "validation_error",
                "details": [],
            },
            headers={"x-amzn-requestid": "req-42"},
        )

    sink = _sink(httpx.MockTransport(answer))
    with pytest.raises(ValidationError) as caught:
        await sink.ingest_invalid(INVALID)
    assert caught.value.status_code == 400
    assert caught.value.code == "validation_error"
    assert caught.value.request_id == "req-42"
    (request,) = seen
    assert request.url.path == "/prod/ingest"
    assert json.loads(request.content) == INVALID
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")


async def test_given_a_non_json_server_fault_then_an_api_error_names_the_status() -> None:
    sink = _sink(httpx.MockTransport(lambda _: httpx.Response(503, text="<html>busy</html>")))
    with pytest.raises(APIError) as caught:
        await sink.ingest_invalid(INVALID)
    # The SDK's own mapping: a 5xx without a JSON body is a ServerError named by its status.
    assert isinstance(caught.value, ServerError)
    assert caught.value.status_code == 503
    assert caught.value.code == "service_unavailable"


async def test_given_the_pipeline_accepts_it_then_the_ack_is_returned() -> None:
    reply = {"device_id": "factory-00001", "timestamp": 1, "reading_id": "r", "message": "ok"}
    sink = _sink(httpx.MockTransport(lambda _: httpx.Response(200, json=reply)))
    ack = await sink.ingest_invalid(INVALID)
    assert (ack.timestamp, ack.reading_id) == (1, "r")
