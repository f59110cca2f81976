"""Every SDK method against the real local runtime: HTTP gateway, SigV4 verification, SQLite,
queue poller and processor, all on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from iot_pipeline_sdk import AsyncClient, AuthError, Client, ValidationError

testing = pytest.importorskip(
    "iot_pipeline_backend.local.testing", reason="the local runtime is not installed"
)

DAY = "2024-01-15"
DAY_START_MS = 1705276800000  # 2024-01-15T00:00:00Z


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with testing.running_pipeline(data_dir=tmp_path_factory.mktemp("pipeline")) as running:
        yield running


def client_options(pipeline: Any) -> dict[str, Any]:
    # The way a user points the SDK at the local runtime: its credentials file and profile.
    return {
        "endpoint": pipeline.endpoint,
        "region": pipeline.region,
        "profile": pipeline.profile,
        "credentials_file": pipeline.credentials_file,
    }


@pytest.fixture
def client(pipeline: Any) -> Iterator[Client]:
    with Client(**client_options(pipeline)) as sync_client:
        yield sync_client


@pytest.fixture
async def async_client(pipeline: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(**client_options(pipeline)) as client:
        yield client


def test_given_reading_when_ingested_then_raw_and_processed_items_come_back(
    client: Client, pipeline: Any
) -> None:
    # GIVEN a device's reading
    sent = client.ingest(
        "e2e-single",
        {"temperature": 25.5, "humidity": 60, "pressure": 1013},
        timestamp=DAY_START_MS,
        seq=1,
    )
    # WHEN the processor has run
    assert pipeline.wait_idle(30)
    # THEN the raw and the processed tables both return it
    raw = client.query("e2e-single", table="raw")
    assert [(i.reading_id, i.seq, i.sensor_data["temperature"]) for i in raw.items] == [
        (sent.reading_id, 1, 25.5)
    ]
    processed = client.query("e2e-single", event_date=DAY)
    (item,) = processed.items
    assert (item.reading_id, item.temperature_fahrenheit, item.status) == (
        sent.reading_id,
        77.9,
        "processed",
    )
    assert processed.next_token is None


def test_given_integer_values_when_sent_by_the_sdk_then_stored_and_returned_as_integers(
    client: Client, pipeline: Any
) -> None:
    # GIVEN integer sensor values (a single reading and a batch), sent through the SDK
    client.ingest("e2e-ints", {"humidity": 60, "pressure": 1013}, timestamp=DAY_START_MS)
    client.ingest_batch(
        [{"device_id": "e2e-ints", "sensor_data": {"humidity": 61}, "timestamp": DAY_START_MS + 1}]
    )
    assert pipeline.wait_idle(30)
    # WHEN read back, raw and processed, as JSON and as models
    raw = client.request("GET", "/query", params={"device_id": "e2e-ints", "table": "raw"})
    processed = client.request("GET", "/query", params={"device_id": "e2e-ints"})
    # THEN 60 is still the integer 60 on the wire and in the models, never 60.0
    assert [i["sensor_data"]["humidity"] for i in raw["items"]] == [60, 61]
    assert all(type(i["sensor_data"]["humidity"]) is int for i in raw["items"])
    assert [(type(i["humidity"]), i["humidity"]) for i in processed["items"]] == [
        (int, 60),
        (int, 61),
    ]
    assert type(processed["items"][0]["pressure"]) is int
    (model, _) = client.query("e2e-ints").items
    assert type(model.humidity) is int and type(model.sensor_data["pressure"]) is int


def test_given_same_reading_id_when_ingested_twice_then_stored_once_with_original_timestamp(
    client: Client,
) -> None:
    # With its device time (a retry sends the same): the key finds the original.
    first = client.ingest("e2e-idem", {"humidity": 40}, reading_id="idem-1", timestamp=DAY_START_MS)
    again = client.ingest("e2e-idem", {"humidity": 41}, reading_id="idem-1", timestamp=DAY_START_MS)
    assert again.timestamp == first.timestamp
    # Without one, the server's time differs per attempt: the reading id finds the original.
    timed = client.ingest("e2e-idem", {"humidity": 40}, reading_id="idem-2")
    retried = client.ingest("e2e-idem", {"humidity": 41}, reading_id="idem-2")
    assert retried.timestamp == timed.timestamp
    stored = [
        (item.reading_id, item.sensor_data["humidity"])
        for start in (first.timestamp, timed.timestamp)
        for item in client.query("e2e-idem", start=start, end=start, table="raw").items
    ]
    assert stored == [("idem-1", 40), ("idem-2", 40)]


def test_given_1200_readings_when_batch_ingested_then_pages_return_every_item_in_order(
    client: Client, pipeline: Any
) -> None:
    # GIVEN 1,200 readings sent as one call (the SDK splits it into 500-reading requests)
    readings = [
        {
            "device_id": "e2e-bulk",
            "sensor_data": {"temperature": 20 + i % 10},
            "timestamp": DAY_START_MS + i,
        }
        for i in range(1200)
    ]
    result = client.ingest_batch(readings)
    assert result.count == 1200
    ids = [item.reading_id for item in result.items]
    assert len(set(ids)) == 1200
    # WHEN following pages of the raw table (default page size) and of the processed table
    raw_ids = [item.reading_id for item in client.iter_query("e2e-bulk", table="raw")]
    assert pipeline.wait_idle(60)
    first = client.query("e2e-bulk", event_date=DAY, limit=1000)
    processed = list(first.auto_paging_iter())
    newest_first = [
        item.timestamp for item in client.iter_query("e2e-bulk", order="desc", limit=500)
    ]
    # THEN every reading comes back exactly once, in time order
    assert raw_ids == ids
    assert first.count == 1000
    assert first.next_token is not None
    assert [item.reading_id for item in processed] == ids
    assert newest_first == sorted(newest_first, reverse=True)
    assert len(newest_first) == 1200


def test_given_stored_readings_when_processed_again_then_queued_and_not_duplicated(
    client: Client, pipeline: Any
) -> None:
    client.ingest_batch(
        [
            {
                "device_id": "e2e-replay",
                "sensor_data": {"pressure": 1000 + i},
                "timestamp": DAY_START_MS + i,
            }
            for i in range(5)
        ]
    )
    assert pipeline.wait_idle(30)
    replay = client.process("e2e-replay", event_date=DAY)
    assert replay.queued == 5
    assert pipeline.wait_idle(30)
    assert client.query("e2e-replay", start=DAY_START_MS, end=DAY_START_MS + 10).count == 5


def test_given_invalid_reading_when_sent_raw_then_pipeline_rejects_it_naming_the_field(
    client: Client,
) -> None:
    bad = {"device_id": "e2e-raw", "sensor_data": {"humidity": 101}, "colour": "red"}
    with pytest.raises(ValidationError) as caught:
        client.request("POST", "/ingest", json=bad)
    assert caught.value.request_id
    assert {d.field for d in caught.value.details} >= {"colour"}
    assert client.query("e2e-raw", table="raw").count == 0


def test_given_wrong_secret_when_calling_then_auth_error_from_gateway(pipeline: Any) -> None:
    with (
        Client(
            endpoint=pipeline.endpoint,
            region=pipeline.region,
            credentials=(pipeline.access_key, "not-the-secret"),
        ) as client,
        pytest.raises(AuthError) as caught,
    ):
        client.query("e2e-single")
    assert caught.value.status_code == 403
    assert caught.value.code == "invalid_signature"


def test_given_forged_next_token_when_querying_then_validation_error_with_request_id(
    client: Client,
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.query("e2e-single", next_token="forged-token")
    assert caught.value.status_code == 400
    assert caught.value.request_id
    assert str(caught.value).startswith(f"[{caught.value.request_id}] 400 ")


async def test_given_200_concurrent_ingests_when_awaited_together_then_all_stored(
    pipeline: Any,
) -> None:
    # GIVEN one async client allowed 200 connections, and 200 requests started at once
    async with AsyncClient(**client_options(pipeline), max_connections=200) as client:
        results = await asyncio.gather(
            *(
                client.ingest("e2e-async", {"humidity": i % 100}, timestamp=DAY_START_MS + i, seq=i)
                for i in range(200)
            )
        )
        # THEN each is acknowledged and stored once
        assert len({r.reading_id for r in results}) == 200
        raw = [item async for item in client.iter_query("e2e-async", table="raw", limit=64)]
    assert sorted(item.seq or 0 for item in raw) == list(range(200))


async def test_given_async_client_when_batch_query_and_process_then_same_results_as_sync(
    async_client: AsyncClient, pipeline: Any
) -> None:
    batch = await async_client.ingest_batch(
        [
            {
                "device_id": "e2e-async-b",
                "sensor_data": {"temperature": 30},
                "timestamp": DAY_START_MS + i,
            }
            for i in range(3)
        ]
    )
    assert batch.count == 3
    assert await asyncio.to_thread(pipeline.wait_idle, 30)
    page = await async_client.query("e2e-async-b", event_date=DAY, limit=2)
    assert page.count == 2
    assert [item.reading_id async for item in page.auto_paging_iter()] == [
        i.reading_id for i in batch.items
    ]
    assert (await async_client.process("e2e-async-b", start=DAY_START_MS)).queued == 3


def test_given_an_endpoint_without_its_stage_then_auth_error_with_a_hint_not_not_found(
    pipeline: Any,
) -> None:
    # GIVEN the commonest slip: the endpoint without /prod
    options = {**client_options(pipeline), "endpoint": pipeline.endpoint.removesuffix("/prod")}
    with Client(**options) as client, pytest.raises(AuthError) as info:
        client.ingest("e2e-stage", {"humidity": 40})
    # THEN API Gateway's 403 (as documented: AuthError, not NotFoundError), with the reason
    assert (info.value.status_code, info.value.code) == (403, "missing_authentication_token")
    assert info.value.message == "Missing Authentication Token"
    assert "the API is under /prod" in info.value.details[0].message
