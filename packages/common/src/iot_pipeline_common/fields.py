"""The field types of the wire contract: identifiers, sensor names and values, timestamps.

Each is an ``Annotated`` type whose constraints and messages the models in
:mod:`iot_pipeline_common.models` share; a bad value is refused with one clear message
naming what was expected (``docs/contract.md``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from iot_pipeline_common import limits

Identifier = Annotated[
    str,
    StringConstraints(
        strict=True,
        min_length=limits.ID_MIN_LENGTH,
        max_length=limits.ID_MAX_LENGTH,
        pattern=limits.ID_PATTERN,
    ),
]
"""``device_id`` / ``reading_id``: 1–128 chars of ``[A-Za-z0-9._:-]``."""

SensorName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=limits.SENSOR_FIELD_NAME_MAX_LENGTH,
        pattern=limits.SENSOR_FIELD_NAME_PATTERN,
    ),
]


def _sensor_number(value: Any) -> int | float:
    # One validator instead of ``StrictInt | StrictFloat`` so a bad value yields one clear
    # error, and ints stay ints (``"humidity": 60`` round-trips as 60, not 60.0).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "number_type", "must be a JSON number, got {kind}", {"kind": type(value).__name__}
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be a finite number (no NaN or Infinity)")
    if abs(value) > limits.SENSOR_VALUE_ABS_MAX:
        raise PydanticCustomError(
            "number_magnitude",
            "must be within ±{limit}",
            {"limit": f"{limits.SENSOR_VALUE_ABS_MAX:g}"},
        )
    return value


SensorValue = Annotated[
    # Not ``float``: the type picks the serializer too, and a float one writes 60 as 60.0.
    int | float,
    PlainValidator(_sensor_number),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": -limits.SENSOR_VALUE_ABS_MAX,
            "maximum": limits.SENSOR_VALUE_ABS_MAX,
        }
    ),
]
EpochMillis = Annotated[StrictInt, Field(ge=limits.TIMESTAMP_MIN_MS, le=limits.TIMESTAMP_MAX_MS)]
"""Epoch milliseconds, UTC."""


def _device_time(value: int) -> int:
    if value >= limits.READING_TIMESTAMP_MIN_MS:
        return value
    if value <= limits.EPOCH_SECONDS_MAX and value * 1000 >= limits.READING_TIMESTAMP_MIN_MS:
        raise PydanticCustomError(
            "timestamp_seconds",
            "must be epoch milliseconds; {value} looks like epoch seconds (send {millis})",
            {"value": value, "millis": value * 1000},
        )
    raise PydanticCustomError(
        "timestamp_too_early",
        "must be epoch milliseconds on or after 2000-01-01 ({minimum}), got {value}",
        {"value": value, "minimum": limits.READING_TIMESTAMP_MIN_MS},
    )


# Not before 2000; the schema keeps the wider range: only this message can say "milliseconds".
DeviceTimestamp = Annotated[EpochMillis, AfterValidator(_device_time)]
Seq = Annotated[StrictInt, Field(ge=limits.SEQ_MIN, le=limits.SEQ_MAX)]
EventDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
"""A UTC calendar day, ``YYYY-MM-DD``."""
IsoTimestamp = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$")]
"""ISO 8601 UTC with a ``Z`` suffix, e.g. ``2024-01-15T10:30:00Z``."""


StoredNumber = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A number read back from a store or computed: an integer stays an integer (``60``, not
``60.0``), as the contract promises for what a device sent."""


def check_sensor_data(value: dict[str, float]) -> dict[str, float]:
    """Count, finiteness and the known sensors' physical ranges."""
    if not limits.SENSOR_FIELDS_MIN <= len(value) <= limits.SENSOR_FIELDS_MAX:
        raise PydanticCustomError(
            "sensor_count",
            "must hold {min} to {max} numeric fields, got {count}",
            {"min": limits.SENSOR_FIELDS_MIN, "max": limits.SENSOR_FIELDS_MAX, "count": len(value)},
        )
    for name, number in value.items():
        bounds = limits.KNOWN_SENSOR_RANGES.get(name)
        if bounds is not None and not bounds[0] <= number <= bounds[1]:
            raise PydanticCustomError(
                "sensor_range",
                "{field} must be between {min} and {max}, got {value}",
                {"field": name, "min": f"{bounds[0]:g}", "max": f"{bounds[1]:g}", "value": number},
            )
    return value
