"""The raw table's write paths: keys-only markers, conditional puts, repairs and races."""

from __future__ import annotations

import time
from typing import Any

from iot_pipeline_backend.adapters.aws.compensation import (
    HOLD_SETTLES_AFTER_SECONDS,
    new_token,
    settled,
)
from iot_pipeline_backend.adapters.aws.dynamodb import to_attributes
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


def _raw_items(aws: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.session.client("dynamodb").scan(
        TableName="raw-sensor-data-test"
    )["Items"]
    return items


def _calls(aws: Any) -> list[str]:
    seen: list[str] = []
    aws.adapters.clients["dynamodb"].meta.events.register(
        "before-call.dynamodb", lambda model, **_: seen.append(model.name)
    )
    return seen


def test_given_a_client_keyed_reading_then_one_conditional_put_and_no_marker(aws: Any) -> None:
    calls = _calls(aws)
    reading = _reading(timestamp=1705314600000)
    # WHEN a reading with its device timestamp and reading id is stored, then repeated
    assert aws.adapters.raw.store_raw_readings([reading], key_sources=["client"]) == [reading]
    repeat = reading.model_copy(update={"ingested_at": "2024-01-15T10:31:00Z"})
    assert aws.adapters.raw.store_raw_readings([repeat], key_sources=["client"]) == [reading]
    # THEN one item, no marker; the repeat was found by BatchGetItem and only took hold of
    # its original (an UpdateItem that also reads it back)
    assert [i["sk"]["S"] for i in _raw_items(aws)] == ["1705314600000#r-1"]
    assert calls == ["BatchGetItem", "PutItem", "BatchGetItem", "UpdateItem"]


def test_given_a_server_made_id_then_no_lookup_and_no_marker(aws: Any) -> None:
    calls = _calls(aws)
    aws.adapters.raw.store_raw_readings(
        [_reading(timestamp=1705314600000)], key_sources=["server_id"]
    )
    assert calls == ["PutItem"]
    assert len(_raw_items(aws)) == 1


def test_given_a_marker_whose_reading_is_missing_then_the_next_attempt_fills_it_in(
    aws: Any,
) -> None:
    # GIVEN an earlier attempt that claimed the marker and then failed before its reading
    aws.session.client("dynamodb").put_item(
        TableName="raw-sensor-data-test",
        Item={
            "device_id": {"S": "device-123"},
            "sk": {"S": "id#r-1"},
            "reading_sk": {"S": "1705314600000#r-1"},
        },
    )
    # WHEN the reading comes again, with another server time
    (stored,) = aws.adapters.raw.store_raw_readings([_reading(timestamp=1705314999999)])
    # THEN it is stored under the marker's key, once
    assert stored.timestamp == 1705314600000
    assert sorted(i["sk"]["S"] for i in _raw_items(aws)) == ["1705314600000#r-1", "id#r-1"]


def test_given_a_repeat_written_between_lookup_and_put_then_its_original_is_returned(
    aws: Any,
) -> None:
    original = _reading(timestamp=1705314600000)
    racer = original.model_copy(update={"ingested_at": "2024-01-15T10:30:05Z"})
    other = aws.session.client("dynamodb")

    def concurrent_writer(**_: Any) -> None:
        if not _raw_items(aws):  # the other request's put lands first, once
            other.put_item(TableName="raw-sensor-data-test", Item=to_attributes(original))

    aws.adapters.clients["dynamodb"].meta.events.register(
        "before-call.dynamodb.PutItem", concurrent_writer
    )
    # WHEN this request's conditional put finds the key taken
    assert aws.adapters.raw.store_raw_readings([racer], key_sources=["client"]) == [original]
    # THEN the original stays, unchanged
    assert len(_raw_items(aws)) == 1


def _settle_holds(aws: Any) -> None:
    """Rewrite every stored reading's holds as taken 20 minutes ago: invocations long over."""
    old = new_token(now=time.time() - 20 * 60)
    for item in _raw_items(aws):
        if not item["sk"]["S"].startswith("id#"):
            aws.session.client("dynamodb").update_item(
                TableName="raw-sensor-data-test",
                Key={"device_id": item["device_id"], "sk": item["sk"]},
                UpdateExpression="SET holds = :old",
                ExpressionAttributeValues={":old": {"SS": [old]}},
            )


def test_given_a_reading_whose_holds_have_settled_then_a_repeat_writes_nothing(
    aws: Any,
) -> None:
    # GIVEN a reading stored by a request whose invocation ended long ago
    reading = _reading(timestamp=1705314600000)
    aws.adapters.raw.store_raw_readings([reading], key_sources=["client"])
    _settle_holds(aws)
    calls = _calls(aws)
    # WHEN it is repeated
    repeat = reading.model_copy(update={"ingested_at": "2024-01-15T10:31:00Z"})
    assert aws.adapters.raw.store_raw_readings([repeat], key_sources=["client"]) == [reading]
    # THEN the lookup answered it: no hold added (the item stops growing with repeats)
    assert calls == ["BatchGetItem"]


def test_given_a_marked_reading_whose_holds_have_settled_then_a_repeat_writes_nothing(
    aws: Any,
) -> None:
    # GIVEN a reading without a timestamp (the marker path), stored long ago
    (stored,) = aws.adapters.raw.store_raw_readings([_reading(timestamp=1705314600000)])
    _settle_holds(aws)
    calls = _calls(aws)
    # WHEN it comes again, with another server time
    assert aws.adapters.raw.store_raw_readings([_reading(timestamp=1705314999999)]) == [stored]
    # THEN the marker and the reading were read, nothing written
    assert calls == ["BatchGetItem", "BatchGetItem"]


def test_given_a_recent_hold_then_a_repeat_adds_its_own() -> None:
    # The hold of a request that may still be running does not settle its reading
    fresh = {"holds": {"SS": [new_token(now=1_000_000)]}}
    assert not settled(fresh, now=1_000_000 + HOLD_SETTLES_AFTER_SECONDS - 1)
    assert settled(fresh, now=1_000_000 + HOLD_SETTLES_AFTER_SECONDS + 1)
    # and a reading stored before holds existed never is undone
    assert settled({}, now=0)
