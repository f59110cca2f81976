"""Aggregates and devices over real HTTP with real signatures on the local pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from iot_pipeline_backend.local.testing import RunningPipeline, running_pipeline

from .conftest import SignedHttp, signed_http_for

HOUR = 1_705_312_800_000  # 2024-01-15T10:00:00Z


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPipeline]:
    data_dir: Path = tmp_path_factory.mktemp("ts") / "data"
    with running_pipeline(data_dir=data_dir) as running:
        http = signed_http_for(running)
        # Two hours of one reading a minute, sent twice (a client retry), then processed.
        readings = [
            {
                "device_id": "device-123",
                "timestamp": HOUR + i * 60_000,
                "reading_id": f"r-{i}",
                "sensor_data": {"temperature": 20 + (i % 60) / 10, "humidity": 50},
            }
            for i in range(120)
        ]
        for _ in range(2):
            assert http.ingest({"readings": readings}).status_code == 200
        assert http.ingest({"device_id": "sensor-b", "sensor_data": {"lux": 3}}).status_code == 200
        assert running.wait_idle(60)
        yield running


@pytest.fixture
def http(pipeline: RunningPipeline) -> SignedHttp:
    return signed_http_for(pipeline)


def test_given_two_hours_when_hourly_aggregate_then_one_bucket_an_hour(http: SignedHttp) -> None:
    response = http.request(
        "GET",
        "/query",
        params={"device_id": "device-123", "event_date": "2024-01-15", "interval": "1h"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2
    assert body["next_token"] is None
    first = body["items"][0]
    assert (first["start"], first["end"], first["count"]) == (HOUR, HOUR + 3_599_999, 60)
    assert first["stats"]["temperature"] == {
        "count": 60,
        "min": 20,
        "max": 25.9,
        "avg": 22.95,
        "sum": 1377.0,
    }
    assert first["stats"]["humidity"]["avg"] == 50.0


def test_given_paging_over_buckets_then_each_bucket_comes_once(http: SignedHttp) -> None:
    params = {
        "device_id": "device-123",
        "start": str(HOUR),
        "end": str(HOUR + 2 * 3_600_000 - 1),
        "interval": "15m",
        "limit": "3",
        "order": "desc",
        "stats": "count",
    }
    starts: list[int] = []
    for _ in range(10):
        body = http.request("GET", "/query", params=params).json()
        starts.extend(item["start"] for item in body["items"])
        if body["next_token"] is None:
            break
        params["next_token"] = body["next_token"]

    assert starts == [HOUR + k * 900_000 for k in reversed(range(8))]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "2h", "event_date": "2024-01-15"}, "interval"),
        ({"interval": "1h", "event_date": "2024-01-15", "table": "raw"}, "table"),
        ({"interval": "1h", "event_date": "2024-01-15", "stats": "avg,median"}, "stats[1]"),
        ({"interval": "1m", "start": "0", "end": "9999999999999"}, "interval"),
        ({"interval": "1h"}, "start"),
        ({"interval": "1h", "event_date": "2024-01-15", "next_token": "forged.tok"}, "next_token"),
    ],
)
def test_given_bad_aggregate_input_then_400_naming_the_parameter(
    http: SignedHttp, params: dict[str, str], field: str
) -> None:
    response = http.request("GET", "/query", params={"device_id": "device-123", **params})

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in [d["field"] for d in body["details"]]


def test_given_devices_then_listed_in_order_and_one_by_one(http: SignedHttp) -> None:
    page = http.request("GET", "/devices", params={"limit": "1"}).json()
    assert [d["device_id"] for d in page["items"]] == ["device-123"]
    rest = http.request(
        "GET", "/devices", params={"limit": "1", "next_token": page["next_token"]}
    ).json()
    assert [d["device_id"] for d in rest["items"]] == ["sensor-b"]
    assert rest["next_token"] is None

    one = http.request("GET", "/devices/device-123")
    assert one.status_code == 200, one.text
    device = one.json()
    assert device["readings"] == 120  # the retried batch counts once
    assert (device["first_seen"], device["last_seen"]) == (HOUR, HOUR + 119 * 60_000)
    assert device["latest"]["reading_id"] == "r-119"
    assert http.request("GET", "/devices", params={"prefix": "sens"}).json()["count"] == 1


def test_given_an_unknown_device_then_404_not_found(http: SignedHttp) -> None:
    response = http.request("GET", "/devices/nobody")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_given_an_id_no_reading_could_carry_then_404_not_found(http: SignedHttp) -> None:
    response = http.request("GET", "/devices/" + "x" * 300)

    assert response.status_code == 404
    assert response.json()["details"][0]["field"] == "device_id"


def test_given_a_query_parameter_on_one_device_then_400_naming_it(http: SignedHttp) -> None:
    response = http.request("GET", "/devices/device-123", params={"limit": "5"})

    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == ["limit"]
