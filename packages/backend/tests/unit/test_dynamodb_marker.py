"""The raw table's idempotency marker holds keys only, and still finds the original."""

from __future__ import annotations

from typing import Any

from iot_pipeline_common.models import RawItem


def _reading(*, timestamp: int, big: bool = False, expires_at: int | None = None) -> RawItem:
    sensors = {f"s{i}": 1234.5678 + i for i in range(50)} if big else {"temperature": 21.5}
    return RawItem(
        device_id="device-123",
        event_date="2024-01-15",
        timestamp=timestamp,
        reading_id="r-1",
        sensor_data=sensors,
        ingested_at="2024-01-15T10:30:00Z",
        expires_at=expires_at,
    )


def test_given_a_stored_reading_then_its_marker_holds_only_the_keys(aws: Any) -> None:
    # GIVEN a reading with 50 sensors (well over 1 KB as an item)
    aws.adapters.raw.store_raw_readings([_reading(timestamp=1705314600000, big=True)])
    # WHEN the marker is read back
    marker = aws.session.client("dynamodb").get_item(
        TableName="raw-sensor-data-test",
        Key={"device_id": {"S": "device-123"}, "sk": {"S": "id#r-1"}},
    )["Item"]
    # THEN it names the reading's sort key and copies nothing else (one write unit, not two)
    assert marker == {
        "device_id": {"S": "device-123"},
        "sk": {"S": "id#r-1"},
        "reading_sk": {"S": "1705314600000#r-1"},
    }


def test_given_a_repeat_with_another_timestamp_then_the_original_comes_back(
    aws: Any,
) -> None:
    original = _reading(timestamp=1705314600000, big=True)
    aws.adapters.raw.store_raw_readings([original])
    # WHEN the same reading id arrives again with a different timestamp
    (returned,) = aws.adapters.raw.store_raw_readings([_reading(timestamp=1705314999999)])
    # THEN the stored original (its timestamp and data) is returned and nothing new is stored
    assert returned == original
    page = aws.adapters.raw.query_raw(
        device_id="device-123",
        start_ms=0,
        end_ms=9_999_999_999_999,
        limit=10,
        descending=False,
        after_sk=None,
    )
    assert page.records == [original]


def test_given_retention_then_the_marker_expires_with_its_reading(aws: Any) -> None:
    aws.adapters.raw.store_raw_readings([_reading(timestamp=1705314600000, expires_at=1707906600)])
    marker = aws.session.client("dynamodb").get_item(
        TableName="raw-sensor-data-test",
        Key={"device_id": {"S": "device-123"}, "sk": {"S": "id#r-1"}},
    )["Item"]
    assert marker["expires_at"] == {"N": "1707906600"}
