"""Requests the clients build, batches they split, pages they follow, and configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from iot_pipeline_common import limits, sigv4
from iot_pipeline_sdk import Client, ConfigurationError, Reading, ValidationError, prepare_readings

Handler = Callable[[httpx.Request], httpx.Response]


def test_given_single_reading_when_ingested_then_signed_post_with_id_and_user_agent(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    # GIVEN a client with an application user agent
    h = harness(ingest_ok, user_agent="greenhouse/2.1")
    # WHEN ingesting with every optional field
    result = h.call(
        "ingest",
        "device-123",
        {"temperature": 25.5, "humidity": 60},
        timestamp=1705314600000,
        seq=7,
    )
    # THEN one signed POST /prod/ingest carries exactly the reading
    (request,) = h.requests
    assert (request.method, request.url.path) == ("POST", "/prod/ingest")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("greenhouse/2.1 iot-pipeline-sdk/")
    auth = sigv4.parse_authorization(request.headers["authorization"])
    assert auth is not None
    assert (auth.access_key, auth.region, auth.service) == ("AKIDLOCAL", "us-east-1", "execute-api")
    assert "user-agent" not in auth.signed_headers
    body = json.loads(request.content)
    assert body == {
        "device_id": "device-123",
        "sensor_data": {"temperature": 25.5, "humidity": 60},
        "timestamp": 1705314600000,
        "reading_id": result.reading_id,
        "seq": 7,
    }
    assert limits.ID_REGEX.match(result.reading_id)


def test_given_caller_reading_id_when_ingested_then_kept(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    h = harness(ingest_ok)
    assert h.call("ingest", "d", {"pressure": 1013}, reading_id="r-1").reading_id == "r-1"


def test_given_query_arguments_when_querying_then_query_string_is_canonical(
    harness: Callable[..., Any],
) -> None:
    h = harness(lambda _: httpx.Response(200, json={"count": 0, "items": [], "next_token": None}))
    h.call(
        "query",
        "device:1",
        start=5,
        end=9,
        table="raw",
        limit=10,
        order="desc",
        next_token="a+b/c=",
    )
    (request,) = h.requests
    raw = request.url.query.decode()
    # sent as signed: sorted, RFC 3986-encoded, so raw == canonical
    assert raw == sigv4.canonical_query_string(raw) == sigv4.renormalized_query_string(raw)
    assert dict(parse_qsl(raw)) == {
        "device_id": "device:1",
        "start": "5",
        "end": "9",
        "table": "raw",
        "limit": "10",
        "order": "desc",
        "next_token": "a+b/c=",
    }


def test_given_date_object_when_querying_or_processing_then_sent_as_iso_day(
    harness: Callable[..., Any],
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"count": 0, "items": [], "next_token": None})
        return httpx.Response(202, json={"queued": 0})

    h = harness(answer)
    h.call("query", "d", event_date=date(2024, 1, 15))
    h.call("process", "d", event_date=date(2024, 1, 15))
    assert dict(parse_qsl(h.requests[0].url.query.decode()))["event_date"] == "2024-01-15"
    assert h.bodies()[1] == {"device_id": "d", "event_date": "2024-01-15"}


def paging_pipeline(total: int) -> Handler:
    """A pipeline holding ``total`` raw readings of one device, paged by ``limit``."""

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.url.query.decode()))
        offset = int(params.get("next_token", "0"))
        size = int(params.get("limit", "100"))
        items = [
            {
                "device_id": params["device_id"],
                "event_date": "2024-01-15",
                "timestamp": 1705314600000 + i,
                "reading_id": f"r-{i}",
                "sensor_data": {"humidity": 50},
                "ingested_at": "2024-01-15T10:30:00Z",
            }
            for i in range(offset, min(offset + size, total))
        ]
        more = offset + size < total
        token = str(offset + size) if more else None
        return httpx.Response(200, json={"count": len(items), "items": items, "next_token": token})

    return handle


def test_given_250_items_when_iterating_query_then_every_item_once_in_order(
    harness: Callable[..., Any],
) -> None:
    h = harness(paging_pipeline(250))
    items = h.call("iter_query", "device-1", table="raw", limit=100)
    assert [i.reading_id for i in items] == [f"r-{i}" for i in range(250)]
    assert len(h.requests) == 3
    tokens = [dict(parse_qsl(r.url.query.decode())).get("next_token") for r in h.requests]
    assert tokens == [None, "100", "200"]


def test_given_first_page_when_auto_paging_then_follows_tokens_lazily() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return paging_pipeline(5)(request)

    with Client(
        endpoint="http://127.0.0.1:1/prod",
        region="us-east-1",
        credentials=("AK", "SK"),
        transport=httpx.MockTransport(record),
    ) as client:
        page = client.query("device-1", table="raw", limit=2)
        assert (page.count, page.next_token, page.has_more, len(page)) == (2, "2", True, 2)
        assert len(sent) == 1  # nothing fetched ahead
        assert [i.timestamp for i in page.auto_paging_iter()] == [
            1705314600000 + i for i in range(5)
        ]
        last = client.query("device-1", table="raw", limit=2, next_token="4")
        assert last.next_page() is None


def test_given_1200_readings_when_batch_ingested_then_split_by_500_and_items_in_order(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    h = harness(ingest_ok)
    readings: list[Any] = [
        {"device_id": f"d-{i % 7}", "sensor_data": {"temperature": i % 100}} for i in range(1199)
    ]
    readings.append(Reading(device_id="model", sensor_data={"humidity": 1}, reading_id="mine"))
    result = h.call("ingest_batch", readings)
    assert [len(b["readings"]) for b in h.bodies()] == [500, 500, 200]
    assert result.count == 1200
    assert [i.device_id for i in result.items] == [f"d-{i % 7}" for i in range(1199)] + ["model"]
    assert result.items[-1].reading_id == "mine"
    assert len({i.reading_id for i in result.items}) == 1200


def test_given_large_readings_when_batch_ingested_then_every_body_within_256_kib(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    # GIVEN readings of ~3 KB each: 500 of them would be ~1.5 MB
    sensors = {f"sensor_{n:02d}_{'x' * 40}": 123456.789 + n for n in range(45)}
    readings = [{"device_id": "d" * 128, "sensor_data": sensors} for _ in range(400)]
    h = harness(ingest_ok)
    result = h.call("ingest_batch", readings)
    sizes = [len(r.content) for r in h.requests]
    assert all(size <= limits.MAX_BODY_BYTES for size in sizes)
    assert len(sizes) > 1
    # the bodies are packed: each but the last would overflow with one more reading
    one = len(h.requests[0].content) // len(h.bodies()[0]["readings"])
    assert all(size + one > limits.MAX_BODY_BYTES for size in sizes[:-1])
    assert result.count == 400


def test_given_one_invalid_reading_when_batch_ingested_then_nothing_sent_and_index_named(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    h = harness(ingest_ok)
    readings = [{"device_id": "d", "sensor_data": {"humidity": 1}} for _ in range(5)]
    readings[3] = {"device_id": "d", "sensor_data": {"humidity": 150}}
    with pytest.raises(ValidationError) as caught:
        h.call("ingest_batch", readings)
    assert [d.field for d in caught.value.details] == ["readings[3].sensor_data.humidity"]
    assert h.requests == []


def test_given_no_readings_when_batch_ingested_then_nothing_sent(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    h = harness(ingest_ok)
    assert h.call("ingest_batch", []).count == 0
    assert h.requests == []


# -- configuration -------------------------------------------------------------------------


@pytest.fixture
def no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment where botocore finds nothing: no keys, no files, no metadata service."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_given_execute_api_endpoint_then_region_inferred(no_aws_environment: Path) -> None:
    with Client(
        endpoint="https://a1b2c3.execute-api.ap-southeast-2.amazonaws.com/prod",
        credentials=("AK", "SK"),
    ) as client:
        assert client.region == "ap-southeast-2"


def test_given_local_endpoint_then_region_from_environment_or_error(
    no_aws_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="region"):
        Client(endpoint="http://127.0.0.1:8000/prod", credentials=("AK", "SK"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with Client(endpoint="http://127.0.0.1:8000/prod", credentials=("AK", "SK")) as client:
        assert client.region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    with Client(endpoint="http://127.0.0.1:8000/prod", credentials=("AK", "SK")) as client:
        assert client.region == "eu-north-1"


def test_given_credentials_file_and_profile_then_keys_and_region_come_from_them(
    no_aws_environment: Path,
) -> None:
    # GIVEN a shared-credentials file like the local runtime writes, and a config with a region
    credentials = no_aws_environment / "local-credentials"
    credentials.write_text(
        "[iot-pipeline-local]\naws_access_key_id = AKIDFROMFILE\naws_secret_access_key = s3cr3t\n"
    )
    (no_aws_environment / "config").write_text("[profile iot-pipeline-local]\nregion = us-west-2\n")
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(202, json={"queued": 0})

    # WHEN a client is built from them and sends a request
    with Client(
        endpoint="http://127.0.0.1:8000/prod",
        profile="iot-pipeline-local",
        credentials_file=credentials,
        transport=httpx.MockTransport(record),
    ) as client:
        client.process("device-1")
    # THEN the request is signed with the file's key in the profile's region
    auth = sigv4.parse_authorization(sent[0].headers["authorization"])
    assert auth is not None
    assert (auth.access_key, auth.region) == ("AKIDFROMFILE", "us-west-2")


def test_given_missing_profile_or_no_credentials_then_configuration_error(
    no_aws_environment: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="nope"):
        Client(endpoint="http://127.0.0.1:8000/prod", region="us-east-1", profile="nope")
    with pytest.raises(ConfigurationError, match="no AWS credentials"):
        Client(endpoint="http://127.0.0.1:8000/prod", region="us-east-1")


@pytest.mark.parametrize(
    "endpoint", ["ftp://host/prod", "not a url", "http:///prod", "http://h/prod?x=1"]
)
def test_given_bad_endpoint_then_configuration_error(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        Client(endpoint=endpoint, region="us-east-1", credentials=("AK", "SK"))


def test_given_raw_request_when_sent_then_signed_unchecked_and_json_returned(
    harness: Callable[..., Any],
) -> None:
    # GIVEN a body the typed methods would refuse (temperature out of range, no reading_id)
    h = harness(lambda r: httpx.Response(200, json={"echo": json.loads(r.content)}))
    body = {"device_id": "d", "sensor_data": {"temperature": 999}}
    # WHEN sent through the low-level request()
    reply = h.call("request", "POST", "ingest", json=body, params={"b": 2, "a": "x y"})
    # THEN it goes out as given, signed, with a canonical query, and the JSON comes back
    (request,) = h.requests
    assert reply == {"echo": body}
    assert request.url.raw_path == b"/prod/ingest?a=x%20y&b=2"
    assert "authorization" in request.headers


def test_given_batch_failing_part_way_when_prepared_readings_resent_then_same_ids_sent(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    # GIVEN 600 readings prepared once, and a pipeline that fails the second request for good
    readings = prepare_readings(
        {"device_id": "d", "sensor_data": {"humidity": i % 100}} for i in range(600)
    )
    calls: list[int] = []

    def second_fails(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 2:
            return httpx.Response(400, json={"message": "no", "error": "validation_error"})
        return ingest_ok(request)

    h = harness(second_fails)
    # WHEN the first attempt fails part-way and the same list is sent again
    with pytest.raises(ValidationError):
        h.call("ingest_batch", readings)
    result = h.call("ingest_batch", readings)
    # THEN both attempts carried the same reading ids, so the pipeline stores each once
    sent = [[r["reading_id"] for r in body["readings"]] for body in h.bodies()]
    assert sent[0] == sent[2]
    assert [i.reading_id for i in result.items] == [r.reading_id for r in readings]


def test_given_a_replay_in_several_calls_then_process_follows_next_token_and_sums(
    harness: Callable[..., Any],
) -> None:
    answers = iter(
        [
            httpx.Response(202, json={"queued": 5000, "next_token": "t1"}),
            httpx.Response(202, json={"queued": 20, "next_token": None}),
        ]
    )
    h = harness(lambda request: next(answers))

    result = h.call("process", "d", event_date="2024-01-15")

    assert result.queued == 5020 and result.next_token is None
    bodies = [json.loads(r.content) for r in h.requests]
    assert "next_token" not in bodies[0]
    assert bodies[1] == {"device_id": "d", "event_date": "2024-01-15", "next_token": "t1"}
