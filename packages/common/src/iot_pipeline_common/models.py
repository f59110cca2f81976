"""Pydantic models of the wire contract (``docs/contract.md``).

Requests are strict: unknown keys are rejected, numbers must be real JSON numbers
(no strings, booleans, NaN or Infinity), identifiers follow one pattern. Responses and
stored items are the shapes clients read back.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from iot_pipeline_common import limits
from iot_pipeline_common.fields import (
    DeviceTimestamp,
    EpochMillis,
    EventDate,
    Identifier,
    SensorName,
    SensorValue,
    Seq,
    StoredNumber,
    check_sensor_data,
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reading(_Request):
    """One sensor reading as a device sends it (``POST /ingest``)."""

    device_id: Identifier
    sensor_data: dict[SensorName, SensorValue] = Field(
        # The validator enforces these with messages naming the sensor; the schema states
        # them too, so generated clients, API Gateway's request validator and schema-driven
        # tests see the same rules.
        json_schema_extra={
            "additionalProperties": False,
            "minProperties": limits.SENSOR_FIELDS_MIN,
            "maxProperties": limits.SENSOR_FIELDS_MAX,
            "properties": {
                name: {"type": "number", "minimum": low, "maximum": high}
                for name, (low, high) in limits.KNOWN_SENSOR_RANGES.items()
            },
        }
    )
    timestamp: DeviceTimestamp | None = None
    reading_id: Identifier | None = None
    seq: Seq | None = None

    _check_sensor_data = field_validator("sensor_data")(check_sensor_data)


class BatchIngestRequest(_Request):
    """``{"readings": [...]}``: 1–500 readings, validated all-or-nothing."""

    readings: list[Reading] = Field(
        min_length=limits.BATCH_MIN_READINGS, max_length=limits.BATCH_MAX_READINGS
    )


class IngestResponse(_Reply):
    """``200`` for a single reading."""

    message: str = "Data ingested successfully"
    device_id: str
    timestamp: int
    reading_id: str


class IngestedItem(_Reply):
    """One acknowledged reading of a batch."""

    device_id: str
    timestamp: int
    reading_id: str


class BatchIngestResponse(_Reply):
    """``200`` for a batch: every reading, in request order."""

    message: str = "Data ingested successfully"
    count: int
    items: list[IngestedItem]


class Anomaly(_Reply):
    """Why a processed reading has ``status == "anomaly"``."""

    field: str
    value: StoredNumber
    limit: StoredNumber
    rule: Literal["min", "max"]


class RawItem(_Reply):
    """A raw reading as stored and returned by ``GET /query?table=raw``."""

    device_id: str
    event_date: str
    timestamp: int
    reading_id: str
    sensor_data: dict[str, StoredNumber]
    ingested_at: str
    seq: int | None = None
    expires_at: int | None = None


class ProcessedItem(_Reply):
    """A processed reading as returned by ``GET /query`` (the default table)."""

    device_id: str
    event_date: str
    timestamp: int
    reading_id: str
    temperature: StoredNumber | None = None
    temperature_celsius: float | None = None
    temperature_fahrenheit: float | None = None
    humidity: StoredNumber | None = None
    pressure: StoredNumber | None = None
    processed_at: str
    status: Literal["processed", "anomaly"]
    anomalies: list[Anomaly] | None = None
    sensor_data: dict[str, StoredNumber] | None = None
    seq: int | None = None
    ingested_at: str | None = None
    expires_at: int | None = None


ItemT = TypeVar("ItemT", RawItem, ProcessedItem)


class QueryResponse(_Reply, Generic[ItemT]):
    """One page of ``GET /query``; follow ``next_token`` until it is ``None``."""

    count: int
    items: list[ItemT]
    next_token: str | None = None


class _TimeRange(_Request):
    """``event_date`` *or* ``start``/``end`` (epoch ms, inclusive); neither means all time."""

    event_date: EventDate | None = None
    start: EpochMillis | None = None
    end: EpochMillis | None = None

    @field_validator("event_date")
    @classmethod
    def _real_day(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise PydanticCustomError(
                    "event_date", "{value} is not a calendar date (YYYY-MM-DD)", {"value": value}
                ) from None
        return value

    @model_validator(mode="after")
    def _one_kind_of_range(self) -> _TimeRange:
        if self.event_date is not None and (self.start is not None or self.end is not None):
            raise PydanticCustomError(
                "range_conflict", "give event_date or start/end, not both", {"field": "event_date"}
            )
        if self.start is not None and self.end is not None and self.start > self.end:
            raise PydanticCustomError(
                "range_order", "start must not be after end", {"field": "start"}
            )
        return self


class QueryParams(_TimeRange):
    """Query string of ``GET /query``. Numbers arrive as strings and are parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: Identifier
    start: Annotated[int, Field(ge=limits.TIMESTAMP_MIN_MS, le=limits.TIMESTAMP_MAX_MS)] | None = (
        None
    )
    end: Annotated[int, Field(ge=limits.TIMESTAMP_MIN_MS, le=limits.TIMESTAMP_MAX_MS)] | None = None
    table: Literal["processed", "raw"] = "processed"
    limit: Annotated[int, Field(ge=limits.QUERY_LIMIT_MIN, le=limits.QUERY_LIMIT_MAX)] = (
        limits.QUERY_LIMIT_DEFAULT
    )
    order: Literal["asc", "desc"] = "asc"
    next_token: (
        Annotated[str, StringConstraints(max_length=limits.NEXT_TOKEN_MAX_LENGTH)] | None
    ) = None


class ProcessRequest(_TimeRange):
    """``POST /process``: replay a device's raw readings in a day or a time range.

    One call replays at most ``limits.PROCESS_MAX_READINGS`` readings; pass the answer's
    ``next_token`` back (with the same device and range) to continue.
    """

    device_id: Identifier
    next_token: (
        Annotated[str, StringConstraints(max_length=limits.NEXT_TOKEN_MAX_LENGTH)] | None
    ) = None


class ProcessResponse(_Reply):
    """``202`` of ``POST /process``: readings queued by this call, and where to continue."""

    queued: int
    #: ``None`` once the whole range is queued; otherwise send it back to continue.
    next_token: str | None = None


class ErrorDetail(BaseModel):
    """One problem with a request; ``field`` is a path like ``readings[3].sensor_data.x``."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"message", "error", "details"}``."""

    model_config = ConfigDict(frozen=True)

    message: str
    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


class SensorRange(_Request):
    """Anomaly bounds of one sensor; a value outside flags the reading, it is still stored."""

    min: StrictInt | StrictFloat | None = None
    max: StrictInt | StrictFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SensorRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("range_order", "min must not exceed max", {"field": "min"})
        return self


class AlertRule(_Request):
    """Publish an alert when ``field`` goes above ``above`` or below ``below``."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    field: SensorName
    above: StrictInt | StrictFloat | None = None
    below: StrictInt | StrictFloat | None = None

    @model_validator(mode="after")
    def _has_threshold(self) -> AlertRule:
        if self.above is None and self.below is None:
            raise PydanticCustomError(
                "alert_rule", "an alert rule needs 'above' or 'below'", {"field": "above"}
            )
        return self


def _default_ranges() -> dict[str, SensorRange]:
    return {
        "temperature": SensorRange(min=-20, max=50),
        "humidity": SensorRange(min=10, max=90),
        "pressure": SensorRange(min=900, max=1080),
    }


class PipelineConfig(_Request):
    """The pipeline's runtime config: SSM ``/iot-pipeline/{env}/config`` or ``config.json``.

    Unknown keys are rejected so a typo never silently falls back to a default.
    """

    batch_size: Annotated[StrictInt, Field(ge=1, le=10_000)] = 10
    batching_window_seconds: Annotated[StrictInt, Field(ge=0, le=300)] = 0
    processing_timeout: Annotated[StrictInt, Field(ge=1, le=900)] = 30
    #: Five, as Lambda advises for SQS sources: a receive also counts when the batch was
    #: throttled or its invocation failed for reasons other than the readings.
    max_receive_count: Annotated[StrictInt, Field(ge=1, le=1000)] = 5
    error_threshold: Annotated[StrictInt, Field(ge=1)] = 5
    retention_days: Annotated[StrictInt, Field(ge=1, le=36_500)] | None = None
    ranges: dict[SensorName, SensorRange] = Field(default_factory=_default_ranges)
    alert_rules: list[AlertRule] = Field(default_factory=list)

    @classmethod
    def from_json_text(cls, text: str | bytes) -> PipelineConfig:
        """Parse config JSON; raises :class:`pydantic.ValidationError` naming each bad key."""
        return cls.model_validate_json(text)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of a reply model, without unset optional fields."""
    return model.model_dump(mode="json", exclude_none=True)
