"""Every validation rule of the contract: one accepted and one rejected case, and the
rejection's message names the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iot_pipeline_common import (
    ContractError,
    IngestResponse,
    PayloadTooLargeError,
    PipelineConfig,
    ProcessedItem,
    Reading,
    RequestValidationError,
    limits,
    parse_ingest_body,
    parse_process_body,
    parse_query_params,
)
from iot_pipeline_common.models import BatchIngestRequest, dump

SEED_READING = {
    "device_id": "device-123",
    "sensor_data": {"temperature": 25.5, "humidity": 60, "pressure": 1013},
}


def reading(**overrides: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(SEED_READING))
    body.update(overrides)
    return body


def rejected(body: Any) -> RequestValidationError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(RequestValidationError) as info:
        parse_ingest_body(raw)
    return info.value


def fields(err: ContractError) -> list[str]:
    return [d.field for d in err.details]


# --- docs/contract.md examples round-trip exactly -------------------------------------------


def test_given_design_single_ingest_example_when_parsed_then_round_trips() -> None:
    parsed = parse_ingest_body(json.dumps(SEED_READING))
    assert isinstance(parsed, Reading)
    assert parsed.model_dump(exclude_none=True) == SEED_READING
    # ints stay ints: humidity 60 is not turned into 60.0
    assert json.dumps(parsed.model_dump(exclude_none=True)) == json.dumps(SEED_READING)


def test_given_design_ingest_response_example_then_round_trips() -> None:
    example = {
        "message": "Data ingested successfully",
        "device_id": "device-123",
        "timestamp": 1700000000000,
        "reading_id": "r-1",
    }
    assert dump(IngestResponse.model_validate(example)) == example


def test_given_design_processed_item_example_then_round_trips_with_77_9_fahrenheit() -> None:
    example = {
        "device_id": "device-123",
        "event_date": "2024-01-15",
        "timestamp": 1705314600000,
        "reading_id": "r-1",
        "temperature": 25.5,
        "temperature_celsius": 25.5,
        "temperature_fahrenheit": 77.9,
        "humidity": 60,
        "pressure": 1013,
        "processed_at": "2024-01-15T10:30:00Z",
        "status": "processed",
    }
    item = ProcessedItem.model_validate(example)
    assert item.temperature_fahrenheit == 77.9
    assert dump(item) == example


# --- identifiers --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["device_id", "reading_id"])
@pytest.mark.parametrize("good", ["a", "device-123", "A.b_c:d-9", "x" * limits.ID_MAX_LENGTH])
def test_given_valid_identifier_then_accepted(field: str, good: str) -> None:
    parsed = parse_ingest_body(json.dumps(reading(**{field: good})))
    assert getattr(parsed, field) == good


@pytest.mark.parametrize("field", ["device_id", "reading_id"])
@pytest.mark.parametrize(
    "bad", ["", "has space", "slash/no", "x" * (limits.ID_MAX_LENGTH + 1), "é", 123]
)
def test_given_invalid_identifier_then_rejected_naming_it(field: str, bad: object) -> None:
    err = rejected(reading(**{field: bad}))
    assert fields(err) == [field]
    assert field in err.message


def test_given_missing_device_id_then_rejected_naming_it() -> None:
    body = reading()
    del body["device_id"]
    err = rejected(body)
    assert fields(err) == ["device_id"]
    assert "device_id: field required" in err.message


# --- sensor_data ------------------------------------------------------------------------


def test_given_fifty_sensor_fields_then_accepted() -> None:
    data = {f"s{i}": i for i in range(limits.SENSOR_FIELDS_MAX)}
    parsed = parse_ingest_body(json.dumps(reading(sensor_data=data)))
    assert isinstance(parsed, Reading)
    assert len(parsed.sensor_data) == 50


@pytest.mark.parametrize("count", [0, limits.SENSOR_FIELDS_MAX + 1])
def test_given_wrong_number_of_sensor_fields_then_rejected(count: int) -> None:
    err = rejected(reading(sensor_data={f"s{i}": i for i in range(count)}))
    assert fields(err) == ["sensor_data"]
    assert f"got {count}" in err.message


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("25", "got str"),
        (True, "got bool"),
        (None, "got NoneType"),
        ([1], "got list"),
        (1e16, "within"),
    ],
)
def test_given_non_numeric_or_huge_sensor_value_then_rejected_naming_sensor(
    value: object, why: str
) -> None:
    err = rejected(reading(sensor_data={"voltage": value}))
    assert fields(err) == ["sensor_data.voltage"]
    assert why in err.message


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_given_nan_or_infinity_then_rejected_naming_sensor(literal: bytes) -> None:
    body = b'{"device_id": "d1", "sensor_data": {"voltage": ' + literal + b"}}"
    err = rejected(body)
    assert fields(err) == ["sensor_data.voltage"]
    assert "finite" in err.message


def test_given_unknown_numeric_sensor_then_kept() -> None:
    parsed = parse_ingest_body(json.dumps(reading(sensor_data={"co2_ppm": 415, "lux": 0.5})))
    assert isinstance(parsed, Reading)
    assert parsed.sensor_data == {"co2_ppm": 415, "lux": 0.5}


@pytest.mark.parametrize("name", ["1abc", "has-dash", "a" * 65, ""])
def test_given_bad_sensor_name_then_rejected(name: str) -> None:
    err = rejected(reading(sensor_data={name: 1}))
    assert err.details
    assert all(d.field.startswith("sensor_data") for d in err.details)


@pytest.mark.parametrize(
    ("sensor", "low", "high"),
    [("temperature", -100, 200), ("humidity", 0, 100), ("pressure", 300, 1100)],
)
def test_given_known_sensor_at_its_bounds_then_accepted(
    sensor: str, low: float, high: float
) -> None:
    for value in (low, high):
        parsed = parse_ingest_body(json.dumps(reading(sensor_data={sensor: value})))
        assert isinstance(parsed, Reading)


@pytest.mark.parametrize(
    ("sensor", "value"),
    [
        ("temperature", -100.1),
        ("temperature", 200.5),
        ("humidity", -1),
        ("humidity", 100.01),
        ("pressure", 299),
        ("pressure", 1100.5),
    ],
)
def test_given_known_sensor_out_of_range_then_rejected_naming_it(sensor: str, value: float) -> None:
    err = rejected(reading(sensor_data={sensor: value}))
    assert fields(err) == [f"sensor_data.{sensor}"]
    assert f"{sensor} must be between" in err.message


# --- timestamp and seq ------------------------------------------------------------------


@pytest.mark.parametrize(
    "good", [limits.READING_TIMESTAMP_MIN_MS, 1705314600000, limits.TIMESTAMP_MAX_MS]
)
def test_given_valid_timestamp_then_accepted(good: int) -> None:
    parsed = parse_ingest_body(json.dumps(reading(timestamp=good)))
    assert isinstance(parsed, Reading)
    assert parsed.timestamp == good


@pytest.mark.parametrize("bad", [-1, limits.TIMESTAMP_MAX_MS + 1, "1705314600000", 1.5, True])
def test_given_invalid_timestamp_then_rejected_naming_it(bad: object) -> None:
    err = rejected(reading(timestamp=bad))
    assert set(fields(err)) == {"timestamp"}


@pytest.mark.parametrize("seconds", [946684800, 1705314600, 4102444800])
def test_given_epoch_seconds_as_timestamp_then_rejected_saying_milliseconds(seconds: int) -> None:
    # GIVEN the commonest device mistake: time.time() sent as is (2000, 2024 and 2100 in seconds)
    err = rejected(reading(timestamp=seconds))
    # THEN a 400 names the field, says milliseconds and shows the value it meant
    assert fields(err) == ["timestamp"]
    assert "must be epoch milliseconds" in err.message
    assert f"looks like epoch seconds (send {seconds * 1000})" in err.message


@pytest.mark.parametrize("early", [0, 1, 946684799999, 123_456_789_012])
def test_given_timestamp_before_2000_then_rejected_saying_milliseconds(early: int) -> None:
    # 0 (an unset clock) and 1973 in ms: before 2000, whatever the unit was meant to be
    err = rejected(reading(timestamp=early))
    assert fields(err) == ["timestamp"]
    assert "milliseconds on or after 2000-01-01 (946684800000)" in err.message


def test_given_seconds_in_a_batch_then_rejected_naming_the_index() -> None:
    body = {"readings": [reading(), reading(timestamp=1705314600)]}
    err = rejected(body)
    assert fields(err) == ["readings[1].timestamp"]


@pytest.mark.parametrize("good", [0, 1, limits.SEQ_MAX])
def test_given_valid_seq_then_accepted(good: int) -> None:
    parsed = parse_ingest_body(json.dumps(reading(seq=good)))
    assert isinstance(parsed, Reading)
    assert parsed.seq == good


@pytest.mark.parametrize("bad", [-1, limits.SEQ_MAX + 1, "3", 2.0])
def test_given_invalid_seq_then_rejected_naming_it(bad: object) -> None:
    err = rejected(reading(seq=bad))
    assert set(fields(err)) == {"seq"}


# --- top-level keys and body ------------------------------------------------------------


def test_given_unknown_top_level_keys_then_rejected_naming_each() -> None:
    err = rejected(reading(colour="red", owner="me"))
    assert sorted(fields(err)) == ["colour", "owner"]
    assert "colour: unknown field" in err.message
    assert "owner: unknown field" in err.message


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"\xff\xfe\x00", b'"text"'])
def test_given_non_object_body_then_rejected_with_clear_message(body: bytes) -> None:
    with pytest.raises(RequestValidationError) as info:
        parse_ingest_body(body)
    assert "JSON" in info.value.message or "empty" in info.value.message


def test_given_deeply_nested_json_then_rejected_not_crashing() -> None:
    err = rejected(b'{"device_id": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    assert err.status_code == 400


def test_given_body_at_limit_then_parsed_and_over_limit_then_413() -> None:
    padding = "x" * 10
    small = json.dumps(reading(reading_id=padding)).encode()
    assert isinstance(parse_ingest_body(small), Reading)
    oversized = b" " * (limits.MAX_BODY_BYTES + 1 - len(small)) + small
    with pytest.raises(PayloadTooLargeError) as info:
        parse_ingest_body(oversized)
    assert info.value.status_code == 413
    exactly = oversized[1:]
    assert len(exactly) == limits.MAX_BODY_BYTES
    assert isinstance(parse_ingest_body(exactly), Reading)


# --- batches ---------------------------------------------------------------------------


def test_given_batch_of_one_and_of_500_then_accepted() -> None:
    for n in (limits.BATCH_MIN_READINGS, limits.BATCH_MAX_READINGS):
        parsed = parse_ingest_body(json.dumps({"readings": [SEED_READING] * n}))
        assert isinstance(parsed, BatchIngestRequest)
        assert len(parsed.readings) == n


@pytest.mark.parametrize("n", [0, limits.BATCH_MAX_READINGS + 1])
def test_given_batch_of_wrong_size_then_rejected_naming_readings(n: int) -> None:
    err = rejected({"readings": [SEED_READING] * n})
    assert fields(err) == ["readings"]


def test_given_batch_with_bad_readings_then_each_bad_index_is_named() -> None:
    good = SEED_READING
    bad_temp = reading(sensor_data={"temperature": 999})
    bad_id = reading(device_id="no spaces")
    err = rejected({"readings": [good, bad_temp, good, bad_id]})
    assert fields(err) == ["readings[1].sensor_data.temperature", "readings[3].device_id"]


def test_given_batch_with_extra_top_level_key_then_rejected() -> None:
    err = rejected({"readings": [SEED_READING], "mode": "fast"})
    assert fields(err) == ["mode"]


# --- query and process ------------------------------------------------------------------


def test_given_query_string_values_then_numbers_parsed_and_defaults_applied() -> None:
    params = parse_query_params({"device_id": "d1", "start": "10", "end": "20", "limit": "5"})
    assert (params.start, params.end, params.limit) == (10, 20, 5)
    assert (params.table, params.order, params.next_token) == ("processed", "asc", None)
    assert parse_query_params({"device_id": "d1"}).limit == limits.QUERY_LIMIT_DEFAULT


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "device_id"),
        ({"device_id": "d1", "limit": "0"}, "limit"),
        ({"device_id": "d1", "limit": "1001"}, "limit"),
        ({"device_id": "d1", "limit": "ten"}, "limit"),
        ({"device_id": "d1", "table": "all"}, "table"),
        ({"device_id": "d1", "order": "up"}, "order"),
        ({"device_id": "d1", "event_date": "2024-02-30"}, "event_date"),
        ({"device_id": "d1", "event_date": "15/01/2024"}, "event_date"),
        ({"device_id": "d1", "event_date": "2024-01-15", "start": "1"}, "event_date"),
        ({"device_id": "d1", "start": "20", "end": "10"}, "start"),
        ({"device_id": "d1", "start": "-5"}, "start"),
        ({"device_id": "d1", "colour": "red"}, "colour"),
        ({"device_id": "d1", "next_token": "x" * 5000}, "next_token"),
    ],
)
def test_given_bad_query_then_rejected_naming_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        parse_query_params(params)
    assert field in [d.field for d in info.value.details]
    assert field in info.value.message


def test_given_process_request_then_accepted_or_rejected_naming_field() -> None:
    ok = parse_process_body(b'{"device_id": "d1", "event_date": "2024-01-15"}')
    assert ok.event_date == "2024-01-15"
    with pytest.raises(RequestValidationError) as info:
        parse_process_body(b'{"device_id": "d1", "start": "yesterday"}')
    assert [d.field for d in info.value.details] == ["start"]


# --- pipeline config ---------------------------------------------------------------------


def test_given_empty_config_then_defaults() -> None:
    config = PipelineConfig.from_json_text("{}")
    assert config.batch_size == 10
    assert config.ranges["temperature"].max == 50


def test_given_config_with_unknown_key_then_error_names_it() -> None:
    with pytest.raises(Exception, match="batch_sise"):
        PipelineConfig.from_json_text('{"batch_sise": 5}')


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"batch_size": 0}', "batch_size"),
        ('{"batch_size": "10"}', "batch_size"),
        ('{"error_threshold": -1}', "error_threshold"),
        ('{"ranges": {"temperature": {"min": 5, "max": 1}}}', "ranges"),
        ('{"alert_rules": [{"name": "hot", "field": "temperature"}]}', "alert_rules"),
    ],
)
def test_given_invalid_config_value_then_error_names_key(text: str, key: str) -> None:
    with pytest.raises(Exception, match=key):
        PipelineConfig.from_json_text(text)
