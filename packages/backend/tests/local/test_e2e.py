"""The whole local pipeline over real HTTP with real signatures: the examples of
docs/contract.md, and refused requests that store nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from iot_pipeline_backend.local.testing import RunningPipeline, running_pipeline

from .conftest import SignedHttp, botocore_signed_headers, signed_http_for

DESIGN_READING = {
    "device_id": "device-123",
    "sensor_data": {"temperature": 25.5, "humidity": 60, "pressure": 1013},
}


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[RunningPipeline]:
    with running_pipeline(data_dir=tmp_path / "data") as running:
        yield running


@pytest.fixture
def http(pipeline: RunningPipeline) -> SignedHttp:
    return signed_http_for(pipeline)


def test_given_design_ingest_example_then_documented_response(http: SignedHttp) -> None:
    response = http.ingest(DESIGN_READING)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "device_id", "timestamp", "reading_id"}
    assert body["message"] == "Data ingested successfully"
    assert body["device_id"] == "device-123"
    assert isinstance(body["timestamp"], int)
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", body["reading_id"])
    assert response.headers["x-amzn-RequestId"]


def test_given_design_reading_when_processed_then_query_examples_return_it(
    pipeline: RunningPipeline, http: SignedHttp
) -> None:
    # GIVEN the DESIGN reading at 2024-01-15T10:30:00Z with reading id r-1
    reading = {**DESIGN_READING, "timestamp": 1705314600000, "reading_id": "r-1"}
    assert http.ingest(reading).status_code == 200
    # WHEN the poller has processed the queue
    assert pipeline.wait_idle(30)
    # THEN the processed query example returns the processed item
    response = http.request(
        "GET", "/query", params={"device_id": "device-123", "event_date": "2024-01-15"}
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["count"] == 1
    assert page["next_token"] is None
    item = page["items"][0]
    assert {
        k: item[k]
        for k in (
            "device_id",
            "event_date",
            "timestamp",
            "reading_id",
            "temperature",
            "temperature_celsius",
            "temperature_fahrenheit",
            "humidity",
            "pressure",
            "status",
        )
    } == {
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
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", item["processed_at"])
    # AND the raw query example returns the raw item
    raw = http.request("GET", "/query", params={"device_id": "device-123", "table": "raw"})
    assert raw.status_code == 200
    raw_page = raw.json()
    assert raw_page["count"] == 1
    assert raw_page["items"][0]["reading_id"] == "r-1"
    assert raw_page["items"][0]["sensor_data"] == DESIGN_READING["sensor_data"]


def test_given_batch_and_replay_then_every_reading_processed_once(
    pipeline: RunningPipeline, http: SignedHttp
) -> None:
    readings = [
        {
            "device_id": "dev-b",
            "reading_id": f"b-{n}",
            "seq": n,
            "timestamp": 1705314600000 + n,
            "sensor_data": {"temperature": 20 + n % 5},
        }
        for n in range(50)
    ]
    response = http.ingest({"readings": readings})
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 50
    # WHEN the same batch is sent again (a client retry) and a replay is requested
    assert http.ingest({"readings": readings}).status_code == 200
    replay = http.request(
        "POST", "/process", json_body={"device_id": "dev-b", "event_date": "2024-01-15"}
    )
    assert replay.status_code == 202, replay.text
    assert replay.json() == {"queued": 50, "next_token": None}
    assert pipeline.wait_idle(30)
    # THEN raw and processed hold each reading exactly once
    raw_ids = [i["reading_id"] for i in http.query_all(device_id="dev-b", table="raw")]
    processed_ids = [i["reading_id"] for i in http.query_all(device_id="dev-b")]
    assert sorted(raw_ids) == sorted(processed_ids) == sorted(f"b-{n}" for n in range(50))


def test_given_invalid_reading_then_400_naming_the_field(http: SignedHttp) -> None:
    response = http.ingest({"device_id": "d", "sensor_data": {"temperature": "hot"}})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert any("temperature" in d["field"] for d in body["details"])


def _refused_requests(pipeline: RunningPipeline) -> list[httpx.Response]:
    url = pipeline.endpoint + "/ingest"
    body = httpx.Request("POST", url, json={**DESIGN_READING, "device_id": "intruder"}).read()
    keys = {"access_key": pipeline.access_key, "secret_key": pipeline.secret_key}
    good = botocore_signed_headers("POST", url, body=body, **keys)
    tampered = body.replace(b"25.5", b"99.5")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    return [
        httpx.post(url, content=body),
        httpx.post(
            url,
            content=body,
            headers=botocore_signed_headers(
                "POST", url, body=body, access_key=pipeline.access_key, secret_key="w" * 40
            ),
        ),
        httpx.post(
            url,
            content=body,
            headers=botocore_signed_headers(
                "POST", url, body=body, access_key="AKIA0000000000000000", secret_key="w" * 40
            ),
        ),
        httpx.post(url, content=tampered, headers=good),
        httpx.post(
            url,
            content=body,
            headers=botocore_signed_headers("POST", url, body=body, at=old, **keys),
        ),
        httpx.post(
            url,
            content=body,
            headers=botocore_signed_headers("POST", url, body=body, region="eu-west-1", **keys),
        ),
        httpx.post(
            url,
            content=body,
            headers=botocore_signed_headers("POST", url, body=body, service="iot", **keys),
        ),
    ]


def test_given_refused_requests_then_403_and_nothing_stored(
    pipeline: RunningPipeline, http: SignedHttp
) -> None:
    # GIVEN unsigned, wrong-secret, unknown-key, tampered, expired, wrong-region/service requests
    responses = _refused_requests(pipeline)
    # THEN each is a 403 in the error shape
    for response in responses:
        assert response.status_code == 403, response.text
        assert set(response.json()) == {"message", "error", "details"}
    # AND nothing reached the raw or processed tables
    assert pipeline.wait_idle(10)
    assert http.query_all(device_id="intruder", table="raw") == []
    assert http.query_all(device_id="intruder") == []
