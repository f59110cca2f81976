"""Raw store, processed store and queue: the same observable behaviour on every backend."""

from __future__ import annotations

import pytest
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.domain.messages import pack_messages
from iot_pipeline_backend.domain.process import process_reading
from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, RawItem, Reading

from .conftest import Backend

T0 = 1_705_314_600_000  # 2024-01-15T10:30:00Z


def raw(
    reading_id: str, timestamp: int, *, device: str = "device-1", temp: float = 21.5
) -> RawItem:
    return RawItem(
        device_id=device,
        event_date=keys.event_date_of(timestamp),
        timestamp=timestamp,
        reading_id=reading_id,
        sensor_data={"temperature": temp, "humidity": 60},
        ingested_at=keys.iso_utc(timestamp),
        seq=7,
    )


def all_raw(backend: Backend, *, descending: bool = False, limit: int = 1000) -> list[RawItem]:
    page = backend.raw.query_raw(
        device_id="device-1",
        start_ms=0,
        end_ms=keys.now_ms() * 2,
        limit=limit,
        descending=descending,
        after_sk=None,
    )
    return page.records


def test_given_a_stored_reading_when_the_same_reading_id_comes_again_then_the_original_is_kept(
    backend: Backend,
) -> None:
    first = raw("r-1", T0, temp=21.5)
    assert backend.raw.store_raw_readings([first]) == [first]

    again = raw("r-1", T0 + 5_000, temp=99.0)
    returned = backend.raw.store_raw_readings([again])

    assert returned == [first]
    assert all_raw(backend) == [first]


def test_given_a_client_keyed_reading_when_it_comes_again_then_its_key_finds_the_original(
    backend: Backend,
) -> None:
    # A reading that came with its device time and id has a deterministic key.
    first = raw("r-1", T0, temp=21.5)
    assert backend.raw.store_raw_readings([first], key_sources=["client"]) == [first]

    again = raw("r-1", T0, temp=99.0)
    returned = backend.raw.store_raw_readings([again, again], key_sources=["client", "client"])

    assert returned == [first, first]
    assert all_raw(backend) == [first]


def test_given_a_client_keyed_reading_when_its_id_comes_with_another_time_then_both_are_kept(
    backend: Backend,
) -> None:
    # Its key is (device time, id): another device time is another reading, not a repeat.
    first, other = raw("r-1", T0), raw("r-1", T0 + 5_000, temp=30.0)
    backend.raw.store_raw_readings([first], key_sources=["client"])

    assert backend.raw.store_raw_readings([other], key_sources=["client"]) == [other]
    assert all_raw(backend) == [first, other]


def test_given_a_server_timed_reading_when_its_id_comes_again_then_the_original_is_kept(
    backend: Backend,
) -> None:
    first = raw("r-1", T0)
    backend.raw.store_raw_readings([first], key_sources=["server_time"])

    again = raw("r-1", T0 + 40, temp=99.0)  # the server's clock moved on
    mixed = [raw("r-2", T0 + 40), again]
    returned = backend.raw.store_raw_readings(mixed, key_sources=["client", "server_time"])

    assert returned == [mixed[0], first]
    assert all_raw(backend) == [first, mixed[0]]


def test_given_two_readings_in_the_same_millisecond_when_stored_then_both_exist(
    backend: Backend,
) -> None:
    a, b = raw("r-a", T0), raw("r-b", T0)

    backend.raw.store_raw_readings([a, b])

    assert all_raw(backend) == [a, b]


def test_given_a_batch_with_new_and_repeated_readings_then_each_position_gets_its_record(
    backend: Backend,
) -> None:
    old = raw("r-old", T0)
    backend.raw.store_raw_readings([old])

    new = raw("r-new", T0 + 1)
    returned = backend.raw.store_raw_readings([new, raw("r-old", T0 + 9), new])

    assert returned == [new, old, new]
    assert all_raw(backend) == [old, new]


def test_given_readings_out_of_order_when_queried_then_asc_and_desc_follow_time(
    backend: Backend,
) -> None:
    items = [raw(f"r-{i}", T0 + offset) for i, offset in enumerate([30, 10, 20])]
    backend.raw.store_raw_readings(items)

    asc = [r.timestamp for r in all_raw(backend)]
    desc = [r.timestamp for r in all_raw(backend, descending=True)]

    assert asc == [T0 + 10, T0 + 20, T0 + 30]
    assert desc == [T0 + 30, T0 + 20, T0 + 10]


@pytest.mark.parametrize("descending", [False, True])
def test_given_more_readings_than_the_limit_when_paging_then_every_reading_comes_once(
    backend: Backend, descending: bool
) -> None:
    items = [raw(f"r-{i:02d}", T0 + i // 2) for i in range(11)]  # pairs share a millisecond
    backend.raw.store_raw_readings(items)

    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        page = backend.raw.query_raw(
            device_id="device-1",
            start_ms=T0,
            end_ms=T0 + 100,
            limit=4,
            descending=descending,
            after_sk=after,
        )
        pages += 1
        seen += [r.reading_id for r in page.records]
        if page.last_sk is None:
            break
        after = page.last_sk

    expected = [r.reading_id for r in items]
    assert seen == (list(reversed(expected)) if descending else expected)
    assert pages == 3


def test_given_a_limit_equal_to_the_count_then_there_is_no_further_page(backend: Backend) -> None:
    backend.raw.store_raw_readings([raw("r-1", T0), raw("r-2", T0 + 1)])

    page = backend.raw.query_raw(
        device_id="device-1", start_ms=T0, end_ms=T0 + 1, limit=2, descending=False, after_sk=None
    )

    assert len(page.records) == 2
    assert page.last_sk is None


def test_given_readings_on_and_beyond_the_bounds_then_the_range_is_inclusive(
    backend: Backend,
) -> None:
    stamps = [T0 - 1, T0, T0 + 500, T0 + 1000, T0 + 1001]
    backend.raw.store_raw_readings([raw(f"r-{s}", s) for s in stamps])

    page = backend.raw.query_raw(
        device_id="device-1",
        start_ms=T0,
        end_ms=T0 + 1000,
        limit=100,
        descending=False,
        after_sk=None,
    )

    assert [r.timestamp for r in page.records] == [T0, T0 + 500, T0 + 1000]


def test_given_two_devices_then_a_query_sees_only_its_own_device(backend: Backend) -> None:
    backend.raw.store_raw_readings([raw("r-1", T0), raw("r-2", T0, device="device-2")])

    assert [r.reading_id for r in all_raw(backend)] == ["r-1"]


def test_given_a_processed_reading_when_written_again_then_it_is_replaced_not_duplicated(
    backend: Backend,
) -> None:
    config = PipelineConfig()
    source = raw("r-1", T0, temp=25.5)
    backend.processed.store_processed_readings([process_reading(source, config=config, now_ms=T0)])
    rewritten = process_reading(source, config=config, now_ms=T0 + 60_000)

    backend.processed.store_processed_readings([rewritten])

    page = backend.processed.query_processed(
        device_id="device-1", start_ms=T0, end_ms=T0, limit=10, descending=False, after_sk=None
    )
    assert page.records == [rewritten]
    assert page.records[0].temperature_fahrenheit == 77.9
    assert page.records[0].processed_at == "2024-01-15T10:31:00Z"


def test_given_readings_when_enqueued_then_the_queue_returns_them_all(backend: Backend) -> None:
    items = [raw(f"r-{i}", T0 + i) for i in range(25)]

    backend.queue.enqueue_readings(items)

    assert sorted(backend.queued_readings(), key=lambda r: r.reading_id) == sorted(
        items, key=lambda r: r.reading_id
    )


def test_given_many_large_readings_then_they_travel_in_several_messages_within_limits(
    backend: Backend,
) -> None:
    big = {f"sensor_{i}": 123456.789 + i for i in range(50)}
    items = [raw(f"r-{i:04d}", T0 + i).model_copy(update={"sensor_data": big}) for i in range(300)]
    assert len(pack_messages(items)) > 1

    backend.queue.enqueue_readings(items)

    bodies = backend.drain_queue()
    assert len(bodies) == len(pack_messages(items))
    assert all(len(body.encode()) <= 256 * 1024 for body in bodies)


def test_given_ingest_of_a_repeat_then_one_raw_item_and_the_repeat_is_requeued(
    backend: Backend,
) -> None:
    config = PipelineConfig(retention_days=7)
    reading = Reading(device_id="device-1", sensor_data={"temperature": 20}, reading_id="r-x")
    first = ingest_readings(
        [reading], raw_store=backend.raw, queue=backend.queue, config=config, now_ms=T0
    )
    second = ingest_readings(
        [reading], raw_store=backend.raw, queue=backend.queue, config=config, now_ms=T0 + 9_000
    )

    assert second == first
    assert first[0].timestamp == T0
    assert first[0].expires_at == T0 // 1000 + 7 * 86_400
    assert len(all_raw(backend)) == 1
    assert [r.reading_id for r in backend.queued_readings()] == ["r-x", "r-x"]
