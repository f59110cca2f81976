"""Domain rules that need no store: conversion, anomalies, message packing, tokens."""

from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iot_pipeline_backend.domain import messages
from iot_pipeline_backend.domain.ingest import to_raw_item
from iot_pipeline_backend.domain.process import (
    celsius_to_fahrenheit,
    one_decimal,
    process_reading,
)
from iot_pipeline_backend.domain.query import decode_next_token, encode_next_token
from iot_pipeline_backend.errors import InvalidNextTokenError, MalformedMessageError
from iot_pipeline_common.models import PipelineConfig, RawItem, Reading

T0 = 1_705_314_600_000


@pytest.mark.parametrize(
    ("celsius", "fahrenheit"),
    [(25.5, 77.9), (0, 32.0), (-40, -40.0), (100, 212.0), (36.6, 97.9), (-17.78, 0.0)],
)
def test_given_celsius_then_fahrenheit_has_one_decimal(celsius: float, fahrenheit: float) -> None:
    assert celsius_to_fahrenheit(celsius) == fahrenheit


def test_given_a_half_then_rounding_is_half_up_in_decimal() -> None:
    assert one_decimal(25.55) == 25.6  # binary 25.55 is 25.5499…; decimal rounding is exact
    assert one_decimal(-0.05) == -0.1


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
        st.integers(min_value=-(10**6), max_value=10**6),
    )
)
def test_given_any_value_then_rounding_and_conversion_equal_plain_decimal_arithmetic(
    value: float,
) -> None:
    # The oracle is the definition itself, computed afresh (the product caches its results).
    exact = Decimal(repr(value))
    tenth = Decimal("0.1")
    rounded = float(exact.quantize(tenth, rounding=ROUND_HALF_UP))
    fahrenheit = float((exact * 9 / 5 + 32).quantize(tenth, rounding=ROUND_HALF_UP))
    for _ in range(2):  # computed, then from the cache
        assert (one_decimal(value), math.copysign(1, one_decimal(value))) == (
            rounded,
            math.copysign(1, rounded),
        )
        assert celsius_to_fahrenheit(value) == fahrenheit


def test_given_minus_zero_after_zero_then_each_keeps_its_sign() -> None:
    assert math.copysign(1, one_decimal(0.0)) == 1
    assert math.copysign(1, one_decimal(-0.0)) == -1


def test_given_a_reading_without_time_or_id_then_the_server_assigns_both() -> None:
    item = to_raw_item(Reading(device_id="d", sensor_data={"x": 1}), now_ms=T0, retention_days=None)

    assert item.timestamp == T0
    assert item.event_date == "2024-01-15"
    assert item.ingested_at == "2024-01-15T10:30:00Z"
    assert item.reading_id
    assert item.expires_at is None


def test_given_a_reading_outside_configured_ranges_then_status_anomaly_lists_each() -> None:
    raw = to_raw_item(
        Reading(device_id="d", sensor_data={"temperature": -30, "humidity": 95, "pressure": 1000}),
        now_ms=T0,
        retention_days=None,
    )

    item = process_reading(raw, config=PipelineConfig(), now_ms=T0)

    assert item.status == "anomaly"
    assert [(a.field, a.rule) for a in item.anomalies or []] == [
        ("temperature", "min"),
        ("humidity", "max"),
    ]


def test_given_no_temperature_then_the_temperature_fields_are_absent() -> None:
    raw = to_raw_item(Reading(device_id="d", sensor_data={"co2": 400}), now_ms=T0, retention_days=1)

    item = process_reading(raw, config=PipelineConfig(), now_ms=T0)

    assert item.temperature is None
    assert item.temperature_fahrenheit is None
    assert item.status == "processed"
    assert item.sensor_data == {"co2": 400}


def _raw(i: int) -> RawItem:
    return RawItem(
        device_id="d",
        event_date="2024-01-15",
        timestamp=T0 + i,
        reading_id=f"r-{i}",
        sensor_data={f"s{j}": j * 1.5 for j in range(20)},
        ingested_at="2024-01-15T10:30:00Z",
    )


def test_given_readings_when_packed_with_a_small_limit_then_order_and_limit_hold() -> None:
    readings = [_raw(i) for i in range(30)]

    bodies = messages.pack_messages(readings, max_bytes=2_000)

    assert len(bodies) > 1
    assert all(len(b.encode()) <= 2_000 for b in bodies)
    assert [r for b in bodies for r in messages.unpack_message(b)] == readings


def test_given_bodies_when_grouped_for_send_then_each_call_respects_entries_and_bytes() -> None:
    groups = messages.group_for_send(["a" * 100] * 25, max_entries=10, max_bytes=550)

    assert [len(g) for g in groups] == [5, 5, 5, 5, 5]


@pytest.mark.parametrize("body", ["", "[]", '{"readings": 1}', '{"readings": [{"x": 1}]}'])
def test_given_a_malformed_body_then_unpack_raises(body: str) -> None:
    with pytest.raises(MalformedMessageError):
        messages.unpack_message(body)


def test_given_a_token_then_it_round_trips_only_with_the_same_key_and_query() -> None:
    identity = {"v": 1, "device": "d", "table": "raw", "order": "asc", "range": [0, 10]}
    token = encode_next_token(identity, "0000000000005#r-5", key=b"k" * 32)

    assert decode_next_token(token, identity, key=b"k" * 32) == "0000000000005#r-5"
    with pytest.raises(InvalidNextTokenError):
        decode_next_token(token, identity, key=b"j" * 32)
    with pytest.raises(InvalidNextTokenError):
        decode_next_token(token, {**identity, "range": [0, 11]}, key=b"k" * 32)
    assert json.dumps(identity) not in token  # opaque: base64url, not readable JSON
