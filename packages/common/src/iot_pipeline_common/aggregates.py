"""Wire models of the time-series reads: ``GET /query`` with ``interval``, ``GET /devices``.

An aggregate query names a device, a range (required), an ``interval`` whose UTC-aligned
buckets split the range, the sensor ``fields`` and the ``stats`` wanted. A bucket's statistics
equal the same statistics computed over the device's processed readings in the bucket.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from iot_pipeline_common import keys, limits
from iot_pipeline_common.fields import Identifier, SensorName, StoredNumber
from iot_pipeline_common.models import ProcessedItem, _Reply, _Request, _TimeRange

Interval = Literal["1m", "5m", "15m", "1h", "6h", "1d"]
"""A bucket length; buckets start at UTC multiples of it (``1d`` buckets are UTC days)."""
Stat = Literal["count", "min", "max", "avg", "sum"]
"""A statistic of one field over a bucket."""

_QueryInt = Annotated[int, Field(ge=limits.TIMESTAMP_MIN_MS, le=limits.TIMESTAMP_MAX_MS)]
_Limit = Annotated[int, Field(ge=limits.QUERY_LIMIT_MIN, le=limits.QUERY_LIMIT_MAX)]
_Token = Annotated[str, StringConstraints(max_length=limits.NEXT_TOKEN_MAX_LENGTH)]


def _comma_list(value: object) -> object:
    # A query string carries ``fields=temperature,humidity``; a Python caller may pass a list.
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(","))
    return value


def bucket_count(start: int, end: int, interval_ms: int) -> int:
    """How many UTC-aligned buckets of ``interval_ms`` the inclusive range touches."""
    return end // interval_ms - start // interval_ms + 1


class AggregateParams(_TimeRange):
    """Query string of ``GET /query`` with ``interval``. Numbers arrive as strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: Identifier
    start: _QueryInt | None = None
    end: _QueryInt | None = None
    table: str = "processed"
    interval: Interval
    fields: tuple[SensorName, ...] | None = Field(default=None, min_length=1, max_length=50)
    stats: tuple[Stat, ...] = Field(default=limits.AGGREGATE_STATS, min_length=1)
    limit: _Limit = limits.QUERY_LIMIT_DEFAULT
    order: Literal["asc", "desc"] = "asc"
    next_token: _Token | None = None

    _split = field_validator("fields", "stats", mode="before")(_comma_list)

    @field_validator("table")
    @classmethod
    def _processed_only(cls, value: str) -> str:
        if value != "processed":
            raise PydanticCustomError(
                "aggregate_table",
                "aggregates are computed over the processed table only; drop table={value} "
                "or drop interval",
                {"value": value},
            )
        return value

    @model_validator(mode="after")
    def _bounded_range(self) -> AggregateParams:
        if self.event_date is None and (self.start is None or self.end is None):
            raise PydanticCustomError(
                "range_required",
                "an aggregate needs a range: event_date, or both start and end",
                {"field": "start"},
            )
        start, end = self.time_range()
        buckets = bucket_count(start, end, limits.INTERVAL_MS[self.interval])
        if buckets > limits.AGGREGATE_MAX_BUCKETS:
            raise PydanticCustomError(
                "bucket_limit",
                "the range spans {buckets} buckets of {interval}; at most {max} are allowed: "
                "use a longer interval or a shorter range",
                {
                    "field": "interval",
                    "buckets": buckets,
                    "interval": self.interval,
                    "max": limits.AGGREGATE_MAX_BUCKETS,
                },
            )
        return self

    def time_range(self) -> tuple[int, int]:
        """The inclusive (start, end) epoch ms of the query."""
        return keys.resolve_range(event_date=self.event_date, start=self.start, end=self.end)


class FieldAggregate(_Reply):
    """The requested statistics of one field in one bucket (absent ones were not asked)."""

    count: int | None = None
    min: StoredNumber | None = None
    max: StoredNumber | None = None
    avg: float | None = None
    sum: float | None = None


class Bucket(_Reply):
    """One non-empty bucket: ``[start, end]`` inclusive, ``count`` readings in it."""

    device_id: str
    start: int
    end: int
    count: int
    stats: dict[str, FieldAggregate]


class AggregateResponse(_Reply):
    """One page of buckets; follow ``next_token`` until it is ``None``."""

    count: int
    items: list[Bucket]
    next_token: str | None = None


class Device(_Reply):
    """A device: its oldest and newest reading's timestamps, distinct readings, latest item."""

    device_id: str
    first_seen: int
    last_seen: int
    readings: int
    latest: ProcessedItem | None = None


class DevicesParams(_Request):
    """Query string of ``GET /devices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: Annotated[
        str,
        StringConstraints(max_length=limits.ID_MAX_LENGTH, pattern=r"^[A-Za-z0-9._:-]*$"),
    ] = ""
    limit: _Limit = limits.QUERY_LIMIT_DEFAULT
    next_token: _Token | None = None


class DevicesResponse(_Reply):
    """One page of devices in ``device_id`` order."""

    count: int
    items: list[Device]
    next_token: str | None = None
